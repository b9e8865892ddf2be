//! Shared by the admin UI tests: a fresh app over a temporary SQLite file,
//! and an in-process client with a cookie jar that drives `App::router()`
//! through `tower::ServiceExt::oneshot`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keygate_core::Catalog;
use keygate_server::config::ServerConfig;
use keygate_server::App;
use keygate_store::Manager;
use tower::ServiceExt;

/// The first admin every test logs in with.
pub const ADMIN: &str = "alice";
/// Its password.
pub const PASSWORD: &str = "correct horse battery";

/// A started app with its database.
pub struct TestApp {
    /// The app (router and state).
    pub app: App,
    /// Management operations on the same database.
    pub manager: Manager,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// A fresh database with admin `alice`, and the app on it.
    pub async fn start(secure_cookies: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keygate.db").display());
        let store = keygate_store::open(&url).await.unwrap();
        let manager = Manager::new(store, Arc::new(Catalog::builtin()));
        manager.add_admin(ADMIN, PASSWORD).await.unwrap();
        let mut config = ServerConfig::new("127.0.0.1:0", &url);
        config.secure_cookies = secure_cookies;
        config.access_flush_interval = std::time::Duration::from_millis(100);
        let app = App::start(config, manager.clone()).await.unwrap();
        Self {
            app,
            manager,
            _dir: dir,
        }
    }

    /// Serves the app on a fresh port of 127.0.0.1; returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = self.app.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{address}")
    }

    /// An in-process client with an empty cookie jar.
    pub fn client(&self) -> Client {
        Client {
            router: self.app.router(),
            cookies: BTreeMap::new(),
        }
    }
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
