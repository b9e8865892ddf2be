//! The admin web UI under `/admin/` (routes added by the admin UI work).

use axum::Router;

use crate::AppState;

/// Routes of the admin UI.
pub fn router() -> Router<AppState> {
    Router::new()
}
