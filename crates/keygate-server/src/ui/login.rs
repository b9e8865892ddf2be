//! Login and logout. The login form carries its own CSRF token (a
//! double-submit cookie), so another site cannot log a browser in to an
//! account of its choosing; failures are throttled before any password is
//! checked; a successful login gets a brand-new session token.

use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::extract::{current_session, Posted};
use super::form::FormData;
use super::next::{safe_next, Ended};
use super::render::{html, see_other, Chrome, UiError, UiResult};
use super::session::{cookie, new_token, same_token, set_cookie, LOGIN_COOKIE, SESSION_COOKIE};
use super::throttle;
use crate::AppState;

/// Where a login leads.
const HOME: &str = "/admin/api-credentials";

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Layout.
    pub chrome: Chrome,
    /// The login form's CSRF token.
    pub csrf: String,
    /// The username typed, refilled after a failure.
    pub username: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// A notice (logged out, session ended).
    pub notice: Option<String>,
    /// Where the login leads (a checked `/admin/` path), or empty.
    pub next: String,
}

/// `/admin` and `/admin/`: the main screen when logged in, else the login.
pub async fn root(State(state): State<AppState>, headers: HeaderMap) -> UiResult {
    match current_session(&headers, &state).await? {
        Some(_) => Ok(see_other(HOME)),
        None => Ok(see_other("/admin/login")),
    }
}

/// What the login page says above the form.
enum Note<'a> {
    None,
    Error(&'a str),
    Notice(&'a str),
}

/// The login page; its form token is the browser's login cookie if it has
/// one (several tabs keep working), else a new one.
fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    next: &str,
    note: Note<'_>,
) -> Response {
    let token = cookie(headers, LOGIN_COOKIE).unwrap_or_else(new_token);
    let page = LoginPage {
        chrome: Chrome::anonymous("Log in"),
        csrf: token.clone(),
        username: username.to_string(),
        error: matches!(note, Note::Error(_)).then(|| note.text()),
        notice: matches!(note, Note::Notice(_)).then(|| note.text()),
        next: safe_next(next).unwrap_or_default(),
    };
    let mut response = html(status, &page);
    let value = set_cookie(LOGIN_COOKIE, Some(&token), state.config().secure_cookies);
    if let Ok(value) = value.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

impl Note<'_> {
    fn text(&self) -> String {
        match self {
            Note::None => String::new(),
            Note::Error(text) | Note::Notice(text) => text.to_string(),
        }
    }
}

/// `GET /admin/login`.
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let next = query.get("next");
    if current_session(&headers, &state).await?.is_some() {
        return Ok(see_other(&safe_next(next).unwrap_or_else(|| HOME.into())));
    }
    let note = match (
        query.get("logged_out"),
        Ended::parse(query.get("ended")).notice(),
    ) {
        ("1", _) => Note::Notice("You have been logged out."),
        (_, Some(text)) => Note::Notice(text),
        _ => Note::None,
    };
    Ok(login_page(&state, &headers, StatusCode::OK, "", next, note))
}

/// `POST /admin/login`.
pub async fn submit(State(state): State<AppState>, request: Request) -> UiResult {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers().clone();
    let limit = state.config().max_body_bytes;
    let body = match axum::body::to_bytes(request.into_body(), limit).await {
        Ok(body) => body,
        Err(_) => return Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
    };
    let form = FormData::parse(&body);
    let username = form.get("username");
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !same_token(form.get("csrf"), &expected) {
        let text = "The login form had expired. Please log in again.";
        return Ok(login_page(
            &state,
            &HeaderMap::new(),
            StatusCode::FORBIDDEN,
            username,
            form.get("next"),
            Note::Error(text),
        ));
    }
    let keys = throttle::keys(username, address);
    if let Some(wait) = state.ui.throttle.wait(&keys, Instant::now()) {
        tracing::warn!(username, "admin UI: login throttled");
        let text = format!(
            "Too many failed logins. Try again in {}.",
            super::words::count(wait.as_secs().max(1) as usize, "second")
        );
        return Ok(login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            username,
            form.get("next"),
            Note::Error(&text),
        ));
    }
    let Some(admin) = state
        .manager
        .check_login(username, form.get("password"))
        .await
        .map_err(UiError::from)?
    else {
        state.ui.throttle.failed(&keys, Instant::now());
        tracing::info!(username, "admin UI: login refused");
        let text = "Invalid username or password.";
        return Ok(login_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            username,
            form.get("next"),
            Note::Error(text),
        ));
    };
    state.ui.throttle.succeeded(&keys);
    if let Some(previous) = cookie(&headers, SESSION_COOKIE) {
        state.ui.sessions.end(&previous).await?;
    }
    tracing::info!(username = %admin.username, "admin UI: login");
    let token = state.ui.sessions.create(admin.id).await?;
    let secure = state.config().secure_cookies;
    let mut response = see_other(&safe_next(form.get("next")).unwrap_or_else(|| HOME.into()));
    for value in [
        set_cookie(SESSION_COOKIE, Some(&token), secure),
        set_cookie(LOGIN_COOKIE, None, secure),
    ] {
        if let Ok(value) = value.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// `POST /admin/logout`: ends the session for good, on every instance.
pub async fn logout(State(state): State<AppState>, posted: Posted) -> UiResult {
    state.ui.sessions.end(&posted.session.token).await?;
    let mut response = see_other("/admin/login?logged_out=1");
    let clear = set_cookie(SESSION_COOKIE, None, state.config().secure_cookies);
    if let Ok(value) = clear.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
