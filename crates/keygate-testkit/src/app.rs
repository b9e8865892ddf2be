//! A builder-style test app: a fresh SQLite file per test, the real server
//! on 127.0.0.1:0 (with peer addresses, as `keygate serve`), and a
//! recording stand-in for WHMCS.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use keygate_core::{Catalog, ConfigSecret};
use keygate_server::config::{ClientScopeConfig, RateLimitConfig, ServerConfig, UpstreamConfig};
use keygate_server::App;
use keygate_store::{Manager, RoleInput};

/// What the fake WHMCS received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request's `Content-Type` (or "").
    pub content_type: String,
    /// The urlencoded body, decoded (empty when it was not urlencoded).
    pub form: Vec<(String, String)>,
}

/// How the fake WHMCS answers.
#[derive(Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of the answer.
    pub content_type: &'static str,
    /// Body of the answer.
    pub body: &'static str,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Default for Reply {
    fn default() -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: r#"{"result":"success"}"#,
            delay: Duration::ZERO,
        }
    }
}

/// A local HTTP server standing in for WHMCS, recording every call.
pub struct FakeWhmcs {
    /// Its API URL (`http://127.0.0.1:PORT/includes/api.php`).
    pub url: String,
    /// Every call received, oldest first.
    pub received: Arc<Mutex<Vec<Recorded>>>,
    reply: Arc<Mutex<Reply>>,
}

#[derive(Clone)]
struct FakeState {
    received: Arc<Mutex<Vec<Recorded>>>,
    reply: Arc<Mutex<Reply>>,
}

async fn fake_api(
    State(state): State<FakeState>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let form = form_pairs(&body);
    state
        .received
        .lock()
        .unwrap()
        .push(Recorded { content_type, form });
    let reply = state.reply.lock().unwrap().clone();
    tokio::time::sleep(reply.delay).await;
    (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", reply.content_type)],
        reply.body,
    )
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

impl FakeWhmcs {
    /// Starts on 127.0.0.1:0.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new(Reply::default()));
        let state = FakeState {
            received: received.clone(),
            reply: reply.clone(),
        };
        let router = axum::Router::new()
            .route("/includes/api.php", axum::routing::post(fake_api))
            .with_state(state);
        let addr = serve(router).await;
        Self {
            url: format!("http://{addr}/includes/api.php"),
            received,
            reply,
        }
    }

    /// Changes how it answers.
    pub fn reply_with(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// The last call received.
    pub fn last(&self) -> Recorded {
        self.received
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no upstream call")
    }

    /// How many calls were received.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Serves `app` as `keygate serve` does over plain HTTP: the hot routes in
/// keygate's own HTTP/1.1 loop, the rest through hyper, with the peer's
/// address, which allowlists, trusted proxies and throttling read.
async fn serve_app(app: &App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(app.serve_http(listener, std::future::pending()));
    addr
}

/// Builder for [`TestApp`].
#[derive(Default)]
pub struct TestAppBuilder {
    upstream: Option<String>,
    accesskey: Option<String>,
    timeout: Option<Duration>,
    max_body: Option<usize>,
    trusted_proxies: Vec<String>,
    rate_limit: Option<RateLimitConfig>,
    client_scope: Option<ClientScopeConfig>,
    catalog: Option<Catalog>,
    admin: Option<(String, String)>,
    secure_cookies: bool,
    access_flush_interval: Option<Duration>,
}

impl TestAppBuilder {
    /// Forward to this upstream URL.
    pub fn upstream(mut self, url: &str) -> Self {
        self.upstream = Some(url.into());
        self
    }

    /// Send this access key upstream.
    pub fn accesskey(mut self, key: &str) -> Self {
        self.accesskey = Some(key.into());
        self
    }

    /// Upstream timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Believe `X-Forwarded-For` from these networks.
    pub fn trusted_proxies(mut self, networks: &[&str]) -> Self {
        self.trusted_proxies = networks.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Rate limits and failed-authentication throttling (by default
    /// throttling is off: tests fail authentication on purpose).
    pub fn rate_limit(mut self, config: RateLimitConfig) -> Self {
        self.rate_limit = Some(config);
        self
    }

    /// How client-scope ownership lookups are cached.
    pub fn client_scope(mut self, config: ClientScopeConfig) -> Self {
        self.client_scope = Some(config);
        self
    }

    /// Use this catalog (e.g. with custom actions) instead of the built-in one.
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Request body limit.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = Some(bytes);
        self
    }

    /// Adds this admin before the server starts.
    pub fn admin(mut self, username: &str, password: &str) -> Self {
        self.admin = Some((username.into(), password.into()));
        self
    }

    /// Marks the UI's cookies `Secure` (as behind HTTPS).
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// How often last access is flushed to the database (default 200 ms).
    pub fn access_flush_interval(mut self, interval: Duration) -> Self {
        self.access_flush_interval = Some(interval);
        self
    }

    /// Opens a fresh database and starts the server on port 0.
    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", dir.path().join("keygate.db").display());
        let store = keygate_store::open(&db_url).await.unwrap();
        let catalog = self.catalog.unwrap_or_else(Catalog::builtin);
        let manager = Manager::new(store, Arc::new(catalog));
        if let Some((username, password)) = &self.admin {
            manager.add_admin(username, password).await.unwrap();
        }
        let mut config = ServerConfig::new("127.0.0.1:0", &db_url);
        config.access_flush_interval = self
            .access_flush_interval
            .unwrap_or(Duration::from_millis(200));
        config.secure_cookies = self.secure_cookies;
        if let Some(client_scope) = self.client_scope {
            config.client_scope = client_scope;
        }
        if let Some(bytes) = self.max_body {
            config.max_body_bytes = bytes;
        }
        config.trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        // Off unless a test asks: tests fail authentication on purpose.
        config.rate_limit = self.rate_limit.unwrap_or(RateLimitConfig {
            failed_auth_per_minute: 0,
            ..RateLimitConfig::default()
        });
        config.upstream = self.upstream.map(|url| UpstreamConfig {
            url,
            identifier: ConfigSecret::new("MASTER-ID"),
            secret: ConfigSecret::new("MASTER-SECRET"),
            accesskey: self.accesskey.map(ConfigSecret::new),
            timeout: self.timeout.unwrap_or(Duration::from_secs(5)),
        });
        let app = App::start(config, manager.clone()).await.unwrap();
        let addr = serve_app(&app).await;
        TestApp {
            base: format!("http://{addr}"),
            manager,
            client: reqwest::Client::new(),
            db_url,
            app: Some(app),
            _dir: dir,
        }
    }
}

/// A running server with its database.
pub struct TestApp {
    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// Management operations on the same database.
    pub manager: Manager,
    /// An HTTP client for the server.
    pub client: reqwest::Client,
    /// The database URL.
    pub db_url: String,
    app: Option<App>,
    _dir: tempfile::TempDir,
}

/// A simple HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` (or "").
    pub content_type: String,
    /// Body as text.
    pub body: String,
}

impl TestApp {
    /// Starts building.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// The app (router and state); panics after [`TestApp::shutdown`].
    pub fn app(&self) -> &App {
        self.app.as_ref().expect("the app was shut down")
    }

    /// Stops the app's background tasks ([`App::shutdown`]), flushing
    /// pending last-access times; the database stays.
    pub async fn shutdown(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An admin `alice`, a role `Tickets` (OpenTicket, GetTickets,
    /// GetClientsDetails) and a credential holding it; returns (identifier,
    /// secret).
    pub async fn seed(&self) -> (String, String) {
        self.manager.add_admin("alice", "password1").await.unwrap();
        let role = RoleInput {
            name: "Tickets".into(),
            actions: vec![
                "OpenTicket".into(),
                "GetTickets".into(),
                "GetClientsDetails".into(),
            ],
            ..RoleInput::default()
        };
        self.manager.create_role(role).await.unwrap();
        let (credential, secret) = self
            .manager
            .generate_credential("alice", "test", &["Tickets".into()], Default::default())
            .await
            .unwrap();
        (credential.identifier, secret.expose().to_string())
    }

    /// POSTs a urlencoded form to the gateway.
    pub async fn gateway_form(&self, form: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(self.url("/includes/api.php"))
            .form(form)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// GETs the gateway with a query.
    pub async fn gateway_get(&self, query: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .get(self.url("/includes/api.php"))
            .query(query)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// POSTs JSON to `/v1/authorize`.
    pub async fn authorize(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url("/v1/authorize"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// Reads status, content type and body.
pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Answer {
        status,
        content_type,
        body: response.text().await.unwrap(),
    }
}
