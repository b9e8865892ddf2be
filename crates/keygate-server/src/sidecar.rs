//! `POST /v1/authorize`: "may this credential run this action?"
//!
//! Request and answers are typed and borrowed rather than built as
//! `serde_json::Value`s: this is a hot path, and allocations showed in its
//! profile.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize, Serializer};

use keygate_core::model::ClientId;
use keygate_core::params::RawPair;
use keygate_core::{Call, CanonicalParams, Decision};

use crate::calls::CallLog;
use crate::metrics::{Endpoint, Outcome};
use crate::{scope, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeRequest<'a> {
    #[serde(borrow)]
    identifier: Cow<'a, str>,
    #[serde(borrow)]
    secret: Cow<'a, str>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    /// The address of the caller's own client, for the allowlist.
    #[serde(default)]
    ip: Option<IpAddr>,
    /// The call's parameters, for a client-scoped credential's rules.
    #[serde(default)]
    params: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize)]
struct Allowed<'a> {
    allowed: bool,
    action: &'a str,
    identifier: &'a str,
    admin: &'a str,
    #[serde(serialize_with = "names")]
    roles: &'a [Arc<str>],
    /// A client-scoped credential's clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ids: Option<&'a [ClientId]>,
    /// Parameters the caller must set before forwarding (a scoped call's
    /// client parameter, when it was absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    set_params: Option<BTreeMap<&'a str, String>>,
}

#[derive(Serialize)]
struct Denied<'a> {
    allowed: bool,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<String>,
}

/// Role names as a JSON array, without collecting them first.
fn names<S: Serializer>(roles: &&[Arc<str>], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(roles.iter().map(|role| &**role))
}

/// A sidecar answer: its status, its JSON body, and for 429 the seconds of
/// `Retry-After`. The hot loop writes it as it is; the router's handler
/// turns it into a [`Response`].
#[derive(Debug)]
pub struct Reply {
    /// The answer's status.
    pub status: StatusCode,
    /// The body, `application/json` (empty for a 500 that could not
    /// serialize one).
    pub json: Vec<u8>,
    /// The `Retry-After` header's seconds.
    pub retry_after: Option<u64>,
}

impl Reply {
    /// Its `Content-Type`: JSON, unless there is no body.
    pub fn content_type(&self) -> Option<&'static str> {
        (!self.json.is_empty()).then_some("application/json")
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        // Built directly: the tuple's `IntoResponse` showed in the profile.
        let content_type = self.content_type();
        let mut response = Response::new(Body::from(self.json));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(retry) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry));
        }
        response
    }
}

impl crate::calls::Answered for Reply {
    fn status(&self) -> StatusCode {
        self.status
    }
}

/// Room for a typical answer, so serializing it does not reallocate.
const TYPICAL_ANSWER: usize = 256;

fn answer(status: StatusCode, body: &impl Serialize) -> Reply {
    let mut json = Vec::with_capacity(TYPICAL_ANSWER);
    if serde_json::to_writer(&mut json, body).is_err() {
        return Reply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            json: Vec::new(),
            retry_after: None,
        };
    }
    Reply {
        status,
        json,
        retry_after: None,
    }
}

fn denied(status: StatusCode, reason: &str, message: Option<String>) -> Reply {
    answer(
        status,
        &Denied {
            allowed: false,
            reason,
            message,
            retry_after: None,
            param: None,
        },
    )
}

/// Answers 200 allowed; 401 authentication_failed, disabled or expired;
/// 403 ip_not_allowed or action_not_allowed; 429 rate_limited (with
/// `retry_after`); 400 bad_request.
pub async fn authorize(State(state): State<AppState>, body: Bytes) -> Reply {
    reply(&state, &body).await
}

/// [`authorize`] on a request body the caller holds (the hot loop's).
pub async fn reply(state: &AppState, body: &[u8]) -> Reply {
    let mut log = CallLog::start(Endpoint::Authorize);
    let request: AuthorizeRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            let response = denied(StatusCode::BAD_REQUEST, "bad_request", Some(e.to_string()));
            return log.finish(state, Outcome::BadRequest, "-", response);
        }
    };
    if let Some(retry) = state.limits.throttled(request.ip) {
        let response = rate_limited(retry, Some("Too many failed attempts"));
        return log.finish(state, Outcome::Throttled, "-", response);
    }
    let call = Call::new(&request.identifier, &request.secret, &request.action).from_ip(request.ip);
    let snapshot = state.live.load();
    let decision = snapshot.decide(&call);
    log.action(call.action, decision.action_id());
    if let Some(credential) = decision.credential() {
        state.access.record(credential.identifier(), call.now);
    }
    let rate = state.limits.check_in_snapshot(&decision);
    let failed = matches!(decision, Decision::AuthenticationFailed { .. });
    let (answer, identifier) = answer_for(decision);
    drop(snapshot);
    if failed {
        if let Some(retry) = state.limits.failed(request.ip).await {
            let response = rate_limited(retry, Some("Too many failed attempts"));
            return log.finish(state, Outcome::Throttled, "-", response);
        }
    }
    if let Some(retry) = state.limits.finish(rate, &identifier).await {
        let response = rate_limited(retry, None);
        return log.finish(state, Outcome::RateLimited, &identifier, response);
    }
    let (outcome, response) = match answer {
        Answer::Ready(outcome, response) => (outcome, response),
        Answer::Scoped(grant) => scoped_answer(state, &request, grant).await,
    };
    log.finish(state, outcome, &identifier, response)
}

/// A client-scoped credential's allowed action, copied out of the
/// snapshot: its parameter rules are checked next, which may await a
/// lookup.
struct ScopedGrant {
    action: String,
    identifier: String,
    admin: String,
    roles: Vec<Arc<str>>,
    clients: Vec<ClientId>,
}

/// What the decision answers, or a scoped grant still to be checked.
enum Answer {
    Ready(Outcome, Reply),
    Scoped(ScopedGrant),
}

/// Checks the request's `params` against the scope's rules: 200 (with
/// `client_ids`, and `set_params` when a client parameter must be set),
/// 403 `client_scope` (with `param`), or 400 for parameters that are not
/// a flat object of strings and numbers.
async fn scoped_answer(
    state: &AppState,
    request: &AuthorizeRequest<'_>,
    grant: ScopedGrant,
) -> (Outcome, Reply) {
    let params = match scope_params(request.params.as_ref()) {
        Ok(params) => params,
        Err(message) => {
            let response = denied(StatusCode::BAD_REQUEST, "bad_request", Some(message));
            return (Outcome::BadRequest, response);
        }
    };
    let catalog = state.manager.catalog();
    let upstream = state.upstream();
    let admitted = scope::admit(
        &catalog,
        &state.owners,
        upstream.as_deref(),
        &request.action,
        &grant.clients,
        &params,
    )
    .await;
    match admitted {
        Ok(admitted) => {
            let body = Allowed {
                allowed: true,
                action: &grant.action,
                identifier: &grant.identifier,
                admin: &grant.admin,
                roles: &grant.roles,
                client_ids: Some(&grant.clients),
                set_params: admitted
                    .set
                    .map(|(param, client)| BTreeMap::from([(param, client.0.to_string())])),
            };
            (Outcome::Allowed, answer(StatusCode::OK, &body))
        }
        Err(refusal) => {
            // The contract answers every scope refusal 403 `client_scope`
            // (the gateway tells a missing parameter apart with a 400).
            let (status, reason) = match refusal.status {
                StatusCode::BAD_GATEWAY => (StatusCode::BAD_GATEWAY, "upstream_unavailable"),
                _ => (StatusCode::FORBIDDEN, "client_scope"),
            };
            let body = Denied {
                allowed: false,
                reason,
                message: Some(refusal.message),
                retry_after: None,
                param: refusal.param,
            };
            (refusal.outcome, answer(status, &body))
        }
    }
}

/// The sidecar's `params` as canonical parameters: each member one
/// plain pair; `responsetype` is JSON unless the caller says otherwise.
fn scope_params(
    params: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<CanonicalParams, String> {
    let mut pairs: Vec<RawPair<'_>> = Vec::new();
    let mut format_given = false;
    for (name, value) in params.into_iter().flatten() {
        let value = match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(number) => number.to_string(),
            _ => return Err(format!("params.{name} must be a string or a number")),
        };
        format_given |= name.eq_ignore_ascii_case("responsetype");
        pairs.push((
            Cow::Owned(name.clone().into_bytes()),
            Cow::Owned(value.into_bytes()),
        ));
    }
    if !format_given {
        pairs.push((Cow::Borrowed(b"responsetype"), Cow::Borrowed(b"json")));
    }
    CanonicalParams::from_sources(&[], &pairs).map_err(|refused| refused.error.to_string())
}

/// 429 `rate_limited` with `retry_after` (and the `Retry-After` header);
/// the message says when it is the failed-authentication throttle.
fn rate_limited(retry_secs: u64, message: Option<&str>) -> Reply {
    let mut reply = answer(
        StatusCode::TOO_MANY_REQUESTS,
        &Denied {
            allowed: false,
            reason: "rate_limited",
            message: message.map(str::to_owned),
            retry_after: Some(retry_secs),
            param: None,
        },
    );
    reply.retry_after = Some(retry_secs);
    reply
}

/// The outcome, the identifier to log and the answer for a decision; a
/// client-scoped grant is answered once its parameters are checked.
fn answer_for(decision: Decision<'_>) -> (Answer, String) {
    let (outcome, identifier, status, reason) = match decision {
        Decision::Allowed(grant) if !grant.credential.client_ids().is_empty() => {
            let credential = grant.credential;
            let identifier = credential.identifier().to_owned();
            let grant = ScopedGrant {
                action: grant.action.name.clone(),
                identifier: identifier.clone(),
                admin: credential.admin().to_owned(),
                roles: credential.roles().to_vec(),
                clients: credential.client_ids().to_vec(),
            };
            return (Answer::Scoped(grant), identifier);
        }
        Decision::Allowed(grant) => {
            let credential = grant.credential;
            let body = Allowed {
                allowed: true,
                action: &grant.action.name,
                identifier: credential.identifier(),
                admin: credential.admin(),
                roles: credential.roles(),
                client_ids: None,
                set_params: None,
            };
            let identifier = credential.identifier().to_owned();
            let response = answer(StatusCode::OK, &body);
            return (Answer::Ready(Outcome::Allowed, response), identifier);
        }
        Decision::AuthenticationFailed { .. } => (
            Outcome::AuthenticationFailed,
            "-",
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
        ),
        Decision::Disabled { identifier, .. } => (
            Outcome::Disabled,
            identifier,
            StatusCode::UNAUTHORIZED,
            "disabled",
        ),
        Decision::Expired { identifier, .. } => (
            Outcome::Expired,
            identifier,
            StatusCode::UNAUTHORIZED,
            "expired",
        ),
        Decision::IpNotAllowed { credential, .. } => (
            Outcome::IpNotAllowed,
            credential.identifier(),
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
        ),
        Decision::ActionMissing(credential) | Decision::ActionNotAllowed { credential, .. } => (
            Outcome::ActionNotAllowed,
            credential.identifier(),
            StatusCode::FORBIDDEN,
            "action_not_allowed",
        ),
    };
    let response = denied(status, reason, None);
    (Answer::Ready(outcome, response), identifier.to_owned())
}
