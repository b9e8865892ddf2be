//! `/api/v1/roles` and `/api/v1/roles/{id}`: named sets of allowed
//! actions, listed, created, read, changed and deleted.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keygate_core::model::{Role, RoleId};
use keygate_store::{RoleEdit, RoleInput, RoleQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{ApiJson, ApiPath, ApiQuery};
use super::errors::{ApiResult, ErrorBody};
use super::etag::{check_if_match, etag_of, with_etag, write_turn};
use super::paging::{page_type, Window};

/// A role: a named set of allowed actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    /// Database id (what `/roles/{id}` and a credential's `roles` take).
    pub id: i64,
    /// Unique name (ignoring case).
    pub name: String,
    /// Free text, may be empty.
    pub description: String,
    /// Canonical names of the allowed actions, sorted.
    pub actions: Vec<String>,
    /// When it was created (unix seconds).
    pub created_at: i64,
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> Self {
        Self {
            id: role.id.0,
            name: role.name,
            description: role.description,
            actions: role.actions,
            created_at: role.created_at,
        }
    }
}

page_type!(
    /// One page of roles, in natural order of their names.
    RoleList,
    RoleBody
);

/// A role to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Unique name (ignoring case).
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Actions to allow (any case; aliases accepted).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Categories whose every action to allow.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// Changes to a role; fields left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChanges {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// Replace every allowed action with these.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Actions to add.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Actions to remove.
    #[serde(default)]
    pub revoke: Vec<String>,
    /// Categories whose every action to add.
    #[serde(default)]
    pub allow_categories: Vec<String>,
    /// Categories whose every action to remove.
    #[serde(default)]
    pub revoke_categories: Vec<String>,
}

/// Which roles to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleListQuery {
    /// Items per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (empty or left out: the first).
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
    /// Words found (ignoring case) in the name or description.
    pub search: Option<String>,
    /// Only roles no credential holds.
    pub unheld: Option<bool>,
}

/// Lists roles.
#[utoipa::path(get, path = "/api/v1/roles", operation_id = "list_roles", tag = "roles",
    params(RoleListQuery),
    responses(
        (status = 200, description = "One page of roles", body = RoleList),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
    ))]
pub async fn list(
    caller: Caller,
    ApiQuery(query): ApiQuery<RoleListQuery>,
) -> ApiResult<axum::Json<RoleList>> {
    let window = Window::from_query(query.limit, query.cursor.as_deref())?;
    let page = caller
        .manager
        .roles_page(&RoleQuery {
            search: query.search.unwrap_or_default(),
            unheld: query.unheld.unwrap_or(false),
            offset: window.offset,
            limit: window.limit,
        })
        .await?;
    let next_cursor = window.next_cursor(page.roles.len(), page.total);
    let items = page.roles.into_iter().map(RoleBody::from).collect();
    Ok(axum::Json(RoleList { items, next_cursor }))
}

/// Creates a role.
#[utoipa::path(post, path = "/api/v1/roles", operation_id = "create_role", tag = "roles",
    request_body = NewRole,
    responses(
        (status = 201, description = "Created", body = RoleBody,
            headers(("ETag" = String, description = "The role's version"),
                    ("Location" = String, description = "The role's URL"))),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid values (unknown action, bad name)", body = ErrorBody),
    ))]
pub async fn create(caller: Caller, ApiJson(new): ApiJson<NewRole>) -> ApiResult<Response> {
    let role = caller
        .manager
        .create_role(RoleInput {
            name: new.name,
            description: new.description,
            actions: new.actions,
            categories: new.categories,
        })
        .await?;
    let body = RoleBody::from(role);
    let mut response = with_etag(StatusCode::CREATED, &body, &etag_of(&body));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/roles/{}", body.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Reads a role.
#[utoipa::path(get, path = "/api/v1/roles/{id}", operation_id = "get_role", tag = "roles",
    params(("id" = i64, Path, description = "The role's id")),
    responses(
        (status = 200, description = "The role", body = RoleBody,
            headers(("ETag" = String, description = "The role's version, for If-Match"))),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
    ))]
pub async fn get(caller: Caller, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let body = RoleBody::from(caller.manager.role_by_id(RoleId(id)).await?);
    Ok(with_etag(StatusCode::OK, &body, &etag_of(&body)))
}

/// Changes a role.
#[utoipa::path(patch, path = "/api/v1/roles/{id}", operation_id = "update_role", tag = "roles",
    params(("id" = i64, Path, description = "The role's id"),
        ("If-Match" = Option<String>, Header, description = "Change only if the role's ETag is still this")),
    request_body = RoleChanges,
    responses(
        (status = 200, description = "The changed role", body = RoleBody,
            headers(("ETag" = String, description = "The role's new version"))),
        (status = 400, description = "Body is not JSON, or the id is not a number", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 409, description = "The new name is taken", body = ErrorBody),
        (status = 412, description = "If-Match does not match the role's ETag", body = ErrorBody),
        (status = 422, description = "Invalid values", body = ErrorBody),
    ))]
pub async fn patch(
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    ApiJson(changes): ApiJson<RoleChanges>,
) -> ApiResult<Response> {
    let _turn = write_turn().await;
    let current = RoleBody::from(caller.manager.role_by_id(RoleId(id)).await?);
    check_if_match(&headers, &etag_of(&current))?;
    let edit = RoleEdit {
        name: changes.name,
        description: changes.description,
        set_actions: changes.actions,
        allow: changes.allow,
        revoke: changes.revoke,
        allow_categories: changes.allow_categories,
        revoke_categories: changes.revoke_categories,
    };
    let body = RoleBody::from(caller.manager.edit_role_by_id(RoleId(id), edit).await?);
    Ok(with_etag(StatusCode::OK, &body, &etag_of(&body)))
}

/// Deletes a role, unassigning it from every credential.
#[utoipa::path(delete, path = "/api/v1/roles/{id}", operation_id = "delete_role", tag = "roles",
    params(("id" = i64, Path, description = "The role's id"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the role's ETag is still this")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 412, description = "If-Match does not match the role's ETag", body = ErrorBody),
    ))]
pub async fn delete(
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let _turn = write_turn().await;
    let current = RoleBody::from(caller.manager.role_by_id(RoleId(id)).await?);
    check_if_match(&headers, &etag_of(&current))?;
    caller.manager.delete_role_by_id(RoleId(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
