//! `POST /v1/authorize`: "may this credential run this action?"

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::calls::CallLog;
use crate::metrics::{Endpoint, Outcome};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeRequest {
    identifier: String,
    secret: String,
    action: String,
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Answers 200 allowed, 401 authentication_failed, 403 action_not_allowed
/// or 400 bad_request.
pub async fn authorize(State(state): State<AppState>, body: Bytes) -> Response {
    let mut call = CallLog::start(Endpoint::Authorize);
    let request: AuthorizeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let body =
                json!({ "allowed": false, "reason": "bad_request", "message": e.to_string() });
            return call.finish(
                &state,
                Outcome::BadRequest,
                "-",
                answer(StatusCode::BAD_REQUEST, body),
            );
        }
    };
    let snapshot = state.live.load();
    call.action(&request.action, snapshot.catalog().resolve(&request.action));
    let Some(auth) = snapshot.authenticate(&request.identifier, &request.secret) else {
        let body = json!({ "allowed": false, "reason": "authentication_failed" });
        return call.finish(
            &state,
            Outcome::AuthenticationFailed,
            "-",
            answer(StatusCode::UNAUTHORIZED, body),
        );
    };
    state.access.record(auth.identifier());
    let Some(action) = auth.allows(&request.action) else {
        let body = json!({ "allowed": false, "reason": "action_not_allowed" });
        return call.finish(
            &state,
            Outcome::ActionNotAllowed,
            auth.identifier(),
            answer(StatusCode::FORBIDDEN, body),
        );
    };
    let body = json!({
        "allowed": true,
        "action": action.name,
        "identifier": auth.identifier(),
        "admin": auth.admin(),
        "roles": auth.roles().iter().map(|r| &**r).collect::<Vec<&str>>(),
    });
    call.finish(
        &state,
        Outcome::Allowed,
        auth.identifier(),
        answer(StatusCode::OK, body),
    )
}
