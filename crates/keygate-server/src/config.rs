//! What `keygate serve` needs to know, already validated.

use std::time::Duration;

use keygate_core::net::IpNet;
use keygate_core::{ConfigSecret, Rate};

/// The real WHMCS API that allowed calls are forwarded to.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// Full URL of `includes/api.php`.
    pub url: String,
    /// The master credential's identifier.
    pub identifier: ConfigSecret,
    /// The master credential's secret.
    pub secret: ConfigSecret,
    /// WHMCS API access key, if the install requires one.
    pub accesskey: Option<ConfigSecret>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks one).
    pub listen: String,
    /// Where allowed gateway calls go; `None` answers 503.
    pub upstream: Option<UpstreamConfig>,
    /// Largest request body accepted (bytes); larger gets 413.
    pub max_body_bytes: usize,
    /// How often to check the store's revision for changes made elsewhere.
    pub reload_interval: Duration,
    /// How often batched last-access times are written.
    pub access_flush_interval: Duration,
    /// The database URL with any password hidden, for the startup message.
    pub database_label: String,
    /// Mark the admin session cookie `Secure` (serve behind TLS).
    pub secure_cookies: bool,
    /// Peers whose `X-Forwarded-For` is believed: the client address is
    /// then the right-most forwarded address that is not one of them.
    pub trusted_proxies: Vec<IpNet>,
    /// Per-credential rate limits and failed-authentication throttling.
    pub rate_limit: RateLimitConfig,
    /// How client-scope ownership lookups are cached.
    pub client_scope: ClientScopeConfig,
    /// Serve HTTPS with this certificate; `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// How often the `[tls]` files are re-read to pick up a renewed
    /// certificate (default 10 s; `KEYGATE_TLS_RELOAD_INTERVAL_MS`
    /// overrides it, for tests).
    pub tls_reload_interval: Duration,
    /// Where SIGHUP re-reads the configuration from; `None`: no reload.
    pub reload_source: Option<crate::reload::ConfigSource>,
    /// `[usage]`: counting calls per credential and keeping the counts.
    pub usage: UsageConfig,
}

/// `[usage]`: calls counted per credential, action and hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageConfig {
    /// Count calls (default true; false only to measure what counting
    /// costs).
    pub enabled: bool,
    /// Days hourly counts are kept (default 90, 1 to [`MAX_RETENTION_DAYS`]).
    pub retention_days: u32,
}

/// The longest `[usage] retention_days`.
pub const MAX_RETENTION_DAYS: u32 = 3650;

impl Default for UsageConfig {
    /// Counting on, 90 days kept.
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 90,
        }
    }
}

impl UsageConfig {
    /// Checks the retention's bounds.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_RETENTION_DAYS).contains(&self.retention_days) {
            return Err(format!(
                "usage.retention_days must be between 1 and {MAX_RETENTION_DAYS} days, got {}",
                self.retention_days
            ));
        }
        Ok(())
    }
}

/// `[tls]`: PEM files, re-read when they change (certbot renewals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain, leaf first (PEM).
    pub cert: std::path::PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

/// `[client_scope]`: how ownership lookups are cached.
#[derive(Clone, Debug)]
pub struct ClientScopeConfig {
    /// How long an object's owner is believed (default 60 s; 0: ask every
    /// time).
    pub lookup_ttl: Duration,
    /// Most owners kept at once (default 100,000).
    pub lookup_capacity: usize,
}

impl Default for ClientScopeConfig {
    /// 60 seconds, 100,000 objects.
    fn default() -> Self {
        Self {
            lookup_ttl: Duration::from_secs(60),
            lookup_capacity: 100_000,
        }
    }
}

/// `[rate_limit]`: limits every instance enforces from its snapshot.
#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    /// The limit of credentials without their own; `None`: unlimited.
    pub default: Option<Rate>,
    /// Share the counters of every instance through this Redis; `None`:
    /// each instance limits on its own. A secret: it may hold a password.
    pub redis_url: Option<ConfigSecret>,
    /// Failed authentications a client address may make per minute before
    /// a cool-down of 429s; 0 turns the throttle off.
    pub failed_auth_per_minute: u32,
    /// Prefix of keygate's keys in Redis (tests use their own).
    pub redis_prefix: String,
}

impl Default for RateLimitConfig {
    /// No default limit, local counters, 20 failed authentications a minute.
    fn default() -> Self {
        Self {
            default: None,
            redis_url: None,
            failed_auth_per_minute: 20,
            redis_prefix: "keygate:rl:".into(),
        }
    }
}

impl ServerConfig {
    /// Defaults for everything but the listen address and database label.
    pub fn new(listen: impl Into<String>, database_label: impl Into<String>) -> Self {
        Self {
            listen: listen.into(),
            upstream: None,
            max_body_bytes: 1024 * 1024,
            reload_interval: Duration::from_millis(50),
            access_flush_interval: Duration::from_secs(5),
            database_label: database_label.into(),
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            client_scope: ClientScopeConfig::default(),
            tls: None,
            tls_reload_interval: Duration::from_secs(10),
            reload_source: None,
            usage: UsageConfig::default(),
        }
    }
}
