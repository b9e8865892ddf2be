//! `POST /v1/authorize`: "may this credential run this action?"
//!
//! Request and answers are typed and borrowed rather than built as
//! `serde_json::Value`s: this is a hot path, and allocations showed in its
//! profile.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use keygate_core::{Call, Decision};

use crate::calls::CallLog;
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
        },
    )
}

/// Answers 200 allowed, 401 authentication_failed, 403 action_not_allowed
/// or 400 bad_request.
pub async fn authorize(State(state): State<AppState>, body: Bytes) -> Response {
    let mut log = CallLog::start(Endpoint::Authorize);
    let request: AuthorizeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let response = denied(StatusCode::BAD_REQUEST, "bad_request", Some(e.to_string()));
            return log.finish(&state, Outcome::BadRequest, "-", response);
        }
    };
    let snapshot = state.live.load();
    let call = Call::new(&request.identifier, &request.secret, &request.action);
    let decision = snapshot.decide(&call);
    log.action(call.action, decision.action_id());
    if let Some(credential) = decision.credential() {
        state.access.record(credential.identifier());
    }
    let grant = match decision {
        Decision::Allowed(grant) => grant,
        Decision::AuthenticationFailed { .. } => {
            let response = denied(StatusCode::UNAUTHORIZED, "authentication_failed", None);
            return log.finish(&state, Outcome::AuthenticationFailed, "-", response);
        }
        Decision::ActionMissing(credential) | Decision::ActionNotAllowed { credential, .. } => {
            let response = denied(StatusCode::FORBIDDEN, "action_not_allowed", None);
            let identifier = credential.identifier();
            return log.finish(&state, Outcome::ActionNotAllowed, identifier, response);
        }
    };
    let credential = grant.credential;
    let body = Allowed {
        allowed: true,
        action: &grant.action.name,
        identifier: credential.identifier(),
        admin: credential.admin(),
        roles: credential.roles().iter().map(|r| &**r).collect(),
    };
    let response = answer(StatusCode::OK, &body);
    log.finish(&state, Outcome::Allowed, credential.identifier(), response)
}
