//! `GET|POST /includes/api.php`: the WHMCS-compatible gateway.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;

use crate::calls::CallLog;
use crate::metrics::{Endpoint, Outcome};
use crate::params::{self, Params, ParamsError};
use crate::response::{self, Format};
use crate::AppState;

/// Authenticates, authorizes and forwards one WHMCS API call.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let mut call = CallLog::start(Endpoint::Gateway);
    let (parts, body) = request.into_parts();
    let query = Params::from_query(parts.uri.query());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params = match read_params(&state, content_type, body).await {
        Ok(body) => query.merge_body(body),
        Err(e) => {
            let format = Format::from_param(query.get("responsetype"));
            let status = match e {
                ParamsError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                ParamsError::Malformed(_) => StatusCode::BAD_REQUEST,
            };
            let response = response::error(format, status, &e.to_string());
            return call.finish(&state, Outcome::BadRequest, "-", response);
        }
    };
    let format = Format::from_param(params.get("responsetype"));
    let (identifier, secret) = credential(&params);
    let action = params.get("action").unwrap_or("");
    let snapshot = state.live.load();
    let (auth, action_id) = snapshot.authenticate_for(identifier, secret, Some(action));
    call.action(action, action_id);

    let Some(auth) = auth else {
        let response = response::error(format, StatusCode::FORBIDDEN, "Authentication Failed");
        return call.finish(&state, Outcome::AuthenticationFailed, "-", response);
    };
    state.access.record(auth.identifier());
    if action.is_empty() {
        let response = response::error(
            format,
            StatusCode::BAD_REQUEST,
            "Parameter action is required",
        );
        return call.finish(&state, Outcome::BadRequest, auth.identifier(), response);
    }
    if action_id.and_then(|id| auth.allows_id(id)).is_none() {
        let message = format!(
            "Invalid Permissions: API action \"{}\" is not allowed",
            action.to_lowercase()
        );
        let response = response::error(format, StatusCode::FORBIDDEN, &message);
        return call.finish(
            &state,
            Outcome::ActionNotAllowed,
            auth.identifier(),
            response,
        );
    }
    let identifier = auth.identifier().to_string();
    drop(snapshot);
    let response = match &state.upstream {
        None => response::error(
            format,
            StatusCode::SERVICE_UNAVAILABLE,
            "No upstream is configured",
        ),
        Some(upstream) => match upstream.forward(&params).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(error = %e, "upstream call failed");
                state.metrics.upstream_error();
                response::error(format, StatusCode::BAD_GATEWAY, "Upstream unavailable")
            }
        },
    };
    call.finish(&state, Outcome::Allowed, &identifier, response)
}

async fn read_params(
    state: &AppState,
    content_type: Option<&str>,
    body: axum::body::Body,
) -> Result<Params, ParamsError> {
    let bytes = params::read_body(body, state.config.max_body_bytes).await?;
    if bytes.is_empty() {
        return Ok(Params::default());
    }
    params::parse_body(content_type, bytes).await
}

/// `identifier` + `secret`, else `username` + `password`.
fn credential(params: &Params) -> (&str, &str) {
    match params.get_non_empty("identifier") {
        Some(identifier) => (identifier, params.get("secret").unwrap_or("")),
        None => (
            params.get("username").unwrap_or(""),
            params.get("password").unwrap_or(""),
        ),
    }
}
