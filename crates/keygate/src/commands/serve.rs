//! `keygate serve`: logging, server settings, then the server; SIGHUP
//! re-reads the same configuration file and environment.

use std::path::PathBuf;
use std::sync::Arc;

use keygate_core::Catalog;
use keygate_server::config::ServerConfig;
use keygate_server::reload::{ConfigSource, Reloaded};
use keygate_store::Manager;

use crate::config::{self, redact_url, Settings};

/// Where the configuration came from, so SIGHUP can read it again.
pub struct Origin {
    /// `--config` / `KEYGATE_CONFIG`, if given.
    pub file: Option<PathBuf>,
    /// `--database-url` / `KEYGATE_DATABASE_URL`, if given.
    pub database_url: Option<String>,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings, manager: Manager, origin: Origin) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for files and journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = server_config(settings);
    config.reload_source = Some(ConfigSource::new(move || reread(&origin)));
    keygate_server::serve(config, manager).await
}

/// The server settings `settings` describe.
fn server_config(settings: Settings) -> ServerConfig {
    let mut config = ServerConfig::new(&settings.listen, redact_url(&settings.database_url));
    config.upstream = settings.upstream;
    config.secure_cookies = settings.secure_cookies;
    config.trusted_proxies = settings.trusted_proxies;
    config.rate_limit = settings.rate_limit;
    config.client_scope = settings.client_scope;
    config.tls = settings.tls;
    config.usage = settings.usage;
    config
}

/// Reads the configuration again, for a reload.
fn reread(origin: &Origin) -> anyhow::Result<Reloaded> {
    let settings = config::load(origin.file.as_deref(), origin.database_url.clone())?;
    let catalog = Arc::new(Catalog::with_custom(&settings.custom_actions)?);
    Ok(Reloaded {
        config: server_config(settings),
        catalog,
    })
}
