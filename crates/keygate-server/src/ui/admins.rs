//! The Admins page: add, change password, disable (asking first, naming
//! the credentials that stop working), enable, remove. An admin
//! cannot disable or remove itself here (that would end its own session and
//! could leave nobody able to log in); the CLI can.

use std::time::Instant;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use keygate_core::model::Admin;
use keygate_store::{CredentialPage, CredentialQuery, CredentialState, Error};

use super::extract::{Authed, Posted};
use super::form::FormData;
use super::render::{capitalize, html, is_user_error, see_other, status_of, Chrome, UiResult};
use super::session::{set_cookie, Session, SESSION_COOKIE};
use super::time::{stamp, Stamp};
use super::views::{Affected, Confirm};
use super::words::count;
use crate::AppState;

pub(super) const ADMINS_URL: &str = "/admin/admins";

/// Routes under `/admin/admins`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/admins", get(show))
        .route("/admin/admins/add", get(add_form).post(add))
        .route(
            "/admin/admins/password",
            get(password_form).post(change_password),
        )
        .route("/admin/admins/disable", get(confirm_disable).post(disable))
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
    /// The logged-in admin's own password: the current one is asked for.
    pub own: bool,
    /// Validation message.
    pub error: Option<String>,
}

/// The dialog open on the admins page.
pub enum AdminDialog {
    /// None.
    None,
    /// Add or change password.
    Form(AdminForm),
    /// Confirm disabling or removing an admin, or revoking a token.
    Confirm(Confirm),
    /// Create an admin API token.
    TokenForm(super::tokens::TokenForm),
    /// A new admin API token, shown once.
    TokenShown(super::tokens::ShownToken),
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
    /// Admin API tokens (never the tokens themselves).
    pub tokens: Vec<super::tokens::TokenRow>,
    /// Open dialog.
    pub dialog: AdminDialog,
}

pub(super) async fn render(
    state: &AppState,
    session: &Session,
    dialog: AdminDialog,
    status: StatusCode,
) -> UiResult {
    let admins = state.manager.list_admins().await?;
    let owned = state.manager.credentials_per_admin().await?;
    let page = AdminsPage {
        chrome: Chrome::for_session(state, session, "Admins", "admins").await,
        csrf: session.csrf.clone(),
        admins: admins
            .into_iter()
            .map(|a| AdminRow {
                me: a.id == session.admin_id,
                created: stamp(a.created_at),
                credentials: owned.get(&a.id).copied().unwrap_or(0),
                enabled: a.enabled,
                username: a.username,
            })
            .collect(),
        tokens: super::tokens::rows(state).await?,
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
        own: false,
        error,
    })
}

fn password_dialog(username: &str, own: bool, error: Option<String>) -> AdminDialog {
    AdminDialog::Form(AdminForm {
        heading: "Change Password",
        action: "/admin/admins/password",
        username: username.to_string(),
        adding: false,
        own,
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
        posted
            .session
            .acting(&state)
            .add_admin(username, password)
            .await
    }
    .await;
    match result {
        Ok(_) => {
            let note = format!("Admin {} added.", username.trim());
            posted.session.flash(&state, note).await;
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
        password_dialog(&admin.username, admin.id == session.admin_id, None),
        StatusCode::OK,
    )
    .await
}

async fn change_password(State(state): State<AppState>, posted: Posted) -> UiResult {
    let username = posted.form.get("username");
    let admin = state.manager.admin(username).await?;
    let own = admin.id == posted.session.admin_id;
    let result = async {
        if own {
            check_current(&state, &admin.username, posted.form.get("current_password")).await?;
        }
        check_repeat(&posted.form)?;
        let password = posted.form.get("password");
        posted
            .session
            .acting(&state)
            .change_password(&admin.username, password)
            .await
    }
    .await;
    match result {
        Ok(()) => {
            // The change ended every session of this admin (they may belong to
            // whoever knew the old password); one's own goes on in a new one.
            let note = format!("Password of {} changed.", admin.username);
            if !own {
                posted.session.flash(&state, note).await;
                return Ok(see_other(ADMINS_URL));
            }
            let token = state.ui.sessions.create(admin.id).await?;
            state.ui.sessions.set_flash(&token, note).await;
            let mut response = see_other(ADMINS_URL);
            let cookie = set_cookie(SESSION_COOKIE, Some(&token), state.config().secure_cookies);
            if let Ok(value) = cookie.parse() {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            Ok(response)
        }
        Err(e) if is_user_error(&e) => {
            let error = Some(capitalize(&e.to_string()));
            let dialog = password_dialog(&admin.username, own, error);
            render(&state, &posted.session, dialog, status_of(&e)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Changing one's own password needs the current one, so a session left
/// open is not enough to lock its owner out; wrong guesses count against
/// the username's login throttle.
async fn check_current(state: &AppState, username: &str, current: &str) -> Result<(), Error> {
    let keys = super::throttle::keys(username, None);
    if let Some(wait) = state.ui.throttle.wait(&keys, Instant::now()) {
        let wait = super::words::count(wait.as_secs().max(1) as usize, "second");
        return Err(Error::Invalid(format!(
            "too many wrong passwords: try again in {wait}"
        )));
    }
    if state
        .manager
        .check_login(username, current)
        .await?
        .is_some()
    {
        state.ui.throttle.succeeded(&keys);
        return Ok(());
    }
    state.ui.throttle.failed(&keys, Instant::now());
    Err(Error::Invalid(
        "the current password is wrong: nothing was changed".into(),
    ))
}

/// The admin the form names, unless it is the logged-in admin itself:
/// then the refusal to show.
async fn other_admin(
    state: &AppState,
    session: &Session,
    username: &str,
    what: &str,
) -> Result<Result<Admin, String>, Error> {
    let admin = state.manager.admin(username).await?;
    if admin.id == session.admin_id {
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
        match other_admin(
            &state,
            &posted.session,
            posted.form.get("username"),
            "disable",
        )
        .await?
        {
            Ok(admin) => admin,
            Err(refusal) => {
                posted.session.flash(&state, refusal).await;
                return Ok(see_other(ADMINS_URL));
            }
        }
    };
    let admin = posted
        .session
        .acting(&state)
        .set_admin_enabled(&admin.username, enabled)
        .await?;
    let note = if enabled {
        format!(
            "Admin {} enabled: its credentials work again.",
            admin.username
        )
    } else {
        format!(
            "Admin {} disabled: its credentials are refused until it is enabled again.",
            admin.username
        )
    };
    posted.session.flash(&state, note).await;
    Ok(see_other(ADMINS_URL))
}

/// Asks before disabling, naming the credentials that stop working (those
/// enabled and unexpired: the rest are refused already).
async fn confirm_disable(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let admin = match other_admin(&state, &session, query.get("username"), "disable").await? {
        Ok(admin) => admin,
        Err(refusal) => {
            state.ui.sessions.set_flash(&session.token, refusal).await;
            return Ok(see_other(ADMINS_URL));
        }
    };
    // One page and a count each, not every credential: an admin may own
    // a million.
    let working = owned_page(&state, &admin, Some(CredentialState::Enabled)).await?;
    let all = owned_page(&state, &admin, None).await?;
    let idle = all.total.saturating_sub(working.total);
    let name = &admin.username;
    let mut message = format!("Disable the admin {name}? ");
    message.push_str(
        &match usize::try_from(working.total).unwrap_or(usize::MAX) {
            0 => format!("{name} has no working API credential, so none stops working."),
            n => format!(
                "{} of {name} {} working at once and {} refused until {name} is enabled again.",
                count(n, "API credential"),
                if n == 1 { "stops" } else { "stop" },
                if n == 1 { "is" } else { "are" },
            ),
        },
    );
    if idle > 0 {
        message.push_str(&format!(
            " ({} already disabled or expired.)",
            match idle {
                1 => "1 other is".to_string(),
                n => format!("{n} others are"),
            }
        ));
    }
    message.push_str(&format!(" {name} is logged out everywhere."));
    let stopping = format!(
        "Stop working: {}",
        count(working.total as usize, "credential")
    );
    let affected = (working.total > 0).then(|| Affected::of_page(stopping, &working));
    let confirm = admin_confirm("Disable", message, affected, admin.username);
    render(&state, &session, confirm, StatusCode::OK).await
}

/// The first [`Affected::SHOWN`] credentials `admin` owns (in `state`, if
/// given), oldest first, and how many in all.
async fn owned_page(
    state: &AppState,
    admin: &Admin,
    credential_state: Option<CredentialState>,
) -> Result<CredentialPage, Error> {
    let query = CredentialQuery {
        admin: Some(admin.id),
        state: credential_state,
        limit: Affected::SHOWN as u32,
        ..CredentialQuery::default()
    };
    state.manager.credentials_page(&query).await
}

/// The confirmation that posts `username` to `/admin/admins/{verb}`
/// (lowercase `verb`), titled "`verb` Admin", cancelled back to the page.
fn admin_confirm(
    verb: &'static str,
    message: String,
    affected: Option<Affected>,
    username: String,
) -> AdminDialog {
    AdminDialog::Confirm(Confirm {
        title: format!("{verb} Admin"),
        message,
        affected,
        action: format!("/admin/admins/{}", verb.to_lowercase()),
        fields: vec![("username".into(), username)],
        button: verb,
        cancel: ADMINS_URL.into(),
    })
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
    let owned = owned_page(&state, &admin, None).await?;
    let deleted = format!(
        "Deleted with it: {}",
        count(owned.total as usize, "credential")
    );
    let message = format!(
        "Remove the admin {}? All of its API credentials are deleted with it and stop working at once. This cannot be undone.",
        admin.username
    );
    let affected = (owned.total > 0).then(|| Affected::of_page(deleted, &owned));
    let confirm = admin_confirm("Remove", message, affected, admin.username);
    render(&state, &session, confirm, StatusCode::OK).await
}

async fn remove(State(state): State<AppState>, posted: Posted) -> UiResult {
    let admin = match other_admin(
        &state,
        &posted.session,
        posted.form.get("username"),
        "remove",
    )
    .await?
    {
        Ok(admin) => admin,
        Err(refusal) => {
            posted.session.flash(&state, refusal).await;
            return Ok(see_other(ADMINS_URL));
        }
    };
    let admin = posted
        .session
        .acting(&state)
        .remove_admin(&admin.username)
        .await?;
    let note = format!("Admin {} removed with its credentials.", admin.username);
    posted.session.flash(&state, note).await;
    Ok(see_other(ADMINS_URL))
}
