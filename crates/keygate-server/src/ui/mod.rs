//! The admin web UI under `/admin/` (DESIGN.md "Admin web UI").
//!
//! Server-rendered askama pages; dialogs are pages of their own (a URL that
//! renders the screen with the dialog open), so every workflow also works
//! without JavaScript and a validation error simply re-renders the dialog.
//! `assets/app.js` only adds comfort: the permission picker's category menu,
//! select-all and counts, the copy button, in-place description edits.
//!
//! Security: argon2id logins with throttling ([`throttle`]), in-memory
//! sessions re-checked against the admin's state on every request
//! ([`session`]), a CSRF token on every state-changing request
//! ([`extract`]), auto-escaped templates and strict headers ([`assets`]).

mod a11y;
mod admins;
mod assets;
mod credentials;
mod extract;
mod form;
mod framed;
mod lifecycle;
mod listing;
mod login;
mod next;
mod overview;
mod page;
mod render;
mod roles;
mod session;
mod sort_menu;
mod throttle;
mod time;
mod views;
mod words;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub use framed::with_navigation;
pub use session::Sessions;
pub use throttle::LoginThrottle;

/// The admin UI's own state: sessions and login throttling (in memory, so
/// a restart logs everyone out).
#[derive(Default)]
pub struct UiState {
    /// Logged-in sessions.
    pub sessions: Sessions,
    /// Failed-login bookkeeping.
    pub throttle: LoginThrottle,
}

/// Routes of the admin UI, with the UI's security headers on every answer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(login::root))
        .route("/admin/", get(login::root))
        .route("/admin/login", get(login::form).post(login::submit))
        .route("/admin/logout", post(login::logout))
        .route("/admin/api-credentials", get(page::show))
        .merge(roles::router())
        .merge(credentials::router())
        .merge(admins::router())
        .route("/admin/assets/{file}", get(assets::serve))
        .route(
            "/admin/{*rest}",
            get(render::not_found).post(render::not_found),
        )
        .layer(middleware::map_response(assets::security_headers))
}
