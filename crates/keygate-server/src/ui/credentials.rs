//! API Credentials workflows: generate (the secret shown once), edit the
//! roles, edit the description in place, delete (with a confirmation).
//! Credentials are named by identifier in query strings and form fields,
//! never in the path: imported identifiers may hold any printable character.

use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keygate_core::model::{Role, RoleId};
use keygate_store::Error;
use serde_json::json;

use super::extract::{Authed, Posted};
use super::form::FormData;
use super::page::{
    render, Dialog, EditCredentialForm, GenerateForm, ListQuery, SecretView, CREDENTIALS_URL,
};
use super::render::{capitalize, is_user_error, see_other, status_of, UiResult};
use super::session::Session;
use super::views::{Choice, Confirm};
use crate::AppState;

/// Routes under `/admin/api-credentials/credentials`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/api-credentials/credentials/new",
            get(generate_form).post(generate),
        )
        .route("/admin/api-credentials/credentials/created", get(created))
        .route(
            "/admin/api-credentials/credentials/edit",
            get(edit_form).post(update_roles),
        )
        .route(
            "/admin/api-credentials/credentials/description",
            post(update_description),
        )
        .route(
            "/admin/api-credentials/credentials/delete",
            get(confirm_delete).post(delete),
        )
}

async fn show(state: &AppState, session: &Session, dialog: Dialog, status: StatusCode) -> UiResult {
    render(state, session, ListQuery::tab(true), dialog, status).await
}

fn role_choices(roles: &[Role], checked: &[i64]) -> Vec<Choice> {
    roles
        .iter()
        .map(|r| Choice {
            value: r.id.0.to_string(),
            label: r.name.clone(),
            checked: checked.contains(&r.id.0),
        })
        .collect()
}

/// The generate dialog; `admin` preselected, `form` the values to refill.
async fn generate_dialog(
    state: &AppState,
    admin: &str,
    form: Option<&FormData>,
) -> Result<GenerateForm, Error> {
    let roles = state.manager.list_roles().await?;
    let admins = state.manager.list_admins().await?;
    let checked = form.map(|f| f.ids("roles")).unwrap_or_default();
    Ok(GenerateForm {
        admins: admins
            .iter()
            .map(|a| Choice {
                value: a.username.clone(),
                label: if a.enabled {
                    a.username.clone()
                } else {
                    format!("{} (disabled)", a.username)
                },
                checked: a.username == admin,
            })
            .collect(),
        description: form
            .map(|f| f.get("description").to_string())
            .unwrap_or_default(),
        roles: role_choices(&roles, &checked),
        error: None,
    })
}

/// The role ids picked, each checked against the current roles: a role
/// that vanished since the form was shown is an error for the user.
fn picked_roles(roles: &[Role], ids: &[i64]) -> Result<Vec<RoleId>, Error> {
    ids.iter()
        .map(|&id| {
            roles
                .iter()
                .find(|r| r.id.0 == id)
                .map(|r| r.id)
                .ok_or_else(|| {
                    Error::Invalid(
                        "a role you picked no longer exists: pick the roles again".into(),
                    )
                })
        })
        .collect()
}

async fn generate_form(State(state): State<AppState>, Authed(session): Authed) -> UiResult {
    let dialog = generate_dialog(&state, &session.username, None).await?;
    show(&state, &session, Dialog::Generate(dialog), StatusCode::OK).await
}

async fn generate(State(state): State<AppState>, posted: Posted) -> UiResult {
    let roles = state.manager.list_roles().await?;
    let result = async {
        let role_ids = picked_roles(&roles, &posted.form.ids("roles"))?;
        let (admin, description) = (posted.form.get("admin"), posted.form.get("description"));
        let manager = &state.manager;
        manager
            .generate_credential_with_ids(admin, description, &role_ids)
            .await
    }
    .await;
    match result {
        Ok((credential, secret)) => {
            let (token, now) = (&posted.session.token, Instant::now());
            state
                .ui
                .sessions
                .put_secret(token, &credential.identifier, secret.expose(), now);
            Ok(see_other("/admin/api-credentials/credentials/created"))
        }
        Err(e) if is_user_error(&e) => {
            let mut dialog =
                generate_dialog(&state, posted.form.get("admin"), Some(&posted.form)).await?;
            dialog.error = Some(capitalize(&e.to_string()));
            show(
                &state,
                &posted.session,
                Dialog::Generate(dialog),
                status_of(&e),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Shows the new secret once: the session forgets it as it is rendered,
/// and `Cache-Control: no-store` (on every admin page) keeps it out of caches.
async fn created(State(state): State<AppState>, Authed(session): Authed) -> UiResult {
    let Some(new) = state
        .ui
        .sessions
        .take_secret(&session.token, Instant::now())
    else {
        let note = "A credential's secret is shown only once, right after it is generated.";
        state.ui.sessions.set_flash(&session.token, note);
        return Ok(see_other(CREDENTIALS_URL));
    };
    let view = SecretView {
        identifier: new.identifier.clone(),
        secret: new.secret.clone(),
    };
    show(&state, &session, Dialog::Secret(view), StatusCode::OK).await
}

async fn edit_dialog(
    state: &AppState,
    identifier: &str,
    checked: Option<Vec<i64>>,
) -> Result<EditCredentialForm, Error> {
    let credential = state.manager.credential(identifier).await?;
    let roles = state.manager.list_roles().await?;
    let checked = checked.unwrap_or_else(|| credential.roles.iter().map(|r| r.id.0).collect());
    Ok(EditCredentialForm {
        identifier: credential.identifier,
        roles: role_choices(&roles, &checked),
        error: None,
    })
}

async fn edit_form(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let dialog = edit_dialog(&state, query.get("identifier"), None).await?;
    show(
        &state,
        &session,
        Dialog::EditCredential(dialog),
        StatusCode::OK,
    )
    .await
}

async fn update_roles(State(state): State<AppState>, posted: Posted) -> UiResult {
    let identifier = posted.form.get("identifier");
    let ids = posted.form.ids("roles");
    let credential = state.manager.credential(identifier).await?;
    let roles = state.manager.list_roles().await?;
    let result = async {
        let role_ids = picked_roles(&roles, &ids)?;
        let manager = &state.manager;
        manager
            .edit_credential_by_id(credential.id, None, Some(&role_ids))
            .await
    }
    .await;
    match result {
        Ok(credential) => {
            let note = format!("Roles of API credential {} saved.", credential.identifier);
            state.ui.sessions.set_flash(&posted.session.token, note);
            Ok(see_other(CREDENTIALS_URL))
        }
        Err(e) if is_user_error(&e) => {
            let mut dialog = edit_dialog(&state, identifier, Some(ids)).await?;
            dialog.error = Some(capitalize(&e.to_string()));
            show(
                &state,
                &posted.session,
                Dialog::EditCredential(dialog),
                status_of(&e),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// In-place description edit: JSON for our script, a redirect otherwise.
async fn update_description(State(state): State<AppState>, posted: Posted) -> Response {
    let identifier = posted.form.get("identifier");
    let result = state
        .manager
        .edit_credential(identifier, Some(posted.form.get("description")), None)
        .await;
    match (result, posted.fetch) {
        (Ok(c), true) => Json(json!({ "description": c.description })).into_response(),
        (Err(e), true) => {
            if !is_user_error(&e) {
                tracing::error!(error = %e, "admin UI: description edit failed");
            }
            let message = if is_user_error(&e) {
                capitalize(&e.to_string())
            } else {
                "The description could not be saved. Try again.".into()
            };
            (status_of(&e), Json(json!({ "error": message }))).into_response()
        }
        (Ok(c), false) => {
            let note = format!("Description of API credential {} saved.", c.identifier);
            state.ui.sessions.set_flash(&posted.session.token, note);
            see_other(CREDENTIALS_URL)
        }
        (Err(e), false) if is_user_error(&e) => {
            state
                .ui
                .sessions
                .set_flash(&posted.session.token, capitalize(&e.to_string()));
            see_other(CREDENTIALS_URL)
        }
        (Err(e), false) => super::render::UiError(e).into_response(),
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let credential = state.manager.credential(query.get("identifier")).await?;
    let described = if credential.description.is_empty() {
        String::new()
    } else {
        format!(" ({})", credential.description)
    };
    let confirm = Confirm {
        title: "Delete API Credential".into(),
        message: format!(
            "Delete the API credential {}{described}? Clients using it are refused at once. This cannot be undone.",
            credential.identifier
        ),
        action: "/admin/api-credentials/credentials/delete".into(),
        fields: vec![("identifier".into(), credential.identifier)],
        button: "Delete",
        cancel: CREDENTIALS_URL.into(),
    };
    show(&state, &session, Dialog::Confirm(confirm), StatusCode::OK).await
}

async fn delete(State(state): State<AppState>, posted: Posted) -> UiResult {
    let credential = state
        .manager
        .delete_credential(posted.form.get("identifier"))
        .await?;
    let note = format!("API credential {} deleted.", credential.identifier);
    state.ui.sessions.set_flash(&posted.session.token, note);
    Ok(see_other(CREDENTIALS_URL))
}
