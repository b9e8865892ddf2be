//! The management REST API under `/api/v1` (DESIGN.md "Management API"):
//! the CLI's operations over HTTP with `Authorization: Bearer kgat_…`,
//! JSON in and out, every change made through the [`keygate_store::Manager`]
//! as the token's admin (so audited like the UI and the CLI).
//!
//! - [`auth`]: the bearer token; [`errors`]: the one error shape;
//!   [`body`]: reading bodies, queries and paths; [`paging`]: cursors;
//!   [`etag`]: `ETag` / `If-Match`.
//! - One module per resource; [`openapi`]: the generated document.
//!
//! The router is built from [`routes`], the same table the tests compare
//! with the OpenAPI document, so a route cannot be served undocumented.

pub mod actions;
pub mod admins;
pub mod audit;
pub mod auth;
pub mod body;
pub mod credentials;
pub mod errors;
pub mod etag;
pub mod openapi;
pub mod paging;
pub mod roles;
pub mod usage;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::AppState;
use errors::ApiError;

/// Where the API is mounted.
pub const PREFIX: &str = "/api/v1";

/// The largest request body the API reads (a credential with a full
/// allowlist and client scope is a few kilobytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One route: method, path under [`PREFIX`] (`{name}` for a segment, as
/// both axum and OpenAPI write it) and its handler.
pub struct ApiRoute {
    /// HTTP method.
    pub method: Method,
    /// Path under [`PREFIX`].
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> ApiRoute
where
    H: Handler<T, AppState>,
    T: 'static,
{
    // Only the standard methods below are used: this cannot fail.
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    ApiRoute {
        method,
        path,
        handler: on(filter, handler),
    }
}

/// Every route of the API.
pub fn routes() -> Vec<ApiRoute> {
    use Method as M;
    vec![
        route(M::GET, "/openapi.json", openapi::document),
        route(M::GET, "/admins", admins::list),
        route(M::POST, "/admins", admins::create),
        route(M::GET, "/admins/{username}", admins::get),
        route(M::PATCH, "/admins/{username}", admins::patch),
        route(M::DELETE, "/admins/{username}", admins::delete),
        route(M::GET, "/roles", roles::list),
        route(M::POST, "/roles", roles::create),
        route(M::GET, "/roles/{id}", roles::get),
        route(M::PATCH, "/roles/{id}", roles::patch),
        route(M::DELETE, "/roles/{id}", roles::delete),
        route(M::GET, "/credentials", credentials::list),
        route(M::POST, "/credentials", credentials::create),
        route(M::GET, "/credentials/{identifier}", credentials::get),
        route(M::PATCH, "/credentials/{identifier}", credentials::patch),
        route(M::DELETE, "/credentials/{identifier}", credentials::delete),
        route(
            M::POST,
            "/credentials/{identifier}/rotate",
            credentials::rotate,
        ),
        route(M::GET, "/credentials/{identifier}/usage", usage::usage),
        route(M::GET, "/actions", actions::list),
        route(M::GET, "/audit", audit::list),
    ]
}

/// The API's router, to nest at [`PREFIX`]: unknown paths answer 404 and
/// wrong methods 405, both as JSON; nothing is cached (answers may hold
/// secrets).
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for route in routes() {
        // Routes on one path merge into one method router.
        router = router.route(route.path, route.handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(no_store))
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// 404 as JSON, for paths under [`PREFIX`] that are not routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such API endpoint; see /api/v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /api/v1/openapi.json",
    )
}

/// See [`body::check_uri`].
async fn refuse_nul(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match body::check_uri(request.uri()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
