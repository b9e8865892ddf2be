//! `/api/v1/admins…`: the admins who own credentials and sign in to the
//! web UI. Listed, added (with a password), enabled or disabled, given a
//! new password, removed. Password hashes are never answered.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keygate_core::model::Admin;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{ApiJson, ApiPath, ApiQuery};
use super::errors::{ApiError, ApiResult, ErrorBody};
use super::paging::{page_type, Window};

/// An admin.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminBody {
    /// Database id.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// A disabled admin cannot sign in, and its credentials and API tokens
    /// are refused.
    pub enabled: bool,
    /// When it was added (unix seconds).
    pub created_at: i64,
}

impl From<Admin> for AdminBody {
    fn from(admin: Admin) -> Self {
        Self {
            id: admin.id.0,
            username: admin.username,
            enabled: admin.enabled,
            created_at: admin.created_at,
        }
    }
}

page_type!(
    /// One page of admins, in the order they were added.
    AdminList,
    AdminBody
);

/// An admin to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    /// Unique login name (ignoring case).
    pub username: String,
    /// The web UI password.
    pub password: String,
}

/// Changes to an admin; fields left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminChanges {
    /// Enable or disable (disabling also stops its credentials and tokens).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A new web UI password.
    #[serde(default)]
    pub password: Option<String>,
}

/// A page of admins.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminListQuery {
    /// Items per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (empty or left out: the first).
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// The admin's username in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UsernamePath {
    /// The admin's username.
    pub username: String,
}

/// Lists admins.
#[utoipa::path(get, path = "/api/v1/admins", operation_id = "list_admins", tag = "admins",
    params(AdminListQuery),
    responses(
        (status = 200, description = "One page of admins", body = AdminList),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
    ))]
pub async fn list(
    caller: Caller,
    ApiQuery(query): ApiQuery<AdminListQuery>,
) -> ApiResult<axum::Json<AdminList>> {
    let window = Window::from_query(query.limit, query.cursor.as_deref())?;
    // Admins are few: paged in memory.
    let admins = caller.manager.list_admins().await?;
    let (page, next_cursor) = window.slice(admins);
    let items = page.into_iter().map(AdminBody::from).collect();
    Ok(axum::Json(AdminList { items, next_cursor }))
}

/// Adds an enabled admin.
#[utoipa::path(post, path = "/api/v1/admins", operation_id = "create_admin", tag = "admins",
    request_body = NewAdmin,
    responses(
        (status = 201, description = "Added", body = AdminBody,
            headers(("Location" = String, description = "The admin's URL"))),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 422, description = "Invalid username or too weak a password", body = ErrorBody),
    ))]
pub async fn create(caller: Caller, ApiJson(new): ApiJson<NewAdmin>) -> ApiResult<Response> {
    let admin = caller
        .manager
        .add_admin(&new.username, &new.password)
        .await?;
    let body = AdminBody::from(admin);
    let location = format!("/api/v1/admins/{}", encode_segment(&body.username));
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Reads an admin.
#[utoipa::path(get, path = "/api/v1/admins/{username}", operation_id = "get_admin", tag = "admins",
    params(UsernamePath),
    responses(
        (status = 200, description = "The admin", body = AdminBody),
        (status = 404, description = "No such admin", body = ErrorBody),
    ))]
pub async fn get(
    caller: Caller,
    ApiPath(path): ApiPath<UsernamePath>,
) -> ApiResult<axum::Json<AdminBody>> {
    Ok(axum::Json(
        caller.manager.admin(&path.username).await?.into(),
    ))
}

/// Enables or disables an admin, or sets its password.
#[utoipa::path(patch, path = "/api/v1/admins/{username}", operation_id = "update_admin", tag = "admins",
    params(UsernamePath),
    request_body = AdminChanges,
    responses(
        (status = 200, description = "The changed admin", body = AdminBody),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 404, description = "No such admin", body = ErrorBody),
        (status = 409, description = "A token cannot disable its own admin", body = ErrorBody),
        (status = 422, description = "Too weak a password", body = ErrorBody),
    ))]
pub async fn patch(
    caller: Caller,
    ApiPath(path): ApiPath<UsernamePath>,
    ApiJson(changes): ApiJson<AdminChanges>,
) -> ApiResult<axum::Json<AdminBody>> {
    let mut admin = caller.manager.admin(&path.username).await?;
    if changes.enabled == Some(false) {
        not_self(&caller, &admin, "disable")?;
    }
    if let Some(password) = &changes.password {
        caller
            .manager
            .change_password(&admin.username, password)
            .await?;
    }
    if let Some(enabled) = changes.enabled.filter(|e| *e != admin.enabled) {
        admin = caller
            .manager
            .set_admin_enabled(&admin.username, enabled)
            .await?;
    }
    Ok(axum::Json(admin.into()))
}

/// Removes an admin and all its credentials.
#[utoipa::path(delete, path = "/api/v1/admins/{username}", operation_id = "delete_admin", tag = "admins",
    params(UsernamePath),
    responses(
        (status = 204, description = "Removed, with its credentials"),
        (status = 404, description = "No such admin", body = ErrorBody),
        (status = 409, description = "A token cannot remove its own admin", body = ErrorBody),
    ))]
pub async fn delete(caller: Caller, ApiPath(path): ApiPath<UsernamePath>) -> ApiResult<Response> {
    let admin = caller.manager.admin(&path.username).await?;
    not_self(&caller, &admin, "remove")?;
    caller.manager.remove_admin(&admin.username).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// As in the web UI, an admin cannot lock itself out with its own token.
fn not_self(caller: &Caller, admin: &Admin, what: &str) -> Result<(), ApiError> {
    if admin.id == caller.token.admin_id {
        return Err(ApiError::conflict(format!(
            "you cannot {what} the admin whose token you are using ({:?})",
            admin.username
        )));
    }
    Ok(())
}

/// A username as one URL path segment (usernames may hold any printable
/// character).
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
