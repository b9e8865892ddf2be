//! HTTPS with rustls: the `[tls]` PEM files are loaded at start (a bad file
//! stops `keygate serve` with an error naming it) and re-read every few
//! seconds afterwards, so a renewed certificate (certbot) is picked up
//! without a restart. A renewal that does not load (a half-written file, a
//! key that does not match the certificate) keeps the certificate in use
//! and logs a warning naming the file.
//!
//! The crypto provider is ring, passed explicitly to every rustls config:
//! nothing depends on rustls' process-wide default provider.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ServerConfig, TlsConfig};

/// Overrides [`ServerConfig::tls_reload_interval`] (milliseconds); meant for
/// tests, which cannot wait 10 seconds for every renewal.
const RELOAD_INTERVAL_ENV: &str = "KEYGATE_TLS_RELOAD_INTERVAL_MS";

/// The certificate in force and the file contents it was built from.
pub(crate) struct Tls {
    files: TlsConfig,
    acceptor: RustlsConfig,
    loaded: Contents,
}

/// The bytes of the certificate and key files.
#[derive(PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl Tls {
    /// Reads and checks the `[tls]` files; errors name the file at fault.
    pub(crate) fn load(files: &TlsConfig) -> anyhow::Result<Self> {
        let loaded = read(files)?;
        let config = build(files, &loaded)?;
        Ok(Self {
            files: files.clone(),
            acceptor: RustlsConfig::from_config(config),
            loaded,
        })
    }
}

/// The reload interval: the environment override, else the configured one.
pub(crate) fn reload_interval(config: &ServerConfig) -> Duration {
    let interval = std::env::var(RELOAD_INTERVAL_ENV)
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map_or(config.tls_reload_interval, Duration::from_millis);
    interval.max(Duration::from_millis(10))
}

/// Serves HTTPS on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish (like `axum::serve`'s graceful shutdown),
/// re-reading the certificate files every `interval` meanwhile.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    service: IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    tls: Tls,
    interval: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::<SocketAddr>::new();
    let signal = {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            // `None`: no deadline, as with plain HTTP.
            handle.graceful_shutdown(None);
        })
    };
    let acceptor = tls.acceptor.clone();
    let reloader = tokio::spawn(reload_loop(tls, interval));
    let result = axum_server::Server::from_listener(listener)
        .acceptor(RustlsAcceptor::new(acceptor))
        .handle(handle)
        .serve(service)
        .await;
    reloader.abort();
    signal.abort();
    result
}

/// Every `interval`: re-reads both files and, when they differ from the
/// certificate in force, loads them. A failure is logged once per new file
/// contents (not every tick) and keeps the certificate in force.
async fn reload_loop(mut tls: Tls, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // The first tick is immediate: the files were just read.
    let mut last_failure: Option<String> = None;
    let mut failed_contents: Option<Contents> = None;
    loop {
        ticker.tick().await;
        let files = tls.files.clone();
        let read = tokio::task::spawn_blocking(move || read(&files)).await;
        let contents = match read {
            Ok(Ok(contents)) => contents,
            Ok(Err(error)) => {
                let message = format!("{error:#}");
                if last_failure.as_ref() != Some(&message) {
                    tracing::warn!(
                        "TLS certificate not reloaded: {message}; keeping the certificate in use"
                    );
                    last_failure = Some(message);
                }
                continue;
            }
            Err(_) => continue,
        };
        if contents == tls.loaded {
            // Unchanged, or back to the certificate in force.
            last_failure = None;
            failed_contents = None;
            continue;
        }
        if failed_contents.as_ref() == Some(&contents) {
            continue;
        }
        match build(&tls.files, &contents) {
            Ok(config) => {
                tls.acceptor.reload_from_config(config);
                tls.loaded = contents;
                last_failure = None;
                failed_contents = None;
                tracing::info!(
                    "TLS certificate reloaded from {} (key {})",
                    tls.files.cert.display(),
                    tls.files.key.display()
                );
            }
            Err(error) => {
                tracing::warn!(
                    "TLS certificate not reloaded: {error:#}; keeping the certificate in use"
                );
                last_failure = Some(format!("{error:#}"));
                failed_contents = Some(contents);
            }
        }
    }
}

fn read(files: &TlsConfig) -> anyhow::Result<Contents> {
    let cert = read_file(&files.cert, "certificate")?;
    let key = read_file(&files.key, "private key")?;
    Ok(Contents { cert, key })
}

fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read TLS {what} {}", path.display()))
}

/// A rustls server config from PEM contents; errors name the file at fault.
fn build(files: &TlsConfig, contents: &Contents) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let cert_path = files.cert.display();
    let key_path = files.key.display();
    let certs = CertificateDer::pem_slice_iter(&contents.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("TLS certificate {cert_path} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(anyhow!(
            "TLS certificate {cert_path} holds no PEM certificate (BEGIN CERTIFICATE)"
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            anyhow!("TLS private key {key_path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")
        }
        e => anyhow!("TLS private key {key_path} is not valid PEM: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: no protocol version available")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                anyhow!("TLS private key {key_path} does not match the certificate {cert_path}")
            }
            e => anyhow!("TLS certificate {cert_path} or key {key_path} not usable: {e}"),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> TlsConfig {
        TlsConfig {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    #[test]
    fn missing_and_garbage_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path());
        let error = format!("{:#}", Tls::load(&files).err().unwrap());
        assert!(error.contains("cert.pem"), "{error}");
        std::fs::write(&files.cert, "not a certificate").unwrap();
        std::fs::write(&files.key, "not a key").unwrap();
        let error = format!("{:#}", Tls::load(&files).err().unwrap());
        assert!(error.contains("holds no PEM certificate"), "{error}");
        assert!(error.contains("cert.pem"), "{error}");
    }

    #[test]
    fn reload_interval_is_at_least_10_ms() {
        let mut config = ServerConfig::new("127.0.0.1:0", "test");
        config.tls_reload_interval = Duration::ZERO;
        if std::env::var_os(RELOAD_INTERVAL_ENV).is_none() {
            assert_eq!(reload_interval(&config), Duration::from_millis(10));
        }
    }
}
