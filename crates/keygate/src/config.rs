//! `keygate.toml` plus environment overrides (DESIGN.md "Configuration").
//! Precedence: command-line flag, then environment, then file, then default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use keygate_core::net::IpNet;
use keygate_core::{ConfigSecret, CustomAction};
use keygate_server::config::{
    ClientScopeConfig, RateLimitConfig, TlsConfig, UpstreamConfig, UsageConfig,
};
use serde::Deserialize;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default config file, read when present.
const DEFAULT_CONFIG_FILE: &str = "keygate.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    #[serde(default)]
    secure_cookies: bool,
    upstream: Option<FileUpstream>,
    #[serde(default)]
    catalog: FileCatalog,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    rate_limit: FileRateLimit,
    #[serde(default)]
    client_scope: FileClientScope,
    tls: Option<FileTls>,
    #[serde(default)]
    usage: FileUsage,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUsage {
    enabled: Option<bool>,
    retention_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClientScope {
    lookup_cache_secs: Option<u64>,
    lookup_cache_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimit {
    default: Option<String>,
    redis_url: Option<ConfigSecret>,
    failed_auth_per_minute: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUpstream {
    url: Option<String>,
    identifier: Option<ConfigSecret>,
    secret: Option<ConfigSecret>,
    accesskey: Option<ConfigSecret>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCatalog {
    #[serde(default)]
    custom: Vec<CustomAction>,
}

/// Everything the commands need from configuration.
#[derive(Debug)]
pub struct Settings {
    /// Database URL.
    pub database_url: String,
    /// Listen address for `serve`.
    pub listen: String,
    /// Mark the session cookie Secure (always with `[tls]`).
    pub secure_cookies: bool,
    /// Upstream WHMCS, if configured.
    pub upstream: Option<UpstreamConfig>,
    /// Custom catalog actions.
    pub custom_actions: Vec<CustomAction>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `[rate_limit]`.
    pub rate_limit: RateLimitConfig,
    /// `[client_scope]`.
    pub client_scope: ClientScopeConfig,
    /// `[tls]`: serve HTTPS.
    pub tls: Option<TlsConfig>,
    /// `[usage]`.
    pub usage: UsageConfig,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn read_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path: PathBuf = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => DEFAULT_CONFIG_FILE.into(),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("invalid config file {}: {}", path.display(), e.message()))
}

/// Loads settings; `database_url` is the flag/env value clap already read.
pub fn load(config: Option<&Path>, database_url: Option<String>) -> anyhow::Result<Settings> {
    let file = read_file(config)?;
    let upstream = upstream(file.upstream.unwrap_or_default())?;
    Ok(Settings {
        database_url: database_url
            .or(file.database_url)
            .unwrap_or_else(|| keygate_store::DEFAULT_DATABASE_URL.into()),
        listen: env("KEYGATE_LISTEN")
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into()),
        // HTTPS served by keygate itself: the session cookie is always Secure.
        secure_cookies: file.secure_cookies || file.tls.is_some(),
        upstream,
        custom_actions: file.catalog.custom,
        trusted_proxies: trusted_proxies(file.trusted_proxies)?,
        rate_limit: rate_limit(file.rate_limit)?,
        client_scope: client_scope(file.client_scope),
        tls: file.tls.map(|tls| TlsConfig {
            cert: tls.cert,
            key: tls.key,
        }),
        usage: usage(file.usage)?,
    })
}

/// `[usage]` (env `KEYGATE_USAGE_ENABLED`, `KEYGATE_USAGE_RETENTION_DAYS`):
/// whether calls are counted per credential (default true) and how many
/// days the hourly counts are kept (default 90, 1 to 3650).
fn usage(file: FileUsage) -> anyhow::Result<UsageConfig> {
    let defaults = UsageConfig::default();
    let enabled = match env("KEYGATE_USAGE_ENABLED") {
        Some(text) => parse_bool(&text).with_context(|| {
            format!("invalid KEYGATE_USAGE_ENABLED {text:?}: expected true or false")
        })?,
        None => file.enabled.unwrap_or(defaults.enabled),
    };
    let retention_days = match env("KEYGATE_USAGE_RETENTION_DAYS") {
        Some(text) => text.trim().parse().with_context(|| {
            format!(
                "invalid KEYGATE_USAGE_RETENTION_DAYS {text:?}: expected a whole number of days"
            )
        })?,
        None => file.retention_days.unwrap_or(defaults.retention_days),
    };
    let usage = UsageConfig {
        enabled,
        retention_days,
    };
    usage.validate().map_err(anyhow::Error::msg)?;
    Ok(usage)
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), any case.
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `[client_scope]`: how long (`lookup_cache_secs`, default 60, 0 = no
/// cache) and how many (`lookup_cache_size`, default 100,000) object
/// owners are cached.
fn client_scope(file: FileClientScope) -> ClientScopeConfig {
    let defaults = ClientScopeConfig::default();
    ClientScopeConfig {
        lookup_ttl: file
            .lookup_cache_secs
            .map_or(defaults.lookup_ttl, Duration::from_secs),
        lookup_capacity: file.lookup_cache_size.unwrap_or(defaults.lookup_capacity),
    }
}

/// `trusted_proxies` (env `KEYGATE_TRUSTED_PROXIES`, comma-separated).
fn trusted_proxies(file: Vec<String>) -> anyhow::Result<Vec<IpNet>> {
    let list = match env("KEYGATE_TRUSTED_PROXIES") {
        Some(text) => text.split(',').map(str::to_string).collect(),
        None => file,
    };
    list.iter()
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| entry.parse().context("invalid trusted_proxies entry"))
        .collect()
}

/// `[rate_limit]` (env `KEYGATE_RATE_LIMIT_DEFAULT`,
/// `KEYGATE_RATE_LIMIT_REDIS_URL`, `KEYGATE_FAILED_AUTH_PER_MINUTE`).
/// Env only: `KEYGATE_RATE_LIMIT_REDIS_PREFIX` replaces the Redis key prefix
/// (default `keygate:rl:`), so tests and benchmarks sharing one Redis keep
/// their counters apart.
fn rate_limit(file: FileRateLimit) -> anyhow::Result<RateLimitConfig> {
    let defaults = RateLimitConfig::default();
    let default = match env("KEYGATE_RATE_LIMIT_DEFAULT").or(file.default) {
        Some(text) => Some(text.parse().context("invalid rate_limit.default")?),
        None => None,
    };
    let failed_auth_per_minute = match env("KEYGATE_FAILED_AUTH_PER_MINUTE") {
        Some(text) => text
            .parse()
            .context("invalid KEYGATE_FAILED_AUTH_PER_MINUTE: expected a whole number")?,
        None => file
            .failed_auth_per_minute
            .unwrap_or(defaults.failed_auth_per_minute),
    };
    Ok(RateLimitConfig {
        default,
        redis_url: env("KEYGATE_RATE_LIMIT_REDIS_URL")
            .map(ConfigSecret::new)
            .or(file.redis_url),
        failed_auth_per_minute,
        redis_prefix: env("KEYGATE_RATE_LIMIT_REDIS_PREFIX").unwrap_or(defaults.redis_prefix),
    })
}

fn upstream(file: FileUpstream) -> anyhow::Result<Option<UpstreamConfig>> {
    let url = env("KEYGATE_UPSTREAM_URL").or(file.url);
    let identifier = env("KEYGATE_UPSTREAM_IDENTIFIER")
        .map(ConfigSecret::new)
        .or(file.identifier);
    let secret = env("KEYGATE_UPSTREAM_SECRET")
        .map(ConfigSecret::new)
        .or(file.secret);
    let accesskey = env("KEYGATE_UPSTREAM_ACCESSKEY")
        .map(ConfigSecret::new)
        .or(file.accesskey);
    let Some(url) = url else {
        if identifier.is_some() || secret.is_some() {
            bail!("upstream.url is required when an upstream identifier or secret is set");
        }
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("upstream.url must start with http:// or https://, got {url:?}");
    }
    let (Some(identifier), Some(secret)) = (identifier, secret) else {
        bail!("upstream.identifier and upstream.secret are required when upstream.url is set");
    };
    let timeout_secs = file.timeout_secs.unwrap_or(30);
    if timeout_secs == 0 {
        bail!("upstream.timeout_secs must be at least 1");
    }
    Ok(Some(UpstreamConfig {
        url,
        identifier,
        secret,
        accesskey,
        timeout: Duration::from_secs(timeout_secs),
    }))
}

/// The URL with any password replaced, safe to print.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://keygate.db"), "sqlite://keygate.db");
    }

    #[test]
    fn rate_limit_and_proxies_from_the_file() {
        let file: FileConfig = toml::from_str(
            "trusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n\
             [rate_limit]\ndefault = \"600/m\"\nredis_url = \"redis://:pw@127.0.0.1:6379\"\n\
             failed_auth_per_minute = 5\n",
        )
        .unwrap();
        let proxies = trusted_proxies(file.trusted_proxies).unwrap();
        assert_eq!(proxies.len(), 2);
        let limits = rate_limit(file.rate_limit).unwrap();
        assert_eq!(
            limits.default.map(|r| r.to_string()).as_deref(),
            Some("600/m")
        );
        assert_eq!(limits.failed_auth_per_minute, 5);
        assert!(
            !format!("{limits:?}").contains("pw"),
            "the Redis password stays hidden"
        );
        assert!(trusted_proxies(vec!["10.0.0.0/33".into()]).is_err());
        let bad = FileRateLimit {
            default: Some("fast".into()),
            ..FileRateLimit::default()
        };
        assert!(rate_limit(bad).is_err());
    }

    #[test]
    fn usage_from_the_file_with_bounds() {
        let file: FileConfig =
            toml::from_str("[usage]\nenabled = false\nretention_days = 30\n").unwrap();
        let got = usage(file.usage).unwrap();
        assert_eq!(
            got,
            UsageConfig {
                enabled: false,
                retention_days: 30
            }
        );
        assert_eq!(usage(FileUsage::default()).unwrap(), UsageConfig::default());
        for days in [0, 3651] {
            let bad = FileUsage {
                retention_days: Some(days),
                ..FileUsage::default()
            };
            let message = usage(bad).unwrap_err().to_string();
            assert!(
                message.contains("usage.retention_days must be between 1 and 3650"),
                "{message}"
            );
        }
        assert!(toml::from_str::<FileConfig>("[usage]\nretain = 3\n").is_err());
        assert_eq!(parse_bool("FALSE"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn upstream_debug_hides_secrets() {
        let up = upstream(FileUpstream {
            url: Some("http://127.0.0.1:1/includes/api.php".into()),
            identifier: Some(ConfigSecret::new("master-id")),
            secret: Some(ConfigSecret::new("master-secret")),
            accesskey: Some(ConfigSecret::new("access-key")),
            timeout_secs: None,
        })
        .unwrap()
        .unwrap();
        let shown = format!("{up:?}");
        for hidden in ["master-id", "master-secret", "access-key"] {
            assert!(!shown.contains(hidden), "{shown}");
        }
    }
}
