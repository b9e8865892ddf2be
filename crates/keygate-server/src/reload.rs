//! Configuration reload (SIGHUP, or `systemctl reload keygate`): the
//! upstream, the catalog's custom actions, the trusted proxies and the rate
//! limits change in place, without dropping a connection or a counter.
//! Settings bound when the server started (listen address, database, TLS
//! files, client-scope cache, cookies, body limit, `[usage]`) need a restart; a reload
//! that changes them says so. A new configuration that does not load or
//! validate changes nothing: the old one stays in force and the reason is
//! logged.

use std::sync::Arc;

use anyhow::Context;
use keygate_core::Catalog;
use tokio::task::JoinHandle;

use crate::config::ServerConfig;
use crate::{upstream, AppState};

/// A configuration to put in force: the server settings and the catalog
/// built from the same file.
pub struct Reloaded {
    /// The new server settings.
    pub config: ServerConfig,
    /// The catalog with the new custom actions.
    pub catalog: Arc<Catalog>,
}

/// Where a reload reads its configuration from: the binary re-reads
/// `keygate.toml` and the environment.
#[derive(Clone)]
pub struct ConfigSource(Arc<dyn Fn() -> anyhow::Result<Reloaded> + Send + Sync>);

impl ConfigSource {
    /// A source that calls `load` at every reload.
    pub fn new(load: impl Fn() -> anyhow::Result<Reloaded> + Send + Sync + 'static) -> Self {
        Self(Arc::new(load))
    }

    /// Reads the configuration now.
    pub fn load(&self) -> anyhow::Result<Reloaded> {
        (self.0)()
    }
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigSource(..)")
    }
}

/// What a reload did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Whether the catalog's actions changed (the snapshot was rebuilt).
    pub catalog_changed: bool,
    /// Settings that changed in the file but keep their old value until
    /// a restart.
    pub need_restart: Vec<&'static str>,
}

impl AppState {
    /// Puts `new` in force: everything is checked first, so a failure
    /// changes nothing.
    pub async fn reload(&self, new: Reloaded) -> anyhow::Result<ReloadReport> {
        // An owned copy: the rebuild below awaits.
        let old = self.config.load_full();
        let upstream = upstream::build(new.config.upstream.as_ref())?;
        let rates = self.limits.prepare(&new.config.rate_limit)?;
        let old_catalog = self.manager.catalog();
        let catalog_changed = !same_actions(&old_catalog, &new.catalog);
        if catalog_changed {
            // Counted ids are named with the catalog they came from.
            self.usage.settle(&old_catalog);
            self.live
                .set_catalog(new.catalog.clone())
                .await
                .context("cannot rebuild the credentials with the new catalog")?;
            self.manager.set_catalog(new.catalog.clone());
            self.metrics.reset_changed(&old_catalog, &new.catalog);
        }
        // Owners looked up through another WHMCS are not evidence here.
        self.owners.clear();
        self.upstream.store(upstream);
        self.limits.apply(rates);
        let report = ReloadReport {
            catalog_changed,
            need_restart: need_restart(&old, &new.config),
        };
        self.config.store(Arc::new(ServerConfig {
            upstream: new.config.upstream,
            trusted_proxies: new.config.trusted_proxies,
            rate_limit: new.config.rate_limit,
            ..ServerConfig::clone(&old)
        }));
        Ok(report)
    }
}

/// Whether two catalogs define the same actions in the same places.
fn same_actions(old: &Catalog, new: &Catalog) -> bool {
    old.len() == new.len() && old.actions().zip(new.actions()).all(|(a, b)| a == b)
}

/// The settings of `new` that differ from `old` and are bound at start.
fn need_restart(old: &ServerConfig, new: &ServerConfig) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.listen != new.listen {
        changed.push("listen");
    }
    if old.database_label != new.database_label {
        changed.push("database_url");
    }
    if old.tls != new.tls {
        changed.push("tls");
    }
    if old.secure_cookies != new.secure_cookies {
        changed.push("secure_cookies");
    }
    if old.usage != new.usage {
        changed.push("usage");
    }
    if old.client_scope.lookup_ttl != new.client_scope.lookup_ttl
        || old.client_scope.lookup_capacity != new.client_scope.lookup_capacity
    {
        changed.push("client_scope");
    }
    changed
}

/// Reloads from `source` at every SIGHUP until the process ends.
pub fn spawn_on_sighup(state: AppState, source: ConfigSource) -> JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP: configuration reload is off");
                return;
            };
            while hangups.recv().await.is_some() {
                reload_from(&state, &source).await;
            }
        }
        #[cfg(not(unix))]
        let _ = (state, source);
    })
}

/// One reload, logged either way.
pub async fn reload_from(state: &AppState, source: &ConfigSource) {
    let outcome = match source.load() {
        Ok(new) => state.reload(new).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(report) => {
            tracing::info!(
                catalog_changed = report.catalog_changed,
                "configuration reloaded: upstream, custom actions, trusted proxies and rate limits in force"
            );
            if !report.need_restart.is_empty() {
                tracing::warn!(
                    settings = %report.need_restart.join(", "),
                    "configuration reload: these settings changed but take effect only after a restart"
                );
            }
        }
        Err(e) => {
            tracing::warn!("configuration reload failed, keeping the configuration in force: {e:#}")
        }
    }
}
