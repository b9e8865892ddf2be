//! Turning templates and errors into responses: the page chrome every
//! screen shares, the message page, and the mapping of management errors to
//! statuses (user errors re-render their form elsewhere; what reaches
//! [`UiError`] is shown as a message page, never as a bare 500).

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use keygate_store::Error;

use super::assets;
use super::session::Session;
use crate::AppState;

/// The logged-in admin shown in the header, with the logout form's token.
pub struct UserBar {
    /// Username.
    pub username: String,
    /// CSRF token for the logout form.
    pub csrf: String,
}

/// What the shared layout (`base.html`) needs.
pub struct Chrome {
    /// The `<title>` and main heading.
    pub title: String,
    /// The logged-in admin, if any (no navigation without one).
    pub user: Option<UserBar>,
    /// Which navigation entry is current: `credentials` or `admins`.
    pub active: &'static str,
    /// A one-time notice from the previous action.
    pub flash: Option<String>,
    /// Cache-busting version of the embedded assets.
    pub version: &'static str,
}

impl Chrome {
    /// Chrome for a logged-in page; takes the session's pending notice.
    pub async fn for_session(
        state: &AppState,
        session: &Session,
        title: &str,
        active: &'static str,
    ) -> Self {
        Self {
            title: title.to_string(),
            user: Some(UserBar {
                username: session.username.clone(),
                csrf: session.csrf.clone(),
            }),
            active,
            flash: state.ui.sessions.take_flash(&session.token).await,
            version: assets::version(),
        }
    }

    /// Chrome for pages seen without a session.
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_string(),
            user: None,
            active: "",
            flash: None,
            version: assets::version(),
        }
    }
}

/// Renders `page` with `status`; a template failure becomes a plain 500.
pub fn html<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin UI template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page that only says something, with a way back.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Layout.
    pub chrome: Chrome,
    /// What to say.
    pub message: String,
    /// Where "back" leads.
    pub back: &'static str,
}

/// A message page.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let page = MessagePage {
        chrome: Chrome::anonymous(title),
        message: text.to_string(),
        back: "/admin/",
    };
    let mut response = html(status, &page);
    // Re-rendered with the navigation when logged in (see `framed`).
    response.extensions_mut().insert(super::framed::Framable {
        title: title.to_string(),
        text: text.to_string(),
    });
    response
}

/// 303 See Other to `location`.
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// Unknown pages under `/admin/`.
pub async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no such page in the keygate admin area.",
    )
}

/// The status a management error answers with.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Whether the error is the user's to fix (shown in the form).
pub fn is_user_error(error: &Error) -> bool {
    matches!(
        error,
        Error::Invalid(_) | Error::NotFound(_) | Error::Conflict(_)
    )
}

/// A failure shown as a message page.
#[derive(Debug)]
pub struct UiError(pub Error);

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let text = match &self.0 {
            Error::Database(e) => {
                tracing::error!(error = %e, "admin UI database error");
                "Something went wrong while talking to the database. The details are in the server log.".to_string()
            }
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "admin UI: database unavailable");
                format!("The database is unavailable: {m}. Try again in a moment.")
            }
            other => capitalize(&other.to_string()),
        };
        let title = if status == StatusCode::NOT_FOUND {
            "Not found"
        } else {
            "Error"
        };
        message(status, title, &text)
    }
}

/// Management messages start in lowercase (CLI style); pages want a capital.
pub fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The handlers' result.
pub type UiResult = Result<Response, UiError>;
