//! API Roles workflows: create, edit, delete (with a confirmation).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use keygate_core::model::{Role, RoleId};
use keygate_store::{RoleEdit, RoleInput};

use super::extract::{Authed, Posted};
use super::page::{render, Dialog, ListQuery, RoleForm, ROLES_URL};
use super::render::{capitalize, is_user_error, see_other, status_of, UiError, UiResult};
use super::session::Session;
use super::views::{Confirm, Picker};
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

async fn show_form(
    state: &AppState,
    session: &Session,
    form: RoleForm,
    status: StatusCode,
) -> UiResult {
    render(
        state,
        session,
        ListQuery::tab(false),
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

async fn new_form(State(state): State<AppState>, Authed(session): Authed) -> UiResult {
    show_form(&state, &session, create_form(&state), StatusCode::OK).await
}

async fn create(State(state): State<AppState>, posted: Posted) -> UiResult {
    let input = RoleInput {
        name: posted.form.get("name").to_string(),
        description: posted.form.get("description").to_string(),
        actions: posted.form.all("actions"),
        categories: Vec::new(),
    };
    match state.manager.create_role(input).await {
        Ok(role) => {
            let note = format!(
                "API role “{}” created with {} actions.",
                role.name,
                role.actions.len()
            );
            state.ui.sessions.set_flash(&posted.session.token, note);
            Ok(see_other(ROLES_URL))
        }
        Err(e) if is_user_error(&e) => {
            let form = refill(&state, create_form(&state), &posted, &e);
            show_form(&state, &posted.session, form, status_of(&e)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    Authed(session): Authed,
    Path(id): Path<String>,
) -> UiResult {
    let role = state.manager.role_by_id(role_id(&id)?).await?;
    show_form(
        &state,
        &session,
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
    match state.manager.edit_role_by_id(id, edit).await {
        Ok(role) => {
            let note = format!(
                "API role “{}” saved with {} actions.",
                role.name,
                role.actions.len()
            );
            state.ui.sessions.set_flash(&posted.session.token, note);
            Ok(see_other(ROLES_URL))
        }
        Err(e @ keygate_store::Error::NotFound(_)) => Err(e.into()),
        Err(e) if is_user_error(&e) => {
            let role = state.manager.role_by_id(id).await?;
            let form = refill(&state, edit_form_of(&state, &role), &posted, &e);
            show_form(&state, &posted.session, form, status_of(&e)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    Authed(session): Authed,
    Path(id): Path<String>,
) -> UiResult {
    let role = state.manager.role_by_id(role_id(&id)?).await?;
    let confirm = Confirm {
        title: "Delete API Role".into(),
        message: format!(
            "Delete the API role “{}”? Credentials that hold it lose its permissions at once. This cannot be undone.",
            role.name
        ),
        action: format!("/admin/api-credentials/roles/{}/delete", role.id.0),
        fields: Vec::new(),
        button: "Delete",
        cancel: ROLES_URL.into(),
    };
    render(
        &state,
        &session,
        ListQuery::tab(false),
        Dialog::Confirm(confirm),
        StatusCode::OK,
    )
    .await
}

async fn delete(State(state): State<AppState>, Path(id): Path<String>, posted: Posted) -> UiResult {
    let role = state.manager.role_by_id(role_id(&id)?).await?;
    state.manager.delete_role_by_id(role.id).await?;
    let note = format!("API role “{}” deleted.", role.name);
    state.ui.sessions.set_flash(&posted.session.token, note);
    Ok(see_other(ROLES_URL).into_response())
}
