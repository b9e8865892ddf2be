//! Admin API tokens on the Admins page: create (the token is shown once,
//! right after, like a new credential secret: kept sealed in the session
//! until the page showing it is loaded), list (never the token: its
//! `kgat_AbCd…` prefix, admin, description and times) and revoke (asking
//! first). Changes go through the acting manager, so the audit trail names
//! the signed-in admin.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use keygate_core::model::{ApiToken, TokenId};
use keygate_store::Error;

use super::admins::{render, AdminDialog, ADMINS_URL};
use super::extract::{Authed, Posted};
use super::form::FormData;
use super::render::{capitalize, is_user_error, see_other, status_of, UiResult};
use super::session::{SecretKind, Session};
use super::time::{now_secs, parse_datetime, stamp, Stamp};
use super::views::Confirm;
use crate::AppState;

const NEW_URL: &str = "/admin/admins/tokens/new";
const CREATED_URL: &str = "/admin/admins/tokens/created";
const REVOKE_URL: &str = "/admin/admins/tokens/revoke";

/// Expiry choices: form value, label, seconds from now (0: never); the
/// last, `custom`, takes the typed date.
pub const EXPIRY_CHOICES: [(&str, &str, i64); 5] = [
    ("never", "Never", 0),
    ("30d", "In 30 days", 30 * 86_400),
    ("90d", "In 90 days", 90 * 86_400),
    ("1y", "In one year", 365 * 86_400),
    ("custom", "Custom date (UTC)", 0),
];

/// Routes under `/admin/admins/tokens`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(NEW_URL, get(new_form).post(create))
        .route(CREATED_URL, get(created))
        .route(REVOKE_URL, get(confirm_revoke).post(revoke))
}

/// A row of the tokens table: never the token itself.
pub struct TokenRow {
    /// Database id.
    pub id: i64,
    /// `kgat_AbCd…`.
    pub prefix: String,
    /// The admin it acts as.
    pub admin: String,
    /// What uses it.
    pub description: String,
    /// Creation time.
    pub created: Stamp,
    /// Expiry, if any.
    pub expires: Option<Stamp>,
    /// Whether the expiry has passed.
    pub expired: bool,
    /// Last use, if any.
    pub last_used: Option<Stamp>,
}

impl TokenRow {
    fn new(token: ApiToken, now: i64) -> Self {
        Self {
            id: token.id.0,
            expired: token.expires_at.is_some_and(|at| at <= now),
            prefix: token.prefix,
            admin: token.admin,
            description: token.description,
            created: stamp(token.created_at),
            expires: token.expires_at.map(stamp),
            last_used: token.last_used_at.map(stamp),
        }
    }
}

/// Every token, as the Admins page lists them.
pub async fn rows(state: &AppState) -> Result<Vec<TokenRow>, Error> {
    let now = now_secs();
    let tokens = state.manager.list_tokens(None).await?;
    Ok(tokens.into_iter().map(|t| TokenRow::new(t, now)).collect())
}

/// The Create API Token dialog.
pub struct TokenForm {
    /// Every admin's username, to choose whom the token acts as.
    pub admins: Vec<String>,
    /// The chosen admin.
    pub admin: String,
    /// Description typed.
    pub description: String,
    /// Expiry choice (see [`EXPIRY_CHOICES`]).
    pub expires: String,
    /// The date typed for `date`.
    pub expires_at: String,
    /// Validation message.
    pub error: Option<String>,
}

impl TokenForm {
    /// The expiry choices with whether each is selected.
    pub fn choices(&self) -> Vec<(&'static str, &'static str, bool)> {
        EXPIRY_CHOICES
            .iter()
            .map(|(value, label, _)| (*value, *label, *value == self.expires))
            .collect()
    }
}

/// A token just made, shown once.
pub struct ShownToken {
    /// The token in the clear.
    pub token: String,
    /// The admin it acts as.
    pub admin: String,
    /// What uses it.
    pub description: String,
}

async fn form_dialog(
    state: &AppState,
    session: &Session,
    form: Option<&FormData>,
    error: Option<String>,
) -> Result<AdminDialog, Error> {
    let admins = state.manager.list_admins().await?;
    let pick = |name: &str, default: &str| match form {
        Some(form) => form.get(name).to_string(),
        None => default.to_string(),
    };
    Ok(AdminDialog::TokenForm(TokenForm {
        admins: admins.into_iter().map(|a| a.username).collect(),
        admin: pick("admin", &session.username),
        description: pick("description", ""),
        expires: pick("expires", "90d"),
        expires_at: pick("expires_at", ""),
        error,
    }))
}

async fn new_form(State(state): State<AppState>, Authed(session): Authed) -> UiResult {
    let dialog = form_dialog(&state, &session, None, None).await?;
    render(&state, &session, dialog, StatusCode::OK).await
}

/// The expiry the form asks for (unix seconds), `None` for never.
fn parse_expiry(form: &FormData, now: i64) -> Result<Option<i64>, Error> {
    let choice = form.get("expires").trim();
    if choice != "custom" {
        let Some((_, _, secs)) = EXPIRY_CHOICES.iter().find(|(v, _, _)| *v == choice) else {
            return Err(Error::Invalid(format!(
                "unknown expiry choice {choice:?}: pick one from the list"
            )));
        };
        return Ok((*secs > 0).then_some(now + secs));
    }
    let typed = form.get("expires_at").trim();
    let at = parse_datetime(typed).ok_or_else(|| {
        Error::Invalid(format!(
            "the expiry {typed:?} is not a date: enter it as 2027-01-31 14:05 (UTC)"
        ))
    })?;
    Ok(Some(at))
}

async fn create(State(state): State<AppState>, posted: Posted) -> UiResult {
    let form = &posted.form;
    let result = async {
        let expires_at = parse_expiry(form, now_secs())?;
        let manager = posted.session.acting(&state);
        let (admin, description) = (form.get("admin"), form.get("description"));
        manager.create_token(admin, description, expires_at).await
    }
    .await;
    match result {
        Ok((made, token)) => {
            let id = made.id.0.to_string();
            let sessions = &state.ui.sessions;
            let session = &posted.session.token;
            sessions
                .put_secret(session, &id, token.expose(), SecretKind::ApiToken)
                .await?;
            Ok(see_other(CREATED_URL))
        }
        Err(e) if is_user_error(&e) => {
            let error = Some(capitalize(&e.to_string()));
            let dialog = form_dialog(&state, &posted.session, Some(form), error).await?;
            render(&state, &posted.session, dialog, status_of(&e)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Shows the new token once: the session forgets it as it is rendered.
async fn created(State(state): State<AppState>, Authed(session): Authed) -> UiResult {
    let taken = state.ui.sessions.take_secret(&session.token).await?;
    let Some(new) = taken.filter(|new| new.kind == SecretKind::ApiToken) else {
        let note = "An API token is shown only once, right after it is created.";
        state.ui.sessions.set_flash(&session.token, note).await;
        return Ok(see_other(ADMINS_URL));
    };
    let made = state
        .manager
        .list_tokens(None)
        .await?
        .into_iter()
        .find(|t| t.id.0.to_string() == new.identifier);
    let (admin, description) = made.map_or_else(Default::default, |t| (t.admin, t.description));
    let shown = ShownToken {
        token: new.secret.clone(),
        admin,
        description,
    };
    render(
        &state,
        &session,
        AdminDialog::TokenShown(shown),
        StatusCode::OK,
    )
    .await
}

/// The token the form or query names.
async fn named_token(state: &AppState, id: &str) -> Result<ApiToken, Error> {
    let missing = || Error::NotFound(format!("API token {id:?} not found"));
    let id: i64 = id.trim().parse().map_err(|_| missing())?;
    let tokens = state.manager.list_tokens(None).await?;
    tokens
        .into_iter()
        .find(|t| t.id.0 == id)
        .ok_or_else(missing)
}

/// Asks before revoking.
async fn confirm_revoke(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let token = named_token(&state, query.get("id")).await?;
    let described = match token.description.as_str() {
        "" => String::new(),
        text => format!(" ({text})"),
    };
    let message = format!(
        "Revoke the API token {}{described} of {}? Whatever uses it is refused from its next call. This cannot be undone.",
        token.prefix, token.admin
    );
    let confirm = AdminDialog::Confirm(Confirm {
        title: "Revoke API Token".into(),
        message,
        affected: None,
        action: REVOKE_URL.into(),
        fields: vec![("id".into(), token.id.0.to_string())],
        button: "Revoke",
        cancel: ADMINS_URL.into(),
    });
    render(&state, &session, confirm, StatusCode::OK).await
}

async fn revoke(State(state): State<AppState>, posted: Posted) -> UiResult {
    let token = named_token(&state, posted.form.get("id")).await?;
    let manager = posted.session.acting(&state);
    let revoked = manager.revoke_token(TokenId(token.id.0)).await?;
    let note = format!("API token {} of {} revoked.", revoked.prefix, revoked.admin);
    state
        .ui
        .sessions
        .set_flash(&posted.session.token, note)
        .await;
    Ok(see_other(ADMINS_URL))
}
