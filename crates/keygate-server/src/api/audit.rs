//! `GET /api/v1/audit`: the audit trail of management changes, newest
//! first, filtered like `keygate audit --since/--actor/--target`.

use keygate_core::audit::AuditEvent;
use keygate_store::AuditQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::ApiQuery;
use super::errors::{ApiResult, ErrorBody};
use super::paging::{page_type, Window};

/// One management change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    /// Position in the hash chain, from 1.
    pub id: i64,
    /// When (unix seconds).
    pub at: i64,
    /// Who: an admin's username (also for API tokens), `cli:USER`, `system`.
    pub actor: String,
    /// The client address, for changes made over HTTP.
    #[schema(required = true)]
    pub source: Option<String>,
    /// What (`credential.rotate`, `role.edit`, …).
    pub verb: String,
    /// `admin`, `role`, `credential`, `database` or `token`.
    pub target_kind: String,
    /// The target's key: a credential identifier, role id, username.
    pub target_id: String,
    /// The target's readable name.
    pub target_name: String,
    /// Per field, before and after.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    /// This event's hash in the chain.
    pub hash: String,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(event: AuditEvent) -> Self {
        Self {
            changes: event.changes_value(),
            id: event.id,
            at: event.at,
            actor: event.actor,
            source: event.source,
            verb: event.verb,
            target_kind: event.target_kind,
            target_id: event.target_id,
            target_name: event.target_name,
            hash: event.hash,
        }
    }
}

page_type!(
    /// One page of audit events, newest first.
    AuditList,
    AuditEventBody
);

/// Which events to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// Items per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (empty or left out: the first).
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
    /// Events at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Events by this actor (`alice`, `cli:root`), ignoring case.
    pub actor: Option<String>,
    /// Events about this target: a credential identifier, role id, admin
    /// username, role name or credential description.
    pub target: Option<String>,
}

/// Lists audit events, newest first.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_events", tag = "audit",
    params(AuditListQuery),
    responses(
        (status = 200, description = "One page of events", body = AuditList),
        (status = 400, description = "Bad limit, cursor or filter", body = ErrorBody),
    ))]
pub async fn list(
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditListQuery>,
) -> ApiResult<axum::Json<AuditList>> {
    let window = Window::from_query(query.limit, query.cursor.as_deref())?;
    let blank_is_none =
        |text: Option<String>| text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let page = caller
        .manager
        .audit_events(&AuditQuery {
            since: query.since,
            actor: blank_is_none(query.actor),
            target: blank_is_none(query.target),
            offset: window.offset,
            limit: window.limit,
        })
        .await?;
    let next_cursor = window.next_cursor(page.events.len(), page.total);
    let items = page.events.into_iter().map(Into::into).collect();
    Ok(axum::Json(AuditList { items, next_cursor }))
}
