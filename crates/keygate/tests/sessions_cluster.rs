//! Admin UI sessions across a cluster: two `keygate serve` processes on
//! one PostgreSQL database share every session, so a load balancer needs
//! no sticky sessions. A session made by logging in through one instance
//! works through the other (pages, CSRF-checked changes, the new secret
//! shown once on whichever instance the redirect lands), logging out
//! through one ends it on both, and a restarted instance keeps it. Skips,
//! saying so, when no PostgreSQL server is reachable.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{authorize, Server};
use keygate_testkit::scratch::ScratchDatabase;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response};

const ACTION: &str = "GetClients";

/// Starts `keygate serve` on port 0 against `url`.
async fn serve(dir: &Path, url: &str) -> Server {
    let (dir, url) = (dir.to_path_buf(), url.to_string());
    tokio::task::spawn_blocking(move || Server::start(&dir, &url, &[]))
        .await
        .unwrap()
}

/// The value a `Set-Cookie` header gives cookie `name`.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let value = text.strip_prefix(name)?.strip_prefix('=')?;
        Some(value.split(';').next().unwrap_or_default().to_string())
    })
}

/// The text of the first element after `marker` in `html`, up to `<`.
fn after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    Some(html[start..].split(['<', '"']).next()?.to_string())
}

/// A browser without redirects holding one session cookie.
struct Browser {
    client: Client,
    session: String,
}

impl Browser {
    /// Logs in as alice through `server`.
    async fn login(server: &Server) -> Self {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = client.get(server.url("/admin/login")).send().await.unwrap();
        let token = set_cookie(&form, "keygate_login").expect("login form cookie");
        let login = client
            .post(server.url("/admin/login"))
            .header(COOKIE, format!("keygate_login={token}"))
            .form(&[
                ("username", "alice"),
                ("password", "password1"),
                ("csrf", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 303, "login refused");
        let session = set_cookie(&login, "keygate_session").expect("session cookie");
        Self { client, session }
    }

    async fn get(&self, server: &Server, path: &str) -> Response {
        self.client
            .get(server.url(path))
            .header(COOKIE, format!("keygate_session={}", self.session))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, server: &Server, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(server.url(path))
            .header(COOKIE, format!("keygate_session={}", self.session))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// The page's body, asserting a 200.
    async fn page(&self, server: &Server, path: &str) -> String {
        let response = self.get(server, path).await;
        assert_eq!(
            response.status().as_u16(),
            200,
            "GET {path} on {}",
            server.base
        );
        response.text().await.unwrap()
    }
}

/// The id of role `name`, read from the database.
async fn role_id(url: &str, name: &str) -> String {
    let store = keygate_store::open(url).await.unwrap();
    let catalog = Arc::new(keygate_core::Catalog::builtin());
    let manager = keygate_store::Manager::new(store, catalog);
    manager.role(name).await.unwrap().id.0.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_works_on_every_instance_and_outlives_restarts() {
    let Some(db) = ScratchDatabase::create_or_skip().await else {
        return;
    };
    let url = db.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let add = ["admin", "add", "alice", "--password-stdin"];
    let out = common::run_cli_async(dir.path(), &url, &add, Some("password1\n")).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let create = ["role", "create", "Support", "--allow", ACTION];
    let out = common::run_cli_async(dir.path(), &url, &create, None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let support = role_id(&url, "Support").await;
    let a = serve(dir.path(), &url).await;
    let mut b = serve(dir.path(), &url).await;

    // Logged in through A, the same cookie lists credentials through B,
    // with the same CSRF token.
    let browser = Browser::login(&a).await;
    let listed = browser
        .page(&b, "/admin/api-credentials?tab=credentials")
        .await;
    assert!(listed.contains("alice"), "B knows the session");
    let csrf = after(&listed, r#"name="csrf" value=""#).expect("a CSRF field");
    let on_a = browser.page(&a, "/admin/admins").await;
    assert_eq!(after(&on_a, r#"name="csrf" value=""#), Some(csrf.clone()));

    // Generate through B; the new secret is shown once, on A.
    let fields = [
        ("csrf", csrf.as_str()),
        ("admin", "alice"),
        ("roles", support.as_str()),
    ];
    let generated = browser
        .post(&b, "/admin/api-credentials/credentials/new", &fields)
        .await;
    assert_eq!(generated.status().as_u16(), 303, "generate through B");
    let created = generated.headers()[LOCATION].to_str().unwrap().to_string();
    let shown = browser.page(&a, &created).await;
    let identifier = after(&shown, r#"id="new-identifier" class="secret-value">"#).unwrap();
    let secret = after(&shown, r#"id="new-secret" class="secret-value">"#).unwrap();
    assert_eq!(secret.len(), 32, "{secret:?}");
    let again = browser.get(&b, &created).await;
    assert_eq!(again.status().as_u16(), 303, "shown once, on any instance");
    let client = Client::new();
    let works = common::wait_until(Duration::from_secs(10), || async {
        authorize(&client, &a, &identifier, &secret, ACTION).await.0 == 200
    })
    .await;
    assert!(works.is_some(), "the secret shown works");

    // A restarted instance keeps the session.
    b.terminate();
    b = serve(dir.path(), &url).await;
    browser.page(&b, "/admin/admins").await;

    // A CSRF-checked change without the token is refused on either.
    let refused = browser
        .post(&a, "/admin/api-credentials/roles/new", &[("name", "X")])
        .await;
    assert_eq!(refused.status().as_u16(), 403);

    // Logging out through A ends the session on B too.
    let out = browser
        .post(&a, "/admin/logout", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(out.status().as_u16(), 303);
    let ended = browser.get(&b, "/admin/admins").await;
    assert_eq!(ended.status().as_u16(), 303, "B refuses the cookie");
    let location = ended.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with("/admin/login"), "{location}");
    drop(a);
}
