//! API Credentials workflows: generate (the secret shown once), edit the
//! roles and the lifecycle (expiry, IP allowlist, rate limit, client
//! scope), edit the
//! description in place, disable (with a confirmation) and enable, rotate
//! the secret (the new one shown once, the old one kept for an overlap),
//! delete (with a confirmation). Credentials are named by identifier in
//! query strings and form fields, never in the path: imported identifiers
//! may hold any printable character.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keygate_core::model::{Lifecycle, Role, RoleId};
use keygate_store::{CredentialEdit, Error};
use serde_json::json;

use super::extract::{Authed, Posted};
use super::form::FormData;
use super::lifecycle::{self, FieldError, LifecycleForm, DEFAULT_OVERLAP, OVERLAPS};
use super::overview::CredentialOverview;
use super::page::{
    render, Dialog, EditCredentialForm, GenerateForm, ListQuery, RotateForm, SecretView,
    CREDENTIALS_URL,
};
use super::render::{capitalize, is_user_error, see_other, status_of, UiResult};
use super::session::{SecretKind, Session};
use super::time::{now_secs, stamp};
use super::views::{allows_any, Choice, Confirm, Standing};
use crate::AppState;

/// Where a new or rotated secret is shown, once.
const CREATED_URL: &str = "/admin/api-credentials/credentials/created";

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
            get(edit_form).post(update),
        )
        .route(
            "/admin/api-credentials/credentials/rotate",
            get(rotate_form).post(rotate),
        )
        .route(
            "/admin/api-credentials/credentials/disable",
            get(confirm_disable).post(disable),
        )
        .route("/admin/api-credentials/credentials/enable", post(enable))
        .route(
            "/admin/api-credentials/credentials/description",
            post(update_description),
        )
        .route(
            "/admin/api-credentials/credentials/delete",
            get(confirm_delete).post(delete),
        )
}

/// Renders the credentials tab in the list state `back` (a `return`
/// value) names, with `dialog` open.
async fn show(
    state: &AppState,
    session: &Session,
    back: &str,
    dialog: Dialog,
    status: StatusCode,
) -> UiResult {
    let list = ListQuery::from_return(back, true);
    render(state, session, list, dialog, status).await
}

/// Where a form's action returns to: the list state it came from.
fn back_to(form: &FormData) -> String {
    ListQuery::from_return(form.get("return"), true).url()
}

/// Where a new secret is shown, carrying the list state to return to.
fn created_url(form: &FormData) -> String {
    let back = back_to(form);
    if back == CREDENTIALS_URL {
        return CREATED_URL.to_string();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("return", &back)
        .finish();
    format!("{CREATED_URL}?{query}")
}

/// A failed form: the management error, and the field it concerns ("" when
/// it is not one field's fault).
struct FormError {
    field: &'static str,
    error: Error,
}

impl From<Error> for FormError {
    fn from(error: Error) -> Self {
        Self { field: "", error }
    }
}

impl From<FieldError> for FormError {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            error: Error::Invalid(e.message),
        }
    }
}

/// A checkbox per role; a role that allows no action is marked.
fn role_choices(state: &AppState, roles: &[Role], checked: &[i64]) -> Vec<Choice> {
    let catalog = state.manager.catalog();
    let mut choices: Vec<Choice> = roles
        .iter()
        .map(|r| Choice {
            value: r.id.0.to_string(),
            label: r.name.clone(),
            checked: checked.contains(&r.id.0),
            warn: !allows_any(r, &catalog),
        })
        .collect();
    choices.sort_by(|a, b| super::listing::natural_cmp(&a.label, &b.label));
    choices
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
    let now = now_secs();
    let mut lifecycle = LifecycleForm::blank(state.config().rate_limit.default, now);
    if let Some(form) = form {
        lifecycle = lifecycle.refill(form, None, now);
    }
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
                warn: !a.enabled,
            })
            .collect(),
        description: form
            .map(|f| f.get("description").to_string())
            .unwrap_or_default(),
        roles: role_choices(state, &roles, &checked),
        lifecycle,
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

async fn generate_form(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let dialog = generate_dialog(&state, &session.username, None).await?;
    let back = query.get("return");
    show(
        &state,
        &session,
        back,
        Dialog::Generate(dialog),
        StatusCode::OK,
    )
    .await
}

async fn generate(State(state): State<AppState>, posted: Posted) -> UiResult {
    let roles = state.manager.list_roles().await?;
    let result: Result<_, FormError> = async {
        let role_ids = picked_roles(&roles, &posted.form.ids("roles"))?;
        let input = lifecycle::parse(&posted.form, now_secs())?;
        let lifecycle = Lifecycle {
            enabled: true,
            expires_at: input.expires_at.flatten(),
            allow_ips: input.allow_ips.unwrap_or_default(),
            rate_limit: input.rate_limit.flatten(),
            client_ids: input.client_ids.unwrap_or_default(),
        };
        let (admin, description) = (posted.form.get("admin"), posted.form.get("description"));
        let manager = posted.session.acting(&state);
        let generated = manager
            .generate_credential_with_ids(admin, description, &role_ids, lifecycle)
            .await?;
        Ok(generated)
    }
    .await;
    match result {
        Ok((credential, secret)) => {
            let token = &posted.session.token;
            let (identifier, kind) = (&credential.identifier, SecretKind::Generated);
            state
                .ui
                .sessions
                .put_secret(token, identifier, secret.expose(), kind)
                .await?;
            Ok(see_other(&created_url(&posted.form)))
        }
        Err(FormError { field, error: e }) if is_user_error(&e) => {
            let mut dialog =
                generate_dialog(&state, posted.form.get("admin"), Some(&posted.form)).await?;
            dialog.error = Some(capitalize(&e.to_string()));
            dialog.lifecycle.invalid = field;
            show(
                &state,
                &posted.session,
                posted.form.get("return"),
                Dialog::Generate(dialog),
                status_of(&e),
            )
            .await
        }
        Err(FormError { error, .. }) => Err(error.into()),
    }
}

/// Shows the new (or rotated) secret once: the session forgets it as it is
/// rendered, and `Cache-Control: no-store` (on every admin page) keeps it
/// out of caches.
async fn created(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let taken = state.ui.sessions.take_secret(&session.token).await?;
    let Some(new) = taken.filter(|new| new.kind != SecretKind::ApiToken) else {
        let note =
            "A credential's secret is shown only once, right after it is generated or rotated.";
        state.ui.sessions.set_flash(&session.token, note).await;
        return Ok(see_other(CREDENTIALS_URL));
    };
    let (rotated, old_until) = match new.kind {
        SecretKind::Generated | SecretKind::ApiToken => (false, None),
        SecretKind::Rotated { old_until } => (true, old_until.map(stamp)),
    };
    let view = SecretView {
        admin_disabled: disabled_owner(&state, &new.identifier).await,
        identifier: new.identifier.clone(),
        secret: new.secret.clone(),
        rotated,
        old_until,
    };
    let mut list = ListQuery::from_return(query.get("return"), true);
    list.highlight = Some(new.identifier.clone());
    render(&state, &session, list, Dialog::Secret(view), StatusCode::OK).await
}

/// The owner of the credential `identifier` when that admin is disabled
/// (the credential is refused until it is enabled). Asked after the secret
/// was taken from the session, so a failure only leaves the note out: the
/// secret must still be shown.
async fn disabled_owner(state: &AppState, identifier: &str) -> Option<String> {
    let owner = async {
        let credential = state.manager.credential(identifier).await?;
        state.manager.admin(&credential.admin).await
    }
    .await;
    match owner {
        Ok(admin) => (!admin.enabled).then_some(admin.username),
        Err(e) => {
            if !is_user_error(&e) {
                tracing::warn!(error = %e, "admin UI: owner of a new secret not read");
            }
            None
        }
    }
}

/// The edit dialog for the credential; `form` the values to refill.
async fn edit_dialog(
    state: &AppState,
    identifier: &str,
    form: Option<&FormData>,
) -> Result<EditCredentialForm, Error> {
    let credential = state.manager.credential(identifier).await?;
    let roles = state.manager.list_roles().await?;
    let checked = match form {
        Some(form) => form.ids("roles"),
        None => credential.roles.iter().map(|r| r.id.0).collect(),
    };
    let now = now_secs();
    let mut lifecycle = LifecycleForm::of(&credential, state.config().rate_limit.default, now);
    if let Some(form) = form {
        lifecycle = lifecycle.refill(form, credential.lifecycle.expires_at, now);
    }
    let admin_enabled = state.manager.admin(&credential.admin).await?.enabled;
    let catalog = state.manager.catalog();
    let overview = CredentialOverview::new(&credential, admin_enabled, &roles, &catalog, now);
    let description = match form {
        Some(form) if form.has("description") => form.get("description").to_string(),
        _ => credential.description,
    };
    Ok(EditCredentialForm {
        identifier: credential.identifier,
        description,
        overview,
        roles: role_choices(state, &roles, &checked),
        lifecycle,
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
        query.get("return"),
        Dialog::EditCredential(dialog),
        StatusCode::OK,
    )
    .await
}

/// Saves the roles and the lifecycle fields in one transaction: a mistake
/// in any field saves nothing.
async fn update(State(state): State<AppState>, posted: Posted) -> UiResult {
    let identifier = posted.form.get("identifier");
    let credential = state.manager.credential(identifier).await?;
    let roles = state.manager.list_roles().await?;
    let result: Result<_, FormError> = async {
        let role_ids = picked_roles(&roles, &posted.form.ids("roles"))?;
        let input = lifecycle::parse(&posted.form, now_secs())?;
        let edit = CredentialEdit {
            description: posted
                .form
                .has("description")
                .then(|| posted.form.get("description").to_string()),
            roles: Some(role_ids),
            expires_at: input.expires_at,
            allow_ips: input.allow_ips,
            rate_limit: input.rate_limit,
            client_ids: input.client_ids,
            ..CredentialEdit::default()
        };
        Ok(posted
            .session
            .acting(&state)
            .edit_credential_by_id(credential.id, edit)
            .await?)
    }
    .await;
    match result {
        Ok(credential) => {
            let mut note = format!("API credential {} saved.", credential.identifier);
            if credential.lifecycle.expired_at(now_secs()) {
                note.push_str(" It has expired: pick a later expiry to make it work again.");
            }
            let standing = Standing::new(&[], &roles, &state.manager.catalog());
            if !standing.allows_any(credential.roles.iter().map(|r| r.id)) {
                note.push_str(" No role of it allows an action: every call it makes is refused.");
            }
            posted.session.flash(&state, note).await;
            Ok(see_other(&back_to(&posted.form)))
        }
        Err(FormError { field, error: e }) if is_user_error(&e) => {
            let mut dialog = edit_dialog(&state, identifier, Some(&posted.form)).await?;
            dialog.error = Some(capitalize(&e.to_string()));
            dialog.lifecycle.invalid = field;
            show(
                &state,
                &posted.session,
                posted.form.get("return"),
                Dialog::EditCredential(dialog),
                status_of(&e),
            )
            .await
        }
        Err(FormError { error, .. }) => Err(error.into()),
    }
}

/// In-place description edit: JSON for our script, a redirect otherwise.
async fn update_description(State(state): State<AppState>, posted: Posted) -> Response {
    let identifier = posted.form.get("identifier");
    let result = posted
        .session
        .acting(&state)
        .edit_credential(
            identifier,
            CredentialEdit {
                description: Some(posted.form.get("description").to_string()),
                ..CredentialEdit::default()
            },
        )
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
            posted.session.flash(&state, note).await;
            see_other(&back_to(&posted.form))
        }
        (Err(e), false) if is_user_error(&e) => {
            state
                .ui
                .sessions
                .set_flash(&posted.session.token, capitalize(&e.to_string()))
                .await;
            see_other(&back_to(&posted.form))
        }
        (Err(e), false) => super::render::UiError(e).into_response(),
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let confirm = ConfirmOn {
        verb: "Delete",
        consequence: "Clients using it are refused at once. This cannot be undone.",
        action: "/admin/api-credentials/credentials/delete",
    };
    confirm_on_credential(&state, &session, query, confirm).await
}

/// What a confirmation for one credential asks.
struct ConfirmOn {
    /// The button's text, and the verb of the title and question.
    verb: &'static str,
    /// What follows, said after the question.
    consequence: &'static str,
    /// Where the confirmed form posts.
    action: &'static str,
}

/// "VERB the API credential ID (description)? CONSEQUENCE", for the
/// credential named by the query's `identifier`.
async fn confirm_on_credential(
    state: &AppState,
    session: &Session,
    query: Option<String>,
    confirm: ConfirmOn,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let credential = state.manager.credential(query.get("identifier")).await?;
    let described = if credential.description.is_empty() {
        String::new()
    } else {
        format!(" ({})", credential.description)
    };
    let dialog = Confirm {
        title: format!("{} API Credential", confirm.verb),
        message: format!(
            "{} the API credential {}{described}? {}",
            confirm.verb, credential.identifier, confirm.consequence
        ),
        affected: None,
        action: confirm.action.into(),
        fields: vec![
            ("identifier".into(), credential.identifier),
            ("return".into(), back_to(&query)),
        ],
        button: confirm.verb,
        cancel: ListQuery::from_return(query.get("return"), true).url(),
    };
    let back = query.get("return");
    show(
        state,
        session,
        back,
        Dialog::Confirm(dialog),
        StatusCode::OK,
    )
    .await
}

async fn delete(State(state): State<AppState>, posted: Posted) -> UiResult {
    let credential = posted
        .session
        .acting(&state)
        .delete_credential(posted.form.get("identifier"))
        .await?;
    let note = format!("API credential {} deleted.", credential.identifier);
    posted.session.flash(&state, note).await;
    Ok(see_other(&back_to(&posted.form)))
}

/// The Rotate dialog for the credential; `picked` the overlap to check.
async fn rotate_dialog(
    state: &AppState,
    identifier: &str,
    picked: &str,
) -> Result<RotateForm, Error> {
    let credential = state.manager.credential(identifier).await?;
    let picked = if OVERLAPS.iter().any(|(v, _, _)| *v == picked) {
        picked
    } else {
        DEFAULT_OVERLAP
    };
    Ok(RotateForm {
        overlaps: OVERLAPS
            .iter()
            .map(|(value, label, _)| Choice {
                value: value.to_string(),
                label: if *value == DEFAULT_OVERLAP {
                    format!("{label} (recommended)")
                } else {
                    label.to_string()
                },
                checked: *value == picked,
                warn: false,
            })
            .collect(),
        pending: credential
            .old_secret_valid_until
            .filter(|&until| until > now_secs())
            .map(stamp),
        identifier: credential.identifier,
        description: credential.description,
        error: None,
    })
}

async fn rotate_form(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let dialog = rotate_dialog(&state, query.get("identifier"), DEFAULT_OVERLAP).await?;
    let back = query.get("return");
    show(
        &state,
        &session,
        back,
        Dialog::Rotate(dialog),
        StatusCode::OK,
    )
    .await
}

/// Gives the credential a new secret, shown once on the same page as a
/// generated one; the old secret keeps working for the chosen overlap.
async fn rotate(State(state): State<AppState>, posted: Posted) -> UiResult {
    let identifier = posted.form.get("identifier");
    let credential = state.manager.credential(identifier).await?;
    let result: Result<_, FormError> = async {
        let overlap = lifecycle::parse_overlap(posted.form.get("overlap"))?;
        let rotated = posted
            .session
            .acting(&state)
            .rotate_credential(&credential.identifier, overlap)
            .await?;
        Ok(rotated)
    }
    .await;
    match result {
        Ok((credential, secret, old_until)) => {
            let (identifier, kind) = (&credential.identifier, SecretKind::Rotated { old_until });
            state
                .ui
                .sessions
                .put_secret(&posted.session.token, identifier, secret.expose(), kind)
                .await?;
            Ok(see_other(&created_url(&posted.form)))
        }
        Err(FormError { error: e, .. }) if is_user_error(&e) => {
            let mut dialog = rotate_dialog(&state, identifier, posted.form.get("overlap")).await?;
            dialog.error = Some(capitalize(&e.to_string()));
            show(
                &state,
                &posted.session,
                posted.form.get("return"),
                Dialog::Rotate(dialog),
                status_of(&e),
            )
            .await
        }
        Err(FormError { error, .. }) => Err(error.into()),
    }
}

async fn confirm_disable(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let confirm = ConfirmOn {
        verb: "Disable",
        consequence: "Clients using it are refused at once, until it is enabled again.",
        action: "/admin/api-credentials/credentials/disable",
    };
    confirm_on_credential(&state, &session, query, confirm).await
}

async fn set_enabled(state: AppState, posted: Posted, enabled: bool) -> UiResult {
    let credential = posted
        .session
        .acting(&state)
        .set_credential_enabled(posted.form.get("identifier"), enabled)
        .await?;
    let note = if !enabled {
        format!(
            "API credential {} disabled: it is refused until it is enabled again.",
            credential.identifier
        )
    } else if let Some(at) = credential
        .lifecycle
        .expires_at
        .filter(|_| credential.lifecycle.expired_at(now_secs()))
    {
        format!(
            "API credential {} enabled, but it expired on {}: edit it to extend the expiry.",
            credential.identifier,
            stamp(at).text
        )
    } else {
        format!("API credential {} enabled.", credential.identifier)
    };
    posted.session.flash(&state, note).await;
    Ok(see_other(&back_to(&posted.form)))
}

async fn disable(State(state): State<AppState>, posted: Posted) -> UiResult {
    set_enabled(state, posted, false).await
}

async fn enable(State(state): State<AppState>, posted: Posted) -> UiResult {
    set_enabled(state, posted, true).await
}
