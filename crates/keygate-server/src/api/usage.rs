//! `GET /api/v1/credentials/{identifier}/usage?days=N`: a credential's
//! calls per action over a window, as `keygate credential usage --json`.

use std::collections::BTreeMap;

use keygate_core::usage::{hour_of, per_action, ActionUsage};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::{ApiPath, ApiQuery};
use super::credentials::IdentifierPath;
use super::errors::{ApiResult, ErrorBody};

/// Days of usage answered unless `days` says otherwise (as the CLI).
const DEFAULT_DAYS: u32 = 30;

/// The window to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many days back from now (1 to 3650, default 30).
    #[param(minimum = 1, maximum = 3650)]
    pub days: Option<u32>,
}

/// One action's calls over the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionUsageBody {
    /// The action as called.
    pub action: String,
    /// Allowed calls.
    pub allowed: u64,
    /// Denied calls by reason (`action_not_allowed`, `rate_limited`, …).
    pub denied: BTreeMap<String, u64>,
    /// Start of the last hour with a call (unix seconds).
    pub last_hour: i64,
}

/// Every action's calls added up.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct UsageTotals {
    /// Allowed calls.
    pub allowed: u64,
    /// Denied calls, every reason.
    pub denied_total: u64,
    /// Denied calls by reason.
    pub denied: BTreeMap<String, u64>,
}

/// A credential's calls over a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBody {
    /// The credential's identifier.
    pub identifier: String,
    /// Its description.
    pub description: String,
    /// The window's length in days.
    pub days: u32,
    /// Start of the window (unix seconds, the start of an hour).
    pub since: i64,
    /// Per action, by name.
    pub actions: Vec<ActionUsageBody>,
    /// All actions together.
    pub total: UsageTotals,
}

/// A credential's calls per action over the last days.
#[utoipa::path(get, path = "/api/v1/credentials/{identifier}/usage", operation_id = "credential_usage", tag = "credentials",
    params(IdentifierPath, UsageQuery),
    responses(
        (status = 200, description = "Calls per action", body = UsageBody),
        (status = 400, description = "`days` is not a number", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 422, description = "`days` out of range", body = ErrorBody),
    ))]
pub async fn usage(
    caller: Caller,
    ApiPath(path): ApiPath<IdentifierPath>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<axum::Json<UsageBody>> {
    let days = query.days.unwrap_or(DEFAULT_DAYS);
    let usage = caller
        .manager
        .credential_usage(&path.identifier, days)
        .await?;
    let actions = per_action(&usage.buckets);
    Ok(axum::Json(UsageBody {
        identifier: usage.credential.identifier,
        description: usage.credential.description,
        days,
        since: hour_of(usage.since),
        total: totals(&actions),
        actions: actions.into_iter().map(action_body).collect(),
    }))
}

fn action_body(a: ActionUsage) -> ActionUsageBody {
    ActionUsageBody {
        action: a.action,
        allowed: a.allowed,
        denied: a.denied,
        last_hour: a.last_hour,
    }
}

fn totals(actions: &[ActionUsage]) -> UsageTotals {
    let mut total = UsageTotals::default();
    for action in actions {
        total.allowed += action.allowed;
        for (reason, count) in &action.denied {
            *total.denied.entry(reason.clone()).or_default() += count;
            total.denied_total += count;
        }
    }
    total
}
