//! `POST /v1/authorize`: "may this credential run this action?"
//!
//! Request and answers are typed and borrowed rather than built as
//! `serde_json::Value`s: this is a hot path, and allocations showed in its
//! profile.

use std::borrow::Cow;
use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use keygate_core::{Call, Decision};

use crate::calls::CallLog;
use crate::limits::counted_rate;
use crate::metrics::{Endpoint, Outcome};
use crate::AppState;

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
}

#[derive(Serialize)]
struct Allowed<'a> {
    allowed: bool,
    action: &'a str,
    identifier: &'a str,
    admin: &'a str,
    roles: Vec<&'a str>,
}

#[derive(Serialize)]
struct Denied<'a> {
    allowed: bool,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

fn answer(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(json) => (status, [(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn denied(status: StatusCode, reason: &str, message: Option<String>) -> Response {
    answer(
        status,
        &Denied {
            allowed: false,
            reason,
            message,
            retry_after: None,
        },
    )
}

/// Answers 200 allowed; 401 authentication_failed, disabled or expired;
/// 403 ip_not_allowed or action_not_allowed; 429 rate_limited (with
/// `retry_after`); 400 bad_request.
pub async fn authorize(State(state): State<AppState>, body: Bytes) -> Response {
    let mut log = CallLog::start(Endpoint::Authorize);
    let request: AuthorizeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let response = denied(StatusCode::BAD_REQUEST, "bad_request", Some(e.to_string()));
            return log.finish(&state, Outcome::BadRequest, "-", response);
        }
    };
    if let Some(retry) = state.limits.throttled(request.ip) {
        let response = rate_limited(retry, Some("Too many failed attempts"));
        return log.finish(&state, Outcome::Throttled, "-", response);
    }
    let call = Call::new(&request.identifier, &request.secret, &request.action).from_ip(request.ip);
    let snapshot = state.live.load();
    let decision = snapshot.decide(&call);
    log.action(call.action, decision.action_id());
    if let Some(credential) = decision.credential() {
        state.access.record(credential.identifier());
    }
    let rate = counted_rate(&decision);
    let failed = matches!(decision, Decision::AuthenticationFailed { .. });
    let (outcome, identifier, response) = answer_for(decision);
    drop(snapshot);
    if failed {
        if let Some(retry) = state.limits.failed(request.ip).await {
            let response = rate_limited(retry, Some("Too many failed attempts"));
            return log.finish(&state, Outcome::Throttled, "-", response);
        }
    }
    if let Some(own) = rate {
        if let Some(retry) = state.limits.over_rate(&identifier, own).await {
            let response = rate_limited(retry, None);
            return log.finish(&state, Outcome::RateLimited, &identifier, response);
        }
    }
    log.finish(&state, outcome, &identifier, response)
}

/// 429 `rate_limited` with `retry_after` (and the `Retry-After` header);
/// the message says when it is the failed-authentication throttle.
fn rate_limited(retry_secs: u64, message: Option<&str>) -> Response {
    let mut response = answer(
        StatusCode::TOO_MANY_REQUESTS,
        &Denied {
            allowed: false,
            reason: "rate_limited",
            message: message.map(str::to_owned),
            retry_after: Some(retry_secs),
        },
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_secs));
    response
}

/// The outcome, the identifier to log and the answer for a decision.
fn answer_for(decision: Decision<'_>) -> (Outcome, String, Response) {
    let (outcome, identifier, status, reason) = match decision {
        Decision::Allowed(grant) => {
            let credential = grant.credential;
            let body = Allowed {
                allowed: true,
                action: &grant.action.name,
                identifier: credential.identifier(),
                admin: credential.admin(),
                roles: credential.roles().iter().map(|r| &**r).collect(),
            };
            let identifier = credential.identifier().to_owned();
            return (Outcome::Allowed, identifier, answer(StatusCode::OK, &body));
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
    (outcome, identifier.to_owned(), denied(status, reason, None))
}
