//! The admin web UI under `/admin/` (DESIGN.md "Admin web UI").
//!
//! Server-rendered askama pages; dialogs are pages of their own (a URL that
//! renders the screen with the dialog open), so every workflow also works
//! without JavaScript and a validation error simply re-renders the dialog.
//! `assets/app.js` only adds comfort: the permission picker's category menu,
//! select-all and counts, the copy button, in-place description edits.
//!
//! Security: argon2id logins with throttling ([`throttle`]), sessions in
//! the database shared by every instance and re-checked against the admin's
//! state on every request ([`session`]), a CSRF token on every state-changing request
//! ([`extract`]), auto-escaped templates and strict headers ([`assets`]).

mod a11y;
mod admins;
mod assets;
mod audit;
mod chart;
mod credential_page;
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
mod tokens;
mod views;
mod words;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub use framed::with_navigation;
pub use session::{prune_loop as prune_sessions_loop, Sessions};
pub use throttle::LoginThrottle;

/// The admin UI's own state: sessions (in the database, shared by every
/// instance) and login throttling (in memory, per instance).
pub struct UiState {
    /// Logged-in sessions.
    pub sessions: Sessions,
    /// Failed-login bookkeeping.
    pub throttle: LoginThrottle,
}

impl UiState {
    /// Sessions kept through `manager`, no failed logins yet.
    pub fn new(manager: keygate_store::Manager) -> Self {
        Self {
            sessions: Sessions::new(manager),
            throttle: LoginThrottle::default(),
        }
    }
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
        .merge(tokens::router())
        .merge(audit::router())
        .merge(credential_page::router())
        .route("/admin/assets/{file}", get(assets::serve))
        .route(
            "/admin/{*rest}",
            get(render::not_found).post(render::not_found),
        )
        .layer(middleware::map_response(assets::security_headers))
}
