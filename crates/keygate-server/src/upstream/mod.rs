//! Forwarding allowed calls to the real WHMCS with the master credential.

use axum::body::{Body, Bytes};
use axum::http::header::{self, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::config::UpstreamConfig;
use keygate_core::model::ClientId;
use keygate_core::CanonicalParams;

mod h1;
mod pool;

pub use h1::ExchangeError;
use pool::Pool;

/// A pooled HTTP/1.1 client for the configured upstream (see [`h1`] for
/// why it is keygate's own).
pub struct Upstream {
    config: UpstreamConfig,
    /// Every request's head up to the `Content-Length` value: built once.
    head: Vec<u8>,
    pool: Pool,
}

/// The upstream could not be reached, did not answer in time, or (for a
/// lookup) answered with an error status.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// No connection could be opened (refused, DNS, TLS handshake or
    /// certificate, connect timeout).
    #[error("upstream unreachable: {0}")]
    Connect(#[source] std::io::Error),
    /// The request or its answer failed on an open connection.
    #[error("upstream exchange failed: {0}")]
    Exchange(#[source] ExchangeError),
    /// No whole answer within the configured timeout.
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// A lookup was answered with this status.
    #[error("upstream answered {0}")]
    Status(StatusCode),
}

/// What every forwarded call says it is.
const USER_AGENT: &str = concat!("keygate/", env!("CARGO_PKG_VERSION"));

impl Upstream {
    /// A client for `config` (connection pooling, timeouts), trusting the
    /// webpki roots (Mozilla's list) for HTTPS.
    pub fn new(config: UpstreamConfig) -> anyhow::Result<Self> {
        Self::with_roots(config, webpki_roots())
    }

    /// A client trusting only `roots` for HTTPS (tests use their own CA).
    fn with_roots(config: UpstreamConfig, roots: rustls::RootCertStore) -> anyhow::Result<Self> {
        let target = Target::parse(&config.url)?;
        let tls = match target.https {
            false => None,
            true => {
                let name = ServerName::try_from(target.host.clone())
                    .with_context(|| format!("upstream host {:?}", target.host))?;
                Some((Arc::new(tls_config(roots)?), name))
            }
        };
        let connect_timeout = config.timeout.min(Duration::from_secs(10));
        let head = target.request_head();
        let pool = Pool::new(target.host, target.port, tls, connect_timeout);
        Ok(Self { config, head, pool })
    }

    /// The form the upstream receives: the canonical parameters, without
    /// anything the client sent under a credential name, plus a client
    /// parameter a scope sets, plus the master credential.
    pub fn forwarded_form(
        &self,
        params: &CanonicalParams,
        set: Option<(&str, ClientId)>,
    ) -> String {
        let client = set.map(|(name, client)| (name, client.0.to_string()));
        let mut added: [(&str, &[u8]); 4] = [("", b""); 4];
        let mut count = 0;
        // A client parameter a scope adds: absent from `params` (it is only
        // added when the call did not send it), so appending it is setting it.
        if let Some((name, value)) = &client {
            added[count] = (name, value.as_bytes());
            count += 1;
        }
        added[count] = ("identifier", self.config.identifier.expose().as_bytes());
        added[count + 1] = ("secret", self.config.secret.expose().as_bytes());
        count += 2;
        if let Some(key) = &self.config.accesskey {
            added[count] = ("accesskey", key.expose().as_bytes());
            count += 1;
        }
        params.forward_form(&added[..count])
    }

    /// POSTs the call and returns the upstream's status, content type and
    /// body, read whole (so a timeout mid-body still becomes a clean 502,
    /// and a scoped call's answer can be checked before it is returned).
    pub async fn forward(
        &self,
        params: &CanonicalParams,
        set: Option<(&str, ClientId)>,
    ) -> Result<Forwarded, Unavailable> {
        self.post(self.forwarded_form(params, set)).await
    }

    /// Asks the upstream, with the master credential, for `action` with
    /// `param=id` as JSON: a client scope's ownership lookup. Any answer
    /// but a 2xx is the upstream being unavailable.
    pub async fn lookup(&self, action: &str, param: &str, id: u64) -> Result<Bytes, Unavailable> {
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("action", action)
                .append_pair(param, &id.to_string())
                .append_pair("responsetype", "json")
                .append_pair("identifier", self.config.identifier.expose())
                .append_pair("secret", self.config.secret.expose());
            if let Some(key) = &self.config.accesskey {
                form.append_pair("accesskey", key.expose());
            }
            form.finish()
        };
        let answer = self.post(form).await?;
        if !answer.status.is_success() {
            return Err(Unavailable::Status(answer.status));
        }
        Ok(answer.body)
    }

    async fn post(&self, form: String) -> Result<Forwarded, Unavailable> {
        let mut request = Vec::with_capacity(self.head.len() + 24 + form.len());
        request.extend_from_slice(&self.head);
        // Written in place: no allocation for the number.
        let _ = write!(request, "{}", form.len());
        request.extend_from_slice(b"\r\n\r\n");
        request.extend_from_slice(form.as_bytes());
        let exchange = async {
            let mut connection = self.pool.checkout().await.map_err(Unavailable::Connect)?;
            let answer = h1::exchange(&mut connection.stream, &mut connection.buf, &request)
                .await
                .map_err(Unavailable::Exchange)?;
            if answer.reusable {
                self.pool.checkin(connection);
            }
            Ok(Forwarded {
                status: answer.status,
                content_type: answer.content_type,
                body: answer.body,
            })
        };
        let timeout = self.config.timeout;
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Unavailable::Timeout(timeout)))
    }
}

/// The upstream URL's parts a request needs.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    https: bool,
    /// Without brackets for an IPv6 address (what connecting takes).
    host: String,
    port: u16,
    /// `Host` header: the URL's authority without any user information.
    authority: String,
    path_and_query: String,
    /// `user:password@` in the URL, sent as HTTP basic authentication.
    basic: Option<String>,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("upstream URL {url:?} is not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("upstream URL {url:?} must start with http:// or https://"),
        };
        let authority = uri
            .authority()
            .with_context(|| format!("upstream URL {url:?} has no host"))?;
        let (userinfo, host_port) = match authority.as_str().rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority.as_str()),
        };
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            bail!("upstream URL {url:?} has no host");
        }
        Ok(Self {
            https,
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: host_port.to_owned(),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            basic: userinfo.map(|u| {
                let decoded = percent_decode(u);
                base64::engine::general_purpose::STANDARD.encode(decoded)
            }),
        })
    }

    /// `POST path HTTP/1.1` and the fixed headers, ending with
    /// `Content-Length: ` (the length and the body follow per request).
    fn request_head(&self) -> Vec<u8> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n",
            self.path_and_query, self.authority
        );
        if let Some(basic) = &self.basic {
            head.push_str(&format!("Authorization: Basic {basic}\r\n"));
        }
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ");
        head.into_bytes()
    }
}

/// `%XX` escapes of a URL's user information decoded (other bytes kept).
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// Mozilla's root certificates, as shipped in `webpki-roots`.
fn webpki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// rustls with ring, HTTP/1.1 only, trusting `roots`.
fn tls_config(roots: rustls::RootCertStore) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The upstream's answer, read whole.
#[derive(Debug)]
pub struct Forwarded {
    /// Its status.
    pub status: StatusCode,
    /// Its `Content-Type`, if any.
    pub content_type: Option<HeaderValue>,
    /// Its body.
    pub body: Bytes,
}

impl Forwarded {
    /// The answer as the client receives it: status, content type, body.
    pub fn into_response(self) -> Response {
        let mut builder = Response::builder().status(self.status);
        if let Some(content_type) = self.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        builder
            .body(Body::from(self.body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod target_tests;

#[cfg(test)]
#[path = "pool_tests.rs"]
mod pool_tests;

/// The upstream `config` describes, ready to call; `None` without one.
pub fn build(config: Option<&UpstreamConfig>) -> anyhow::Result<Option<Arc<Upstream>>> {
    config
        .cloned()
        .map(Upstream::new)
        .transpose()
        .context("invalid upstream configuration")
        .map(|upstream| upstream.map(Arc::new))
}
