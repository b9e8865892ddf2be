//! Request guards: [`Authed`] for pages that need a logged-in admin (the
//! session is looked up in the database with the admin's current state, so
//! disabling or removing an admin ends its sessions at once, on every
//! instance) and [`Posted`] for
//! state-changing requests, which also need the session's CSRF token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::form::FormData;
use super::next;
use super::render::{self, UiError};
use super::session::{cookie, same_token, set_cookie, Session, SESSION_COOKIE};
use crate::AppState;

/// A request from a logged-in, still enabled admin.
pub struct Authed(pub Session);

/// A state-changing request: logged in, with the right CSRF token.
pub struct Posted {
    /// The session.
    pub session: Session,
    /// The submitted fields.
    pub form: FormData,
    /// Sent by our script (answer JSON, not a page).
    pub fetch: bool,
}

/// Whether our script sent the request (it asks for JSON answers).
pub fn is_fetch(headers: &HeaderMap) -> bool {
    headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"fetch"))
}

/// The request's session if it is live and its admin still exists and is
/// enabled; a dead session is ended on the spot.
pub async fn current_session(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<Session>, UiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state.ui.sessions.touch(&token).await?)
}

/// The answer without a live session: JSON for our script, else the login
/// page, keeping the page to return to (see [`next`]).
fn login_required(parts: &Parts, state: &AppState) -> Response {
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let clear = set_cookie(SESSION_COOKIE, None, state.config().secure_cookies);
    if is_fetch(headers) {
        let body = json!({ "error": "Your session has ended. Log in again." });
        return (
            StatusCode::UNAUTHORIZED,
            [(header::SET_COOKIE, clear)],
            Json(body),
        )
            .into_response();
    }
    let had_session = cookie(headers, SESSION_COOKIE).is_some();
    let location = next::login_location(method, uri, headers, had_session);
    let mut response = render::see_other(&location);
    if headers.get(header::COOKIE).is_some() {
        if let Ok(value) = clear.parse() {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match current_session(&parts.headers, state).await {
            Ok(Some(mut session)) => {
                let trusted = &state.config().trusted_proxies;
                let address =
                    crate::client_ip::client_ip(&parts.extensions, &parts.headers, trusted);
                session.address = address.map(|ip| ip.to_string());
                Ok(Authed(session))
            }
            Ok(None) => Err(login_required(parts, state)),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The answer to a request whose CSRF token is missing or wrong.
pub fn csrf_rejected(fetch: bool) -> Response {
    const TEXT: &str = "The request was refused because its security token is missing or out of date. Reload the page and try again.";
    if fetch {
        return (StatusCode::FORBIDDEN, Json(json!({ "error": TEXT }))).into_response();
    }
    render::message(StatusCode::FORBIDDEN, "Request refused", TEXT)
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Authed(session) = Authed::from_request_parts(&mut parts, state).await?;
        let fetch = is_fetch(&parts.headers);
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = FormData::parse(&bytes);
        let token = header_token.unwrap_or_else(|| form.get("csrf").to_string());
        if !same_token(&token, &session.csrf) {
            tracing::warn!(admin = %session.username, "admin UI: request with a bad CSRF token refused");
            return Err(csrf_rejected(fetch));
        }
        Ok(Posted {
            session,
            form,
            fetch,
        })
    }
}
