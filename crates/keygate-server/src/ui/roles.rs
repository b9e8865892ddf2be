//! API Roles workflows: create, edit, delete (with a confirmation).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use keygate_core::model::{Role, RoleId};
use keygate_store::{CredentialQuery, RoleEdit, RoleInput};

use super::extract::{Authed, Posted};
use super::form::FormData;
use super::page::{render, Dialog, ListQuery, RoleForm};
use super::render::{capitalize, is_user_error, see_other, status_of, UiError, UiResult};
use super::session::Session;
use super::views::{allows_any, Affected, Confirm, Picker};
use super::words::count;
use crate::AppState;

/// Routes under `/admin/api-credentials/roles`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/api-credentials/roles/new",
            get(new_form).post(create),
        )
        .route(
            "/admin/api-credentials/roles/{id}/edit",
            get(edit_form).post(update),
        )
        .route(
            "/admin/api-credentials/roles/{id}/delete",
            get(confirm_delete).post(delete),
        )
}

fn role_id(raw: &str) -> Result<RoleId, UiError> {
    raw.parse::<i64>().map(RoleId).map_err(|_| {
        UiError(keygate_store::Error::NotFound(format!(
            "role {raw:?} not found"
        )))
    })
}

/// Renders the roles tab in the list state `back` (a `return` value)
/// names, with the role dialog open.
async fn show_form(
    state: &AppState,
    session: &Session,
    back: &str,
    form: RoleForm,
    status: StatusCode,
) -> UiResult {
    render(
        state,
        session,
        ListQuery::from_return(back, false),
        Dialog::RoleForm(form),
        status,
    )
    .await
}

fn create_form(state: &AppState) -> RoleForm {
    RoleForm {
        heading: "Create API Role",
        action: "/admin/api-credentials/roles/new".into(),
        name: String::new(),
        description: String::new(),
        picker: Picker::new(&state.manager.catalog(), &[]),
        error: None,
    }
}

fn edit_form_of(state: &AppState, role: &Role) -> RoleForm {
    RoleForm {
        heading: "Edit API Role",
        action: format!("/admin/api-credentials/roles/{}/edit", role.id.0),
        name: role.name.clone(),
        description: role.description.clone(),
        picker: Picker::new(&state.manager.catalog(), &role.actions),
        error: None,
    }
}

/// The submitted form shown again with `error`.
fn refill(
    state: &AppState,
    mut form: RoleForm,
    posted: &Posted,
    error: &keygate_store::Error,
) -> RoleForm {
    form.name = posted.form.get("name").to_string();
    form.description = posted.form.get("description").to_string();
    form.picker = Picker::new(&state.manager.catalog(), &posted.form.all("actions"));
    form.error = Some(capitalize(&error.to_string()));
    form
}

/// Where a role form's action returns to: the roles list state it came from.
fn back_to(form: &FormData) -> String {
    ListQuery::from_return(form.get("return"), false).url()
}

fn query_of(query: Option<String>) -> FormData {
    FormData::parse(query.unwrap_or_default().as_bytes())
}

async fn new_form(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let back = query_of(query).get("return").to_string();
    show_form(&state, &session, &back, create_form(&state), StatusCode::OK).await
}

async fn create(State(state): State<AppState>, posted: Posted) -> UiResult {
    let input = RoleInput {
        name: posted.form.get("name").to_string(),
        description: posted.form.get("description").to_string(),
        actions: posted.form.all("actions"),
        categories: Vec::new(),
    };
    match posted.session.acting(&state).create_role(input).await {
        Ok(role) => {
            let note = format!(
                "API role “{}” created with {}.",
                role.name,
                super::words::count(role.actions.len(), "action")
            );
            posted.session.flash(&state, note).await;
            Ok(see_other(&back_to(&posted.form)))
        }
        Err(e) if is_user_error(&e) => {
            let form = refill(&state, create_form(&state), &posted, &e);
            show_form(
                &state,
                &posted.session,
                posted.form.get("return"),
                form,
                status_of(&e),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    Authed(session): Authed,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> UiResult {
    let role = state.manager.role_by_id(role_id(&id)?).await?;
    show_form(
        &state,
        &session,
        query_of(query).get("return"),
        edit_form_of(&state, &role),
        StatusCode::OK,
    )
    .await
}

async fn update(State(state): State<AppState>, Path(id): Path<String>, posted: Posted) -> UiResult {
    let id = role_id(&id)?;
    let edit = RoleEdit {
        name: Some(posted.form.get("name").to_string()),
        description: Some(posted.form.get("description").to_string()),
        set_actions: Some(posted.form.all("actions")),
        ..RoleEdit::default()
    };
    match posted
        .session
        .acting(&state)
        .edit_role_by_id(id, edit)
        .await
    {
        Ok(role) => {
            let note = format!(
                "API role “{}” saved with {}.",
                role.name,
                super::words::count(role.actions.len(), "action")
            );
            posted.session.flash(&state, note).await;
            Ok(see_other(&back_to(&posted.form)))
        }
        Err(e @ keygate_store::Error::NotFound(_)) => Err(e.into()),
        Err(e) if is_user_error(&e) => {
            let role = state.manager.role_by_id(id).await?;
            let form = refill(&state, edit_form_of(&state, &role), &posted, &e);
            show_form(
                &state,
                &posted.session,
                posted.form.get("return"),
                form,
                status_of(&e),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    Authed(session): Authed,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = query_of(query);
    let role = state.manager.role_by_id(role_id(&id)?).await?;
    // One page and two counts, not every holder: a role may be held by a
    // million credentials.
    let holders = state
        .manager
        .credentials_page(&CredentialQuery {
            role: Some(role.id),
            limit: Affected::SHOWN as u32,
            ..CredentialQuery::default()
        })
        .await?;
    let mut message = format!(
        "Delete the API role “{}”? Credentials that hold it lose its permissions at once. This cannot be undone.",
        role.name
    );
    let stranded = stranded(&state, &role, holders.total).await?;
    if stranded > 0 {
        let have = if stranded == 1 { "has" } else { "have" };
        message.push_str(&format!(
            " Without it {} {have} no allowed action: every call is refused.",
            count(stranded, "credential")
        ));
    }
    let heading = match holders.total {
        0 => "Held by no credentials.".to_string(),
        n => format!("Held by {}", count(n as usize, "credential")),
    };
    let confirm = Confirm {
        title: "Delete API Role".into(),
        message,
        affected: Some(Affected::of_page(heading, &holders)),
        action: format!("/admin/api-credentials/roles/{}/delete", role.id.0),
        fields: vec![("return".into(), back_to(&query))],
        button: "Delete",
        cancel: back_to(&query),
    };
    render(
        &state,
        &session,
        ListQuery::from_return(query.get("return"), false),
        Dialog::Confirm(confirm),
        StatusCode::OK,
    )
    .await
}

/// How many of `holders` no other role of theirs gives an allowed action:
/// without `role` every call they make is refused.
/// How many of the role's `holders` would be left with no allowed action
/// without it: counted in the store, against the roles that allow any.
async fn stranded(
    state: &AppState,
    role: &Role,
    holders: u64,
) -> Result<usize, keygate_store::Error> {
    if holders == 0 {
        return Ok(0);
    }
    let roles = state.manager.list_roles().await?;
    let catalog = state.manager.catalog();
    let allowing: Vec<RoleId> = roles
        .iter()
        .filter(|r| r.id != role.id && allows_any(r, &catalog))
        .map(|r| r.id)
        .collect();
    let stranded = state.manager.stranded_holders(role.id, &allowing).await?;
    Ok(usize::try_from(stranded).unwrap_or(usize::MAX))
}

async fn delete(State(state): State<AppState>, Path(id): Path<String>, posted: Posted) -> UiResult {
    let role = state.manager.role_by_id(role_id(&id)?).await?;
    posted
        .session
        .acting(&state)
        .delete_role_by_id(role.id)
        .await?;
    let note = format!("API role “{}” deleted.", role.name);
    posted.session.flash(&state, note).await;
    Ok(see_other(&back_to(&posted.form)).into_response())
}
