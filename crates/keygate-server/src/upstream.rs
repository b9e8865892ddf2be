//! Forwarding allowed calls to the real WHMCS with the master credential.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;

use crate::config::UpstreamConfig;
use keygate_core::CanonicalParams;

/// A pooled HTTP client for the configured upstream.
pub struct Upstream {
    config: UpstreamConfig,
    /// Parsed once: parsing per request showed in the profile.
    url: reqwest::Url,
    client: reqwest::Client,
}

/// The upstream could not be reached or did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error("upstream unavailable: {0}")]
pub struct Unavailable(#[source] reqwest::Error);

impl Upstream {
    /// A client for `config` (connection pooling, timeouts).
    pub fn new(config: UpstreamConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(std::time::Duration::from_secs(10)))
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("keygate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let url = reqwest::Url::parse(&config.url)?;
        Ok(Self {
            config,
            url,
            client,
        })
    }

    /// The form the upstream receives: the canonical parameters, without
    /// anything the client sent under a credential name, plus the master
    /// credential.
    pub fn forwarded_form(&self, params: &CanonicalParams) -> String {
        let identifier = ("identifier", self.config.identifier.expose().as_bytes());
        let secret = ("secret", self.config.secret.expose().as_bytes());
        match &self.config.accesskey {
            Some(key) => {
                params.forward_form(&[identifier, secret, ("accesskey", key.expose().as_bytes())])
            }
            None => params.forward_form(&[identifier, secret]),
        }
    }

    /// POSTs the call and returns the upstream's status, content type and body.
    pub async fn forward(&self, params: &CanonicalParams) -> Result<Response, Unavailable> {
        let response = self
            .client
            .post(self.url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(self.forwarded_form(params))
            .send()
            .await
            .map_err(Unavailable)?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut builder = Response::builder().status(status);
        if let Some(content_type) = response.headers().get(reqwest::header::CONTENT_TYPE) {
            builder = builder.header(header::CONTENT_TYPE, content_type.as_bytes());
        }
        // Read whole so a timeout mid-body still becomes a clean 502.
        let body = response.bytes().await.map_err(Unavailable)?;
        Ok(builder
            .body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::empty())))
    }
}
