//! A credential's own page (`/admin/api-credentials/{identifier}`): its
//! roles and lifecycle, last access, a usage chart over a window (`?days=`,
//! 1 to 90, default 30), the actions it called (denied attempts included)
//! and the least-privilege advisor, whose "Tighten" asks first and then
//! replaces the roles with one role of exactly the actions used.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use keygate_core::model::Credential;
use keygate_core::usage::{per_action, per_hour, Advice, UsageOutcome};

use super::audit::{role_href, target_href};
use super::chart::Chart;
use super::extract::{Authed, Posted};
use super::form::FormData;
use super::overview::CredentialOverview;
use super::render::{
    capitalize, html, is_user_error, message, see_other, Chrome, UiError, UiResult,
};
use super::session::Session;
use super::time::{now_secs, stamp, Stamp};
use super::views::{Confirm, CredentialRow, Standing};
use super::words::count;
use crate::AppState;

/// The window when `?days=` is not given.
pub const DEFAULT_DAYS: u32 = 30;
/// The longest window (usage is kept about this long).
pub const MAX_DAYS: u32 = 90;
/// The windows offered as links.
const WINDOWS: [(u32, &str); 4] = [
    (1, "24 hours"),
    (7, "7 days"),
    (30, "30 days"),
    (90, "90 days"),
];

/// Routes of the credential page and its Tighten confirmation.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api-credentials/{identifier}", get(show))
        .route(
            "/admin/api-credentials/{identifier}/tighten",
            get(confirm_tighten).post(tighten),
        )
}

/// `/admin/api-credentials/` + the identifier as one path segment
/// (identifiers may hold any printable character).
pub fn page_href(identifier: &str) -> String {
    let mut href = String::from("/admin/api-credentials/");
    for byte in identifier.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            href.push(char::from(byte));
        } else {
            href.push_str(&format!("%{byte:02X}"));
        }
    }
    href
}

/// The page's URL for a window of `days`.
fn window_href(identifier: &str, days: u32) -> String {
    if days == DEFAULT_DAYS {
        page_href(identifier)
    } else {
        format!("{}?days={days}", page_href(identifier))
    }
}

/// `days` from a query or form: 1 to 90, default 30; otherwise what is wrong.
pub fn parse_days(form: &FormData) -> Result<u32, String> {
    let text = form.get("days").trim();
    if text.is_empty() {
        return Ok(DEFAULT_DAYS);
    }
    match text.parse::<u32>() {
        Ok(days) if (1..=MAX_DAYS).contains(&days) => Ok(days),
        _ => Err(format!(
            "The window must be a whole number of days from 1 to {MAX_DAYS}, not “{text}”."
        )),
    }
}

/// A window link.
pub struct WindowLink {
    /// Its text.
    pub label: &'static str,
    /// Its URL.
    pub href: String,
    /// The window shown.
    pub current: bool,
}

/// One action's row: calls allowed and denied over the window.
pub struct ActionRow {
    /// The action as called.
    pub action: String,
    /// Whether the credential's roles allow it now.
    pub permitted: bool,
    /// Allowed calls.
    pub allowed: u64,
    /// Denied calls in all.
    pub denied: u64,
    /// Denied calls by reason, for people.
    pub reasons: Vec<(String, u64)>,
    /// The last hour with a call.
    pub last: Stamp,
}

/// Why a call was denied, for people.
fn reason_text(stored: &str) -> String {
    let text = match UsageOutcome::parse(stored) {
        Some(UsageOutcome::ActionNotAllowed) => "action not allowed",
        Some(UsageOutcome::Disabled) => "disabled",
        Some(UsageOutcome::Expired) => "expired",
        Some(UsageOutcome::IpNotAllowed) => "address not allowed",
        Some(UsageOutcome::RateLimited) => "rate limited",
        Some(UsageOutcome::OutsideScope) => "outside its clients",
        Some(UsageOutcome::ResponseBlocked) => "answer withheld (other client)",
        Some(UsageOutcome::Allowed) | None => return stored.replace('_', " "),
    };
    text.to_string()
}

/// The advisor's finding, for the page.
pub struct AdviceView {
    /// Actions the roles allow.
    pub allowed: Vec<String>,
    /// Allowed actions called: the suggested role.
    pub used: Vec<String>,
    /// Allowed actions never called.
    pub unused: Vec<String>,
    /// Actions tried that the roles do not allow.
    pub denied: Vec<String>,
    /// Whether tightening would change anything.
    pub can_tighten: bool,
    /// The name of the role tightening creates.
    pub role_name: String,
    /// Why there is nothing to tighten.
    pub why_not: Option<String>,
}

impl AdviceView {
    fn new(advice: &Advice, credential: &Credential, days: u32) -> Self {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>();
        let window = window_text(days);
        let why_not = if advice.allowed.is_empty() {
            Some("Its roles allow no action, so there is nothing to take away.".to_string())
        } else if advice.used.is_empty() {
            Some(format!(
                "It called none of its allowed actions in {window}: a role of the actions it used would allow nothing. Try a longer window."
            ))
        } else if advice.unused.is_empty() {
            Some(format!(
                "It used every action its roles allow in {window}: it already has least privilege."
            ))
        } else {
            None
        };
        Self {
            allowed: list(&advice.allowed),
            used: list(&advice.used),
            unused: list(&advice.unused),
            denied: list(&advice.denied),
            can_tighten: advice.can_tighten(),
            role_name: least_privilege_name(credential),
            why_not,
        }
    }
}

/// "Least privilege for <description or identifier>".
fn least_privilege_name(credential: &Credential) -> String {
    let description = credential.description.trim();
    let name = if description.is_empty() {
        credential.identifier.as_str()
    } else {
        description
    };
    format!("Least privilege for {name}")
}

/// "the last 24 hours", "the last 30 days".
fn window_text(days: u32) -> String {
    match days {
        1 => "the last 24 hours".to_string(),
        n => format!("the last {n} days"),
    }
}

/// A role the credential holds, with a link to it.
pub struct HeldRole {
    /// Name.
    pub name: String,
    /// The roles tab with it open.
    pub href: String,
}

/// The credential page.
#[derive(Template)]
#[template(path = "credential.html")]
pub struct CredentialPage {
    /// Layout.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// The credential as its list row shows it (status, lifecycle, dates).
    pub row: CredentialRow,
    /// Owner, status and effective actions.
    pub overview: CredentialOverview,
    /// Its roles.
    pub roles: Vec<HeldRole>,
    /// The configured default rate limit.
    pub default_rate: Option<String>,
    /// The window, in days.
    pub days: u32,
    /// "the last 30 days".
    pub window: String,
    /// Window links.
    pub windows: Vec<WindowLink>,
    /// The usage chart.
    pub chart: Chart,
    /// Actions called in the window.
    pub actions: Vec<ActionRow>,
    /// The advisor.
    pub advice: AdviceView,
    /// The Tighten confirmation, when open.
    pub confirm: Option<Confirm>,
}

impl CredentialPage {
    /// The audit events about this credential.
    pub fn audit_href(&self) -> String {
        target_href(&self.row.identifier)
    }

    /// The Tighten confirmation for this window.
    pub fn tighten_href(&self) -> String {
        format!(
            "{}/tighten?days={}",
            page_href(&self.row.identifier),
            self.days
        )
    }

    /// The edit dialog on the credentials tab.
    pub fn edit_href(&self) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("identifier", &self.row.identifier)
            .finish();
        format!("/admin/api-credentials/credentials/edit?{query}")
    }
}

/// The page for `identifier` over `days`, with `confirm` open.
async fn render(
    state: &AppState,
    session: &Session,
    identifier: &str,
    days: u32,
    confirm: bool,
) -> UiResult {
    let usage = state.manager.credential_usage(identifier, days).await?;
    let (_, advice) = state.manager.advice(identifier, days).await?;
    let credential = usage.credential;
    let now = now_secs();
    let admins = state.manager.list_admins().await?;
    let all_roles = state.manager.list_roles().await?;
    let catalog = state.manager.catalog();
    let standing = Standing::new(&admins, &all_roles, &catalog);
    let row = CredentialRow::new(&credential, 0, false, now, &standing);
    let overview =
        CredentialOverview::new(&credential, row.admin_enabled, &all_roles, &catalog, now);
    let permitted: BTreeSet<String> = advice
        .allowed
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let actions = per_action(&usage.buckets)
        .into_iter()
        .map(|a| ActionRow {
            permitted: permitted.contains(&a.action.to_ascii_lowercase()),
            denied: a.denied_total(),
            reasons: a.denied.iter().map(|(r, n)| (reason_text(r), *n)).collect(),
            last: stamp(a.last_hour),
            allowed: a.allowed,
            action: a.action,
        })
        .collect();
    let advice_view = AdviceView::new(&advice, &credential, days);
    let confirm = (confirm && advice_view.can_tighten)
        .then(|| tighten_confirm(&credential, &advice_view, days));
    let title = format!("API Credential {}", credential.identifier);
    let page = CredentialPage {
        chrome: Chrome::for_session(state, session, &title, "credentials").await,
        csrf: session.csrf.clone(),
        roles: credential
            .roles
            .iter()
            .map(|r| HeldRole {
                name: r.name.clone(),
                href: role_href(&r.id.0.to_string(), &r.name),
            })
            .collect(),
        overview,
        default_rate: state.config().rate_limit.default.map(|r| r.to_string()),
        days,
        window: window_text(days),
        windows: WINDOWS
            .iter()
            .map(|&(d, label)| WindowLink {
                label,
                href: window_href(&credential.identifier, d),
                current: d == days,
            })
            .collect(),
        chart: Chart::new(&per_hour(&usage.buckets, usage.since, now + 1), days),
        actions,
        advice: advice_view,
        confirm,
        row,
    };
    Ok(html(StatusCode::OK, &page))
}

/// The confirmation in front of Tighten.
fn tighten_confirm(credential: &Credential, advice: &AdviceView, days: u32) -> Confirm {
    let held: Vec<&str> = credential.roles.iter().map(|r| r.name.as_str()).collect();
    let message = format!(
        "Replace the roles of API credential {} ({}) with a new role “{}” allowing only the {} it used in {}? It loses {}: {}. Calls to them are refused from then on.",
        credential.identifier,
        held.join(", "),
        advice.role_name,
        count(advice.used.len(), "action"),
        window_text(days),
        count(advice.unused.len(), "action"),
        advice.unused.join(", "),
    );
    Confirm {
        title: "Tighten API Credential".into(),
        message,
        affected: None,
        action: format!("{}/tighten", page_href(&credential.identifier)),
        fields: vec![("days".into(), days.to_string())],
        button: "Tighten",
        cancel: window_href(&credential.identifier, days),
    }
}

/// The days a query asks for, or what is wrong with them.
fn days_of(query: Option<String>) -> Result<u32, String> {
    parse_days(&FormData::parse(query.unwrap_or_default().as_bytes()))
}

/// The message page for a bad `days`.
fn bad_window(text: &str) -> axum::response::Response {
    message(StatusCode::BAD_REQUEST, "Bad window", text)
}

/// `GET /admin/api-credentials/{identifier}`.
async fn show(
    State(state): State<AppState>,
    Authed(session): Authed,
    Path(identifier): Path<String>,
    RawQuery(query): RawQuery,
) -> UiResult {
    let days = match days_of(query) {
        Ok(days) => days,
        Err(text) => return Ok(bad_window(&text)),
    };
    render(&state, &session, &identifier, days, false).await
}

/// `GET …/tighten`: the page with the confirmation open (when there is
/// something to tighten; otherwise the page says why not).
async fn confirm_tighten(
    State(state): State<AppState>,
    Authed(session): Authed,
    Path(identifier): Path<String>,
    RawQuery(query): RawQuery,
) -> UiResult {
    let days = match days_of(query) {
        Ok(days) => days,
        Err(text) => return Ok(bad_window(&text)),
    };
    render(&state, &session, &identifier, days, true).await
}

/// `POST …/tighten`: replaces the roles with the least-privilege role, as
/// the signed-in admin.
async fn tighten(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    posted: Posted,
) -> UiResult {
    let days = match parse_days(&posted.form) {
        Ok(days) => days,
        Err(text) => return Ok(bad_window(&text)),
    };
    let token = &posted.session.token;
    match posted
        .session
        .acting(&state)
        .tighten(&identifier, days)
        .await
    {
        Ok(done) => {
            let note = format!(
                "API credential {} now holds only the role “{}” with {}; {} it did not use in {} {} taken away.",
                done.credential.identifier,
                done.role.name,
                count(done.role.actions.len(), "action"),
                count(done.advice.unused.len(), "action"),
                window_text(days),
                if done.advice.unused.len() == 1 { "was" } else { "were" },
            );
            state.ui.sessions.set_flash(token, note).await;
            Ok(see_other(&window_href(&done.credential.identifier, days)))
        }
        Err(e @ keygate_store::Error::NotFound(_)) => Err(UiError(e)),
        Err(e) if is_user_error(&e) => {
            state
                .ui
                .sessions
                .set_flash(token, capitalize(&e.to_string()))
                .await;
            Ok(see_other(&window_href(&identifier, days)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_become_one_path_segment() {
        assert_eq!(page_href("AbC09"), "/admin/api-credentials/AbC09");
        assert_eq!(
            page_href("a b/c?d%é"),
            "/admin/api-credentials/a%20b%2Fc%3Fd%25%C3%A9"
        );
    }

    #[test]
    fn days_are_checked() {
        let days = |q: &str| parse_days(&FormData::parse(q.as_bytes()));
        assert_eq!(days(""), Ok(30));
        assert_eq!(days("days=7"), Ok(7));
        assert_eq!(days("days=90"), Ok(90));
        for bad in ["days=0", "days=91", "days=x", "days=-1", "days=1.5"] {
            assert!(days(bad).unwrap_err().contains("1 to 90"), "{bad}");
        }
    }
}
