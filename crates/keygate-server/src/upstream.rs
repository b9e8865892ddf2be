//! Forwarding allowed calls to the real WHMCS with the master credential.

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;

use std::sync::Arc;

use anyhow::Context;

use crate::config::UpstreamConfig;
use keygate_core::model::ClientId;
use keygate_core::CanonicalParams;

/// A pooled HTTP client for the configured upstream.
pub struct Upstream {
    config: UpstreamConfig,
    /// Parsed once: parsing per request showed in the profile.
    url: reqwest::Url,
    client: reqwest::Client,
}

/// The upstream could not be reached, did not answer in time, or (for a
/// lookup) answered with an error status.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Connecting, sending or reading failed.
    #[error("upstream unavailable: {0}")]
    Http(#[source] reqwest::Error),
    /// A lookup was answered with this status.
    #[error("upstream answered {0}")]
    Status(StatusCode),
}

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
        let response = self
            .client
            .post(self.url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(Unavailable::Http)?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.as_bytes().to_vec());
        let body = response.bytes().await.map_err(Unavailable::Http)?;
        Ok(Forwarded {
            status,
            content_type,
            body,
        })
    }
}

/// The upstream's answer, read whole.
pub struct Forwarded {
    /// Its status.
    pub status: StatusCode,
    /// Its `Content-Type`, if any.
    pub content_type: Option<Vec<u8>>,
    /// Its body.
    pub body: Bytes,
}

impl Forwarded {
    /// The answer as the client receives it: status, content type, body.
    pub fn into_response(self) -> Response {
        let mut builder = Response::builder().status(self.status);
        if let Some(content_type) = &self.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type.as_slice());
        }
        builder
            .body(Body::from(self.body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

/// The upstream `config` describes, ready to call; `None` without one.
pub fn build(config: Option<&UpstreamConfig>) -> anyhow::Result<Option<Arc<Upstream>>> {
    config
        .cloned()
        .map(Upstream::new)
        .transpose()
        .context("invalid upstream configuration")
        .map(|upstream| upstream.map(Arc::new))
}
