//! `keygate serve`: logging, server settings, then the server.

use keygate_server::config::ServerConfig;
use keygate_store::Manager;

use crate::config::{redact_url, Settings};

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings, manager: Manager) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for files and journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = ServerConfig::new(&settings.listen, redact_url(&settings.database_url));
    config.upstream = settings.upstream;
    config.secure_cookies = settings.secure_cookies;
    config.trusted_proxies = settings.trusted_proxies;
    config.rate_limit = settings.rate_limit;
    config.client_scope = settings.client_scope;
    config.tls = settings.tls;
    keygate_server::serve(config, manager).await
}
