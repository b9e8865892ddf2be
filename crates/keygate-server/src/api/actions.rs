//! `GET /api/v1/actions`: the action catalog roles are built from, with
//! each action's category.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::body::ApiQuery;
use super::errors::{ApiError, ApiResult, ErrorBody};
use super::paging::{page_type, Window};

/// An action a role can allow.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionBody {
    /// Canonical name (`GetClientsDetails`).
    pub name: String,
    /// The category it is listed under (`Client`).
    pub category: String,
    /// Declared in the configuration file rather than built in.
    pub custom: bool,
}

page_type!(
    /// One page of the catalog, by category then name as `keygate actions`.
    ActionList,
    ActionBody
);

/// Which actions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionListQuery {
    /// Items per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (empty or left out: the first).
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
    /// Only this category (ignoring case).
    pub category: Option<String>,
}

/// Lists the action catalog.
#[utoipa::path(get, path = "/api/v1/actions", operation_id = "list_actions", tag = "actions",
    params(ActionListQuery),
    responses(
        (status = 200, description = "One page of actions", body = ActionList),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 404, description = "No such category", body = ErrorBody),
    ))]
pub async fn list(
    caller: Caller,
    ApiQuery(query): ApiQuery<ActionListQuery>,
) -> ApiResult<axum::Json<ActionList>> {
    let window = Window::from_query(query.limit, query.cursor.as_deref())?;
    let catalog = caller.manager.catalog();
    let category = match query.category.as_deref() {
        Some(name) => Some(catalog.find_category(name).ok_or_else(|| {
            ApiError::not_found(format!(
                "unknown category {name:?}; categories: {}",
                catalog.categories().join(", ")
            ))
        })?),
        None => None,
    };
    let actions: Vec<ActionBody> = catalog
        .actions()
        .filter(|(_, a)| category.is_none_or(|c| a.category == c))
        .map(|(_, a)| ActionBody {
            name: a.name.clone(),
            category: a.category.clone(),
            custom: a.custom,
        })
        .collect();
    let (items, next_cursor) = window.slice(actions);
    Ok(axum::Json(ActionList { items, next_cursor }))
}
