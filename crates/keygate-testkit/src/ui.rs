//! For the admin UI tests: the app as they start it (admin [`ADMIN`],
//! throttling on), and an in-process client with a cookie jar that drives
//! `App::router()` through `tower::ServiceExt::oneshot`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keygate_server::config::RateLimitConfig;
use tower::ServiceExt;

use crate::app::TestApp;

/// The first admin every test logs in with.
pub const ADMIN: &str = "alice";
/// Its password.
pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// A fresh database with admin [`ADMIN`], and the app on it with the
    /// default rate limits (failed logins throttled), served on port 0.
    pub async fn start_ui(secure_cookies: bool) -> Self {
        TestApp::builder()
            .admin(ADMIN, PASSWORD)
            .secure_cookies(secure_cookies)
            .rate_limit(RateLimitConfig::default())
            .access_flush_interval(Duration::from_millis(100))
            .start()
            .await
    }

    /// An in-process client with an empty cookie jar.
    pub fn ui_client(&self) -> Client {
        Client {
            router: self.app().router(),
            cookies: BTreeMap::new(),
        }
    }
    /// A client logged in as [`ADMIN`], and its CSRF token.
    pub async fn logged_in(&self) -> (Client, String) {
        let mut client = self.ui_client();
        let answer = client.login(ADMIN, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let csrf = client.csrf().await;
        (client, csrf)
    }
}

/// Creates the role `name` allowing `actions` through `manager`; its id.
pub async fn role(manager: &keygate_store::Manager, name: &str, actions: &[&str]) -> i64 {
    let input = keygate_store::RoleInput {
        name: name.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        ..keygate_store::RoleInput::default()
    };
    manager.create_role(input).await.unwrap().id.0
}

/// An answer, body read.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: axum::http::HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Answer {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Location` header.
    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

/// Value of the first `name="csrf" value="…"` in a page.
pub fn csrf_of(page: &str) -> String {
    let start = page
        .find(r#"name="csrf" value=""#)
        .expect("page has a CSRF field")
        + 19;
    page[start..].split('"').next().unwrap().to_string()
}

/// A client that keeps cookies like a browser.
#[derive(Clone)]
pub struct Client {
    router: Router,
    /// Cookie name to value.
    pub cookies: BTreeMap<String, String>,
}

impl Client {
    /// Sends a request with the jar's cookies and updates the jar.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header(header::COOKIE, cookie);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::from(body.unwrap_or_default())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let answer = Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for cookie in answer.set_cookies() {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        answer
    }

    /// GET.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    /// POST of urlencoded `fields`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, path, Some(encode(fields)), &[])
            .await
    }

    /// Logs in through the form; returns the final answer of the POST.
    pub async fn login(&mut self, username: &str, password: &str) -> Answer {
        let page = self.get("/admin/login").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = csrf_of(&page.body);
        self.post(
            "/admin/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// The session's CSRF token, read from a page.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/admin/admins").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        csrf_of(&page.body)
    }
}

/// `fields` as a urlencoded body.
pub fn encode(fields: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        out.append_pair(k, v);
    }
    out.finish()
}
