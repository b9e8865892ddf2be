//! `/api/v1/credentials…`: API credentials listed, generated (the secret
//! answered once), read, changed (roles, enabled, expiry, allowlist, rate
//! limit, client scope), rotated and deleted.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keygate_core::model::{ClientId, Credential, Lifecycle, RoleId};
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_store::{CredentialEdit, CredentialQuery, CredentialState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{double_option, ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::errors::{ApiError, ApiResult, ErrorBody};
use super::etag::{check_if_match, etag_of, with_etag, write_turn};
use super::paging::{page_type, Window};

/// How long the old secret keeps working after a rotation unless the
/// request says otherwise (as `keygate credential rotate`): 24 hours.
pub const DEFAULT_OVERLAP_SECS: u64 = 86_400;

/// The longest overlap a rotation takes: ten years (longer is a mistake).
pub const MAX_OVERLAP_SECS: u64 = 3650 * 86_400;

/// A role as a credential names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleRefBody {
    /// The role's id.
    pub id: i64,
    /// The role's current name.
    pub name: String,
}

/// An API credential. Never carries its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialBody {
    /// Database id.
    pub id: i64,
    /// The public identifier clients send.
    pub identifier: String,
    /// The owning admin's id.
    pub admin_id: i64,
    /// The owning admin's username.
    pub admin: String,
    /// Free text, may be empty.
    pub description: String,
    /// The roles it holds.
    pub roles: Vec<RoleRefBody>,
    /// When it was generated (unix seconds).
    pub created_at: i64,
    /// Its last authenticated use (unix seconds), if any. Not part of its
    /// ETag: using a credential does not make an edit stale.
    #[schema(required = true)]
    pub last_access: Option<i64>,
    /// A disabled credential fails authentication.
    pub enabled: bool,
    /// When it stops working (unix seconds); `null`: never.
    #[schema(required = true)]
    pub expires_at: Option<i64>,
    /// Networks calls may come from (`203.0.113.0/24`, `2001:db8::1`);
    /// empty: any address.
    pub allow_ips: Vec<String>,
    /// Calls allowed per period (`600/m`); `null`: the configured default.
    #[schema(required = true)]
    pub rate_limit: Option<String>,
    /// WHMCS client ids it is bound to; empty: not client-scoped.
    pub client_ids: Vec<i64>,
    /// During a rotation: when the previous secret stops (unix seconds).
    #[schema(required = true)]
    pub old_secret_valid_until: Option<i64>,
}

impl From<Credential> for CredentialBody {
    fn from(c: Credential) -> Self {
        Self {
            id: c.id.0,
            identifier: c.identifier,
            admin_id: c.admin_id.0,
            admin: c.admin,
            description: c.description,
            roles: (c.roles.into_iter())
                .map(|r| RoleRefBody {
                    id: r.id.0,
                    name: r.name,
                })
                .collect(),
            created_at: c.created_at,
            last_access: c.last_access,
            enabled: c.lifecycle.enabled,
            expires_at: c.lifecycle.expires_at,
            allow_ips: c
                .lifecycle
                .allow_ips
                .iter()
                .map(ToString::to_string)
                .collect(),
            rate_limit: c.lifecycle.rate_limit.map(|r| r.to_string()),
            client_ids: c.lifecycle.client_ids.iter().map(|id| id.0).collect(),
            old_secret_valid_until: c.old_secret_valid_until,
        }
    }
}

impl CredentialBody {
    /// The version: everything but the last access.
    pub fn etag(&self) -> String {
        let mut json = serde_json::to_value(self).unwrap_or_default();
        if let Some(fields) = json.as_object_mut() {
            fields.remove("last_access");
        }
        etag_of(&json)
    }
}

page_type!(
    /// One page of credentials, oldest first.
    CredentialList,
    CredentialBody
);

/// A credential just generated or rotated, with its secret: shown here
/// and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialWithSecret {
    /// The credential.
    pub credential: CredentialBody,
    /// The secret; keygate keeps only its hashes.
    pub secret: String,
    /// After a rotation: when the previous secret stops (unix seconds);
    /// `null` when it stopped at once (and always on generation).
    #[schema(required = true)]
    pub old_secret_valid_until: Option<i64>,
}

/// A credential to generate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// The owning admin's username; default: the token's admin.
    #[serde(default)]
    pub admin: Option<String>,
    /// Free text: who or what uses it.
    #[serde(default)]
    pub description: String,
    /// Ids of the roles it holds.
    #[serde(default)]
    pub roles: Vec<i64>,
    /// Whether it works from the start (default true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// When it stops working (unix seconds, in the future).
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Networks calls may come from; empty: any address.
    #[serde(default)]
    pub allow_ips: Vec<String>,
    /// Calls allowed per period (`600/m`, `10/s`, `5000/h`); default: the
    /// configured default.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// WHMCS client ids to bind it to; empty: not client-scoped.
    #[serde(default)]
    pub client_ids: Vec<i64>,
}

fn enabled_by_default() -> bool {
    true
}

/// Changes to a credential; fields left out stay as they are, `null`
/// clears `expires_at` and `rate_limit`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialChanges {
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// Replace the roles with these ids (empty: no roles).
    #[serde(default)]
    pub roles: Option<Vec<i64>>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Set (unix seconds, in the future) or clear (`null`) the expiry.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub expires_at: Option<Option<i64>>,
    /// Replace the IP allowlist (empty: any address).
    #[serde(default)]
    pub allow_ips: Option<Vec<String>>,
    /// Set (`600/m`) or clear (`null`: the configured default) the rate
    /// limit.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub rate_limit: Option<Option<String>>,
    /// Replace the client scope (empty: not client-scoped).
    #[serde(default)]
    pub client_ids: Option<Vec<i64>>,
}

/// How to rotate.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the current secret keeps working, in seconds (default
    /// 86400; 0: it stops at once; at most ten years).
    #[serde(default)]
    #[schema(maximum = 315_360_000)]
    pub overlap_seconds: Option<u64>,
}

/// Credentials in a state.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    /// Enabled and not expired.
    Enabled,
    /// Disabled.
    Disabled,
    /// Enabled but past its expiry.
    Expired,
    /// Not used for a long time, or never.
    Unused,
}

/// Which credentials to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CredentialListQuery {
    /// Items per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (empty or left out: the first).
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
    /// Words found (ignoring case) in the identifier, description, owner
    /// or a held role's name, or a client id.
    pub search: Option<String>,
    /// Owned by the admin with this username.
    pub admin: Option<String>,
    /// Holding the role with this id.
    pub role: Option<i64>,
    /// Bound to this WHMCS client id.
    pub client: Option<i64>,
    /// In this state.
    #[param(inline)]
    pub state: Option<StateFilter>,
}

/// The credential's identifier in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdentifierPath {
    /// The credential's identifier.
    pub identifier: String,
}

/// Lists credentials.
#[utoipa::path(get, path = "/api/v1/credentials", operation_id = "list_credentials", tag = "credentials",
    params(CredentialListQuery),
    responses(
        (status = 200, description = "One page of credentials", body = CredentialList),
        (status = 400, description = "Bad limit, cursor or filter", body = ErrorBody),
    ))]
pub async fn list(
    caller: Caller,
    ApiQuery(query): ApiQuery<CredentialListQuery>,
) -> ApiResult<axum::Json<CredentialList>> {
    let window = Window::from_query(query.limit, query.cursor.as_deref())?;
    let admin = match query.admin.as_deref() {
        Some(name) => match caller.manager.admin(name).await {
            Ok(admin) => Some(admin.id),
            // An unknown owner owns nothing.
            Err(keygate_store::Error::NotFound(_)) => {
                return Ok(axum::Json(CredentialList {
                    items: Vec::new(),
                    next_cursor: None,
                }))
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let store_query = CredentialQuery {
        search: query.search.unwrap_or_default(),
        admin,
        role: query.role.map(RoleId),
        client: query.client.map(ClientId),
        state: query.state.map(|s| match s {
            StateFilter::Enabled => CredentialState::Enabled,
            StateFilter::Disabled => CredentialState::Disabled,
            StateFilter::Expired => CredentialState::Expired,
            StateFilter::Unused => CredentialState::Unused,
        }),
        offset: window.offset,
        limit: window.limit,
        ..CredentialQuery::default()
    };
    let page = caller.manager.credentials_page(&store_query).await?;
    let next_cursor = window.next_cursor(page.credentials.len(), page.total);
    let items = page.credentials.into_iter().map(Into::into).collect();
    Ok(axum::Json(CredentialList { items, next_cursor }))
}

/// Generates a credential; the answer holds its secret, shown only here.
#[utoipa::path(post, path = "/api/v1/credentials", operation_id = "generate_credential", tag = "credentials",
    request_body = NewCredential,
    responses(
        (status = 201, description = "Generated; the secret is shown only now", body = CredentialWithSecret,
            headers(("ETag" = String, description = "The credential's version"),
                    ("Location" = String, description = "The credential's URL"))),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid values (unknown admin or role, past expiry, bad network or rate)", body = ErrorBody),
    ))]
pub async fn create(caller: Caller, ApiJson(new): ApiJson<NewCredential>) -> ApiResult<Response> {
    let lifecycle = Lifecycle {
        enabled: new.enabled,
        expires_at: new.expires_at,
        allow_ips: parse_nets(&new.allow_ips)?,
        rate_limit: new.rate_limit.as_deref().map(parse_rate).transpose()?,
        client_ids: new.client_ids.into_iter().map(ClientId).collect(),
    };
    let roles: Vec<RoleId> = new.roles.into_iter().map(RoleId).collect();
    let admin = new.admin.unwrap_or_else(|| caller.token.admin.clone());
    let (credential, secret) = caller
        .manager
        .generate_credential_with_ids(&admin, &new.description, &roles, lifecycle)
        .await
        .map_err(named_in_body)?;
    let credential = CredentialBody::from(credential);
    let etag = credential.etag();
    let location = format!("/api/v1/credentials/{}", credential.identifier);
    let body = CredentialWithSecret {
        credential,
        secret: secret.expose().to_string(),
        old_secret_valid_until: None,
    };
    let mut response = with_etag(StatusCode::CREATED, &body, &etag);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Reads a credential.
#[utoipa::path(get, path = "/api/v1/credentials/{identifier}", operation_id = "get_credential", tag = "credentials",
    params(IdentifierPath),
    responses(
        (status = 200, description = "The credential", body = CredentialBody,
            headers(("ETag" = String, description = "The credential's version, for If-Match"))),
        (status = 404, description = "No such credential", body = ErrorBody),
    ))]
pub async fn get(caller: Caller, ApiPath(path): ApiPath<IdentifierPath>) -> ApiResult<Response> {
    let body = CredentialBody::from(caller.manager.credential(&path.identifier).await?);
    Ok(with_etag(StatusCode::OK, &body, &body.etag()))
}

/// Changes a credential (enable or disable it with `enabled`).
#[utoipa::path(patch, path = "/api/v1/credentials/{identifier}", operation_id = "update_credential", tag = "credentials",
    params(IdentifierPath,
        ("If-Match" = Option<String>, Header, description = "Change only if the credential's ETag is still this")),
    request_body = CredentialChanges,
    responses(
        (status = 200, description = "The changed credential", body = CredentialBody,
            headers(("ETag" = String, description = "The credential's new version"))),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 412, description = "If-Match does not match the credential's ETag", body = ErrorBody),
        (status = 422, description = "Invalid values", body = ErrorBody),
    ))]
pub async fn patch(
    caller: Caller,
    ApiPath(path): ApiPath<IdentifierPath>,
    headers: HeaderMap,
    ApiJson(changes): ApiJson<CredentialChanges>,
) -> ApiResult<Response> {
    let edit = credential_edit(changes)?;
    let _turn = write_turn().await;
    let current = caller.manager.credential(&path.identifier).await?;
    let id = current.id;
    let current = CredentialBody::from(current);
    check_if_match(&headers, &current.etag())?;
    if edit.is_empty() {
        return Ok(with_etag(StatusCode::OK, &current, &current.etag()));
    }
    let changed = caller
        .manager
        .edit_credential_by_id(id, edit)
        .await
        .map_err(named_in_body)?;
    let body = CredentialBody::from(changed);
    Ok(with_etag(StatusCode::OK, &body, &body.etag()))
}

/// Deletes a credential; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/credentials/{identifier}", operation_id = "delete_credential", tag = "credentials",
    params(IdentifierPath,
        ("If-Match" = Option<String>, Header, description = "Delete only if the credential's ETag is still this")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 412, description = "If-Match does not match the credential's ETag", body = ErrorBody),
    ))]
pub async fn delete(
    caller: Caller,
    ApiPath(path): ApiPath<IdentifierPath>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let _turn = write_turn().await;
    let current = CredentialBody::from(caller.manager.credential(&path.identifier).await?);
    check_if_match(&headers, &current.etag())?;
    caller
        .manager
        .delete_credential(&current.identifier)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Gives a credential a new secret, shown only in this answer; the old
/// one keeps working for the overlap.
#[utoipa::path(post, path = "/api/v1/credentials/{identifier}/rotate", operation_id = "rotate_credential", tag = "credentials",
    params(IdentifierPath,
        ("If-Match" = Option<String>, Header, description = "Rotate only if the credential's ETag is still this")),
    request_body(content = Option<Rotation>, description = "Optional; default overlap 86400 seconds"),
    responses(
        (status = 200, description = "Rotated; the new secret is shown only now", body = CredentialWithSecret,
            headers(("ETag" = String, description = "The credential's new version"))),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 412, description = "If-Match does not match the credential's ETag", body = ErrorBody),
        (status = 422, description = "Invalid overlap", body = ErrorBody),
    ))]
pub async fn rotate(
    caller: Caller,
    ApiPath(path): ApiPath<IdentifierPath>,
    headers: HeaderMap,
    OptionalJson(rotation): OptionalJson<Rotation>,
) -> ApiResult<Response> {
    let overlap = rotation.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECS);
    if overlap > MAX_OVERLAP_SECS {
        return Err(ApiError::invalid(format!(
            "overlap_seconds must be at most {MAX_OVERLAP_SECS} (ten years)"
        )));
    }
    let overlap = Duration::from_secs(overlap);
    let _turn = write_turn().await;
    let current = CredentialBody::from(caller.manager.credential(&path.identifier).await?);
    check_if_match(&headers, &current.etag())?;
    let (credential, secret, old_until) = caller
        .manager
        .rotate_credential(&current.identifier, overlap)
        .await?;
    let credential = CredentialBody::from(credential);
    let etag = credential.etag();
    let body = CredentialWithSecret {
        credential,
        secret: secret.expose().to_string(),
        old_secret_valid_until: old_until,
    };
    Ok(with_etag(StatusCode::OK, &body, &etag))
}

/// The edit a PATCH body asks for, its networks and rate read.
fn credential_edit(changes: CredentialChanges) -> ApiResult<CredentialEdit<RoleId>> {
    Ok(CredentialEdit {
        description: changes.description,
        roles: changes
            .roles
            .map(|ids| ids.into_iter().map(RoleId).collect()),
        enabled: changes.enabled,
        expires_at: changes.expires_at,
        allow_ips: changes.allow_ips.as_deref().map(parse_nets).transpose()?,
        rate_limit: match changes.rate_limit {
            Some(Some(text)) => Some(Some(parse_rate(&text)?)),
            Some(None) => Some(None),
            None => None,
        },
        client_ids: changes
            .client_ids
            .map(|ids| ids.into_iter().map(ClientId).collect()),
    })
}

/// Networks as written (`203.0.113.0/24`, `2001:db8::1`); 422 on a bad one.
fn parse_nets(texts: &[String]) -> ApiResult<Vec<IpNet>> {
    texts
        .iter()
        .map(|text| {
            text.trim().parse::<IpNet>().map_err(|e| {
                ApiError::invalid(format!("invalid network {text:?} in allow_ips: {e}"))
            })
        })
        .collect()
}

/// A rate as written (`600/m`); 422 on a bad one.
fn parse_rate(text: &str) -> ApiResult<Rate> {
    text.trim()
        .parse::<Rate>()
        .map_err(|e| ApiError::invalid(format!("invalid rate_limit {text:?}: {e}")))
}

/// An admin or role the body names that does not exist is the body's
/// fault (422), not a missing resource at the URL (404).
fn named_in_body(e: keygate_store::Error) -> ApiError {
    match e {
        keygate_store::Error::NotFound(m) => ApiError::invalid(m),
        other => other.into(),
    }
}
