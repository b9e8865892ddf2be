//! Message pages (403, 404 and other errors) inside `/admin/` keep the
//! normal navigation (header, tabs, logout) for a logged-in admin: the
//! handlers that answer them often do not know the session (an unknown
//! path, a rejected extractor, a store error), so this middleware renders
//! them again with the session's chrome when the request has one.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::extract::current_session;
use super::render::{html, Chrome, MessagePage};
use crate::AppState;

/// What a message page said, kept on its response for [`with_navigation`].
#[derive(Clone, Debug)]
pub struct Framable {
    /// The page's title.
    pub title: String,
    /// The message.
    pub text: String,
}

/// Middleware: a message page answered to a logged-in admin is rendered
/// again with the navigation; status and headers stay as they were.
pub async fn with_navigation(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers().clone();
    let response = next.run(request).await;
    let Some(said) = response.extensions().get::<Framable>().cloned() else {
        return response;
    };
    let Ok(Some(session)) = current_session(&headers, &state).await else {
        return response;
    };
    let page = MessagePage {
        chrome: Chrome::for_session(&state, &session, &said.title, "").await,
        message: said.text,
        back: "/admin/",
    };
    let (mut parts, _) = response.into_parts();
    let (fresh, body) = html(parts.status, &page).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(kind) = fresh.headers.get(header::CONTENT_TYPE) {
        parts.headers.insert(header::CONTENT_TYPE, kind.clone());
    }
    Response::from_parts(parts, body)
}
