//! keygate's HTTP server: the WHMCS-compatible gateway, the `/v1/authorize`
//! sidecar API, health and metrics, all answered from an in-memory snapshot
//! that a background task keeps current.

mod access;
pub mod api;
mod calls;
mod client_ip;
pub mod config;
pub(crate) mod header_value;
pub mod limits;
mod listener;
pub mod live;
pub mod metrics;
pub mod params;
pub mod ratelimit;
pub mod reload;
mod response;
pub mod scope;
mod sidecar;
mod tls;
pub mod ui;
mod upstream;
pub mod usage;
mod whmcs;

use std::sync::Arc;

use anyhow::Context;
use arc_swap::{ArcSwap, ArcSwapOption};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use keygate_store::Manager;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::access::AccessRecorder;
use crate::config::ServerConfig;
use crate::live::LiveSnapshot;
use crate::metrics::Metrics;
use crate::upstream::Upstream;

/// What every handler shares: one `Arc`, so cloning it per request (axum
/// does) is one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<AppShared>);

impl std::ops::Deref for AppState {
    type Target = AppShared;

    fn deref(&self) -> &AppShared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct AppShared {
    /// The snapshot in force.
    pub live: Arc<LiveSnapshot>,
    /// Management operations (admin UI).
    pub manager: Manager,
    /// Where allowed gateway calls go; a configuration reload swaps it.
    upstream: ArcSwapOption<Upstream>,
    /// Last-access batching.
    access: AccessRecorder,
    /// Calls counted per credential, action, hour and outcome.
    usage: Arc<usage::UsageCounter>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Server settings; a configuration reload swaps them.
    config: ArcSwap<ServerConfig>,
    /// Admin UI sessions and login throttling.
    pub ui: Arc<ui::UiState>,
    /// Rate limits and failed-authentication throttling.
    pub limits: limits::Limits,
    /// Owners of objects client-scoped calls named, briefly cached.
    pub owners: scope::OwnerCache,
}

impl AppShared {
    /// The server settings in force.
    pub fn config(&self) -> arc_swap::Guard<Arc<ServerConfig>> {
        self.config.load()
    }

    /// The upstream in force, if one is configured.
    fn upstream(&self) -> Option<Arc<Upstream>> {
        self.upstream.load_full()
    }
}

/// A ready server: its router plus the background tasks that keep the
/// snapshot current and flush last-access times.
pub struct App {
    state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl App {
    /// Loads the first snapshot and starts the background tasks.
    pub async fn start(config: ServerConfig, manager: Manager) -> anyhow::Result<Self> {
        let live = LiveSnapshot::load_from(manager.store().clone(), manager.catalog().clone())
            .await
            .context("cannot load credentials")?;
        let live = Arc::new(live);
        let hook_live = live.clone();
        manager.set_change_hook(Arc::new(move || {
            let live = hook_live.clone();
            Box::pin(async move {
                live.refresh().await;
            })
        }));
        let upstream = upstream::build(config.upstream.as_ref())?;
        config.usage.validate().map_err(anyhow::Error::msg)?;
        let usage = Arc::new(usage::UsageCounter::new(config.usage.enabled));
        let (access, access_rx) = AccessRecorder::new();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(ui::prune_sessions_loop(
                manager.clone(),
                shutdown_rx.clone(),
            )),
            tokio::spawn(live::reload_loop(
                live.clone(),
                config.reload_interval,
                shutdown_rx.clone(),
            )),
            tokio::spawn(access::flush_loop(
                manager.clone(),
                access_rx,
                usage::UsageFlusher::new(usage.clone(), &config.usage),
                config.access_flush_interval,
                shutdown_rx,
            )),
        ];
        let metrics = Arc::new(Metrics::new(&manager.catalog()));
        let limits = limits::Limits::new(&config.rate_limit)?;
        let owners = scope::OwnerCache::new(config.client_scope.clone());
        let ui = Arc::new(ui::UiState::new(manager.clone()));
        let state = AppState(Arc::new(AppShared {
            live,
            manager,
            upstream: ArcSwapOption::new(upstream),
            access,
            usage,
            metrics,
            config: ArcSwap::from_pointee(config),
            ui,
            limits,
            owners,
        }));
        Ok(Self {
            state,
            shutdown,
            tasks,
        })
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Every route.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/includes/api.php", get(whmcs::handle).post(whmcs::handle))
            .route("/v1/authorize", post(sidecar::authorize))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics))
            .nest(api::PREFIX, api::router())
            // `nest` leaves the prefix with a trailing slash to the outer router.
            .route("/api/v1/", axum::routing::any(api::not_found))
            .merge(ui::router().layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                ui::with_navigation,
            )))
            .layer(DefaultBodyLimit::max(self.state.config().max_body_bytes))
            .with_state(self.state.clone())
    }

    /// Serves every route over plain HTTP on `listener` until `shutdown`
    /// completes, then lets the requests in progress finish: the gateway
    /// and `/v1/authorize` in keygate's own HTTP/1.1 loop, everything else
    /// through hyper (see `listener`).
    pub fn serve_http(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        listener::serve(listener, self.state.clone(), self.router(), shutdown)
    }

    /// Stops the background tasks, flushing pending last-access times and
    /// usage counts.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn healthz(State(state): State<AppState>) -> &'static str {
    if state.live.degraded() {
        "ok (degraded: database unreachable, serving the last snapshot)"
    } else {
        "ok"
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state
        .metrics
        .render(&state.live.load(), state.live.degraded());
    body.push_str(
        "# HELP keygate_ratelimit_degraded 1 while shared rate limits are answered locally (Redis unreachable).\n\
         # TYPE keygate_ratelimit_degraded gauge\n",
    );
    body.push_str(&format!(
        "keygate_ratelimit_degraded {}\n",
        u8::from(state.limits.degraded())
    ));
    body.push_str(&state.live.render_metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Runs the server on `config.listen` until SIGTERM or Ctrl-C, then lets
/// in-flight requests finish and flushes last-access times. With
/// `config.tls` it serves HTTPS (re-reading renewed certificate files) and
/// marks the admin session cookie `Secure`.
pub async fn serve(mut config: ServerConfig, manager: Manager) -> anyhow::Result<()> {
    // The certificate first: a bad file stops keygate before it listens.
    let tls = config.tls.as_ref().map(tls::Tls::load).transpose()?;
    if tls.is_some() {
        config.secure_cookies = true;
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let no_admins = manager.list_admins().await?.is_empty();
    let app = App::start(config.clone(), manager).await?;
    let _hangups = (config.reload_source.clone())
        .map(|source| reload::spawn_on_sighup(app.state().clone(), source));
    print_banner(&config, address, no_admins);
    match tls {
        Some(tls) => {
            // The peer address lets the admin UI throttle failed logins per
            // client.
            let service = app
                .router()
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            let interval = tls::reload_interval(&config);
            tls::serve(listener, service, tls, interval, shutdown_signal())
                .await
                .context("server failed")?;
        }
        None => {
            app.serve_http(listener, shutdown_signal()).await;
        }
    }
    tracing::info!("shutting down: flushing last access times and usage counts");
    app.shutdown().await;
    Ok(())
}

fn print_banner(config: &ServerConfig, address: std::net::SocketAddr, no_admins: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let _ = writeln!(out, "keygate listening on {scheme}://{address}");
    let _ = writeln!(out, "  gateway:  {scheme}://{address}/includes/api.php");
    let _ = writeln!(out, "  sidecar:  {scheme}://{address}/v1/authorize");
    let _ = writeln!(out, "  admin UI: {scheme}://{address}/admin/");
    let _ = writeln!(
        out,
        "  API:      {scheme}://{address}/api/v1/ (OpenAPI: /api/v1/openapi.json)"
    );
    match &config.tls {
        Some(tls) => {
            let _ = writeln!(
                out,
                "  tls:      {} (key {}; re-read when renewed)",
                tls.cert.display(),
                tls.key.display()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  tls:      off (plain HTTP; set [tls] cert and key in keygate.toml, or terminate TLS in a proxy)"
            );
        }
    }
    let _ = writeln!(out, "  database: {}", config.database_label);
    match &config.upstream {
        Some(upstream) => {
            let _ = writeln!(out, "  upstream: {}", upstream.url);
        }
        None => {
            let _ = writeln!(
                out,
                "  upstream: not configured: allowed gateway calls answer 503 until [upstream] is set in keygate.toml"
            );
        }
    }
    if no_admins {
        let _ = writeln!(
            out,
            "No admin exists yet: create one with `keygate admin add USERNAME`."
        );
    }
    let _ = out.flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
