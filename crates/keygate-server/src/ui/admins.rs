//! The Admins page: add, change password, disable/enable, remove. An admin
//! cannot disable or remove itself here (that would end its own session and
//! could leave nobody able to log in); the CLI can.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use keygate_core::model::Admin;
use keygate_store::Error;

use super::extract::{Authed, Posted};
use super::form::FormData;
use super::render::{capitalize, html, is_user_error, see_other, status_of, Chrome, UiResult};
use super::session::Session;
use super::time::{stamp, Stamp};
use super::views::Confirm;
use crate::AppState;

const ADMINS_URL: &str = "/admin/admins";

/// Routes under `/admin/admins`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/admins", get(show))
        .route("/admin/admins/add", get(add_form).post(add))
        .route(
            "/admin/admins/password",
            get(password_form).post(change_password),
        )
        .route("/admin/admins/disable", post(disable))
        .route("/admin/admins/enable", post(enable))
        .route("/admin/admins/remove", get(confirm_remove).post(remove))
}

/// A row of the admins table.
pub struct AdminRow {
    /// Username.
    pub username: String,
    /// Enabled.
    pub enabled: bool,
    /// The logged-in admin's own row.
    pub me: bool,
    /// Creation time.
    pub created: Stamp,
    /// Credentials it owns.
    pub credentials: usize,
}

/// The Add Admin or Change Password dialog.
pub struct AdminForm {
    /// "Add Admin" or "Change Password".
    pub heading: &'static str,
    /// Where it posts.
    pub action: &'static str,
    /// Username (fixed when changing a password).
    pub username: String,
    /// Whether the username is typed in (adding).
    pub adding: bool,
    /// Validation message.
    pub error: Option<String>,
}

/// The dialog open on the admins page.
pub enum AdminDialog {
    /// None.
    None,
    /// Add or change password.
    Form(AdminForm),
    /// Confirm a removal.
    Confirm(Confirm),
}

/// The admins page.
#[derive(Template)]
#[template(path = "admins.html")]
pub struct AdminsPage {
    /// Layout.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// Rows.
    pub admins: Vec<AdminRow>,
    /// Open dialog.
    pub dialog: AdminDialog,
}

async fn render(
    state: &AppState,
    session: &Session,
    dialog: AdminDialog,
    status: StatusCode,
) -> UiResult {
    let admins = state.manager.list_admins().await?;
    let mut owned: HashMap<String, usize> = HashMap::new();
    for credential in state.manager.list_credentials(None).await? {
        *owned.entry(credential.admin).or_default() += 1;
    }
    let page = AdminsPage {
        chrome: Chrome::for_session(state, session, "Admins", "admins"),
        csrf: session.csrf.clone(),
        admins: admins
            .into_iter()
            .map(|a| AdminRow {
                me: a.id == session.admin_id,
                created: stamp(a.created_at),
                credentials: owned.get(&a.username).copied().unwrap_or(0),
                enabled: a.enabled,
                username: a.username,
            })
            .collect(),
        dialog,
    };
    Ok(html(status, &page))
}

async fn show(State(state): State<AppState>, Authed(session): Authed) -> UiResult {
    render(&state, &session, AdminDialog::None, StatusCode::OK).await
}

fn add_dialog(username: &str, error: Option<String>) -> AdminDialog {
    AdminDialog::Form(AdminForm {
        heading: "Add Admin",
        action: "/admin/admins/add",
        username: username.to_string(),
        adding: true,
        error,
    })
}

fn password_dialog(username: &str, error: Option<String>) -> AdminDialog {
    AdminDialog::Form(AdminForm {
        heading: "Change Password",
        action: "/admin/admins/password",
        username: username.to_string(),
        adding: false,
        error,
    })
}

/// The two password fields must agree before anything is stored.
fn check_repeat(form: &FormData) -> Result<(), Error> {
    if form.get("password") != form.get("password_repeat") {
        return Err(Error::Invalid("the passwords do not match".into()));
    }
    Ok(())
}

async fn add_form(State(state): State<AppState>, Authed(session): Authed) -> UiResult {
    render(&state, &session, add_dialog("", None), StatusCode::OK).await
}

async fn add(State(state): State<AppState>, posted: Posted) -> UiResult {
    let (username, password) = (posted.form.get("username"), posted.form.get("password"));
    let result = async {
        check_repeat(&posted.form)?;
        state.manager.add_admin(username, password).await
    }
    .await;
    match result {
        Ok(_) => {
            let note = format!("Admin {} added.", username.trim());
            state.ui.sessions.set_flash(&posted.session.token, note);
            Ok(see_other(ADMINS_URL))
        }
        Err(e) if is_user_error(&e) => {
            let dialog = add_dialog(username, Some(capitalize(&e.to_string())));
            render(&state, &posted.session, dialog, status_of(&e)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn password_form(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let admin = state.manager.admin(query.get("username")).await?;
    render(
        &state,
        &session,
        password_dialog(&admin.username, None),
        StatusCode::OK,
    )
    .await
}

async fn change_password(State(state): State<AppState>, posted: Posted) -> UiResult {
    let username = posted.form.get("username");
    let admin = state.manager.admin(username).await?;
    let result = async {
        check_repeat(&posted.form)?;
        let password = posted.form.get("password");
        state
            .manager
            .change_password(&admin.username, password)
            .await
    }
    .await;
    match result {
        Ok(()) => {
            // Other sessions of this admin may belong to whoever knew the old password.
            state
                .ui
                .sessions
                .end_others(admin.id, Some(&posted.session.token));
            let note = format!("Password of {} changed.", admin.username);
            state.ui.sessions.set_flash(&posted.session.token, note);
            Ok(see_other(ADMINS_URL))
        }
        Err(e) if is_user_error(&e) => {
            let dialog = password_dialog(&admin.username, Some(capitalize(&e.to_string())));
            render(&state, &posted.session, dialog, status_of(&e)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The admin the form names, unless it is the logged-in admin itself:
/// then the refusal to show.
async fn other_admin(
    state: &AppState,
    posted: &Posted,
    what: &str,
) -> Result<Result<Admin, String>, Error> {
    let admin = state.manager.admin(posted.form.get("username")).await?;
    if admin.id == posted.session.admin_id {
        return Ok(Err(format!(
            "You cannot {what} your own account while logged in with it."
        )));
    }
    Ok(Ok(admin))
}

async fn set_enabled(state: AppState, posted: Posted, enabled: bool) -> UiResult {
    let admin = if enabled {
        state.manager.admin(posted.form.get("username")).await?
    } else {
        match other_admin(&state, &posted, "disable").await? {
            Ok(admin) => admin,
            Err(refusal) => {
                state.ui.sessions.set_flash(&posted.session.token, refusal);
                return Ok(see_other(ADMINS_URL));
            }
        }
    };
    let admin = state
        .manager
        .set_admin_enabled(&admin.username, enabled)
        .await?;
    let note = if enabled {
        format!(
            "Admin {} enabled: its credentials work again.",
            admin.username
        )
    } else {
        state.ui.sessions.end_others(admin.id, None);
        format!(
            "Admin {} disabled: its credentials are refused until it is enabled again.",
            admin.username
        )
    };
    state.ui.sessions.set_flash(&posted.session.token, note);
    Ok(see_other(ADMINS_URL))
}

async fn disable(State(state): State<AppState>, posted: Posted) -> UiResult {
    set_enabled(state, posted, false).await
}

async fn enable(State(state): State<AppState>, posted: Posted) -> UiResult {
    set_enabled(state, posted, true).await
}

async fn confirm_remove(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let admin = state.manager.admin(query.get("username")).await?;
    let confirm = Confirm {
        title: "Remove Admin".into(),
        message: format!(
            "Remove the admin {}? All of its API credentials are deleted with it and stop working at once. This cannot be undone.",
            admin.username
        ),
        action: "/admin/admins/remove".into(),
        fields: vec![("username".into(), admin.username)],
        button: "Remove",
        cancel: ADMINS_URL.into(),
    };
    render(
        &state,
        &session,
        AdminDialog::Confirm(confirm),
        StatusCode::OK,
    )
    .await
}

async fn remove(State(state): State<AppState>, posted: Posted) -> UiResult {
    let admin = match other_admin(&state, &posted, "remove").await? {
        Ok(admin) => admin,
        Err(refusal) => {
            state.ui.sessions.set_flash(&posted.session.token, refusal);
            return Ok(see_other(ADMINS_URL));
        }
    };
    let admin = state.manager.remove_admin(&admin.username).await?;
    state.ui.sessions.end_others(admin.id, None);
    let note = format!("Admin {} removed with its credentials.", admin.username);
    state.ui.sessions.set_flash(&posted.session.token, note);
    Ok(see_other(ADMINS_URL))
}
