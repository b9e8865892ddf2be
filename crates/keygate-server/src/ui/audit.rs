//! The Audit page (`/admin/audit`): every management change, newest first,
//! filtered by actor, target and a start date (a plain GET form), 50 to a
//! page, each change shown as "field: before → after" or as the lists
//! added and removed.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use keygate_core::audit::AuditEvent;
use keygate_store::AuditQuery;
use serde_json::Value;

use super::credential_page::page_href;
use super::extract::Authed;
use super::form::FormData;
use super::render::{html, Chrome, UiResult};
use super::time::{parse_datetime, stamp, Stamp};
use super::views::{CredentialRow, RoleRow};
use crate::AppState;

/// The page's address.
pub const AUDIT_URL: &str = "/admin/audit";
/// Events per page.
pub const PAGE_SIZE: u32 = 50;
/// The highest page number asked for that is taken as is (beyond, the
/// last page is shown anyway; the cap keeps the offset small).
const MAX_PAGE: u64 = 1_000_000;
/// Longest actor or target filter accepted.
const MAX_FILTER: usize = 200;

/// Routes of the Audit page.
pub fn router() -> Router<AppState> {
    Router::new().route(AUDIT_URL, get(show))
}

/// The filters as typed, and the page asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Actor (`alice`, `cli:root`), or "".
    pub actor: String,
    /// Target (identifier, role id or name, username, description), or "".
    pub target: String,
    /// Start date as typed (`2026-01-31`), or "".
    pub since: String,
    /// 1-based page.
    pub page: u64,
}

impl Filters {
    /// Reads the query string; the page number is lenient (1 when unreadable).
    pub fn parse(raw: Option<&str>) -> Self {
        let form = FormData::parse(raw.unwrap_or("").as_bytes());
        Self {
            actor: form.get("actor").trim().to_string(),
            target: form.get("target").trim().to_string(),
            since: form.get("since").trim().to_string(),
            page: form
                .get("page")
                .trim()
                .parse()
                .unwrap_or(1)
                .clamp(1, MAX_PAGE),
        }
    }

    /// The store query for this page, or what is wrong with a filter.
    pub fn query(&self) -> Result<AuditQuery, String> {
        for (name, value) in [("Actor", &self.actor), ("Target", &self.target)] {
            if value.chars().count() > MAX_FILTER {
                return Err(format!(
                    "{name} is too long: at most {MAX_FILTER} characters."
                ));
            }
        }
        let since = match self.since.as_str() {
            "" => None,
            text => Some(parse_datetime(text).ok_or_else(|| {
                format!(
                    "“{text}” is not a date: write the start date as YYYY-MM-DD, e.g. 2026-01-31."
                )
            })?),
        };
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(AuditQuery {
            since,
            actor: optional(&self.actor),
            target: optional(&self.target),
            offset: (self.page - 1).saturating_mul(u64::from(PAGE_SIZE)),
            limit: PAGE_SIZE,
        })
    }

    /// Whether any filter narrows the list.
    pub fn is_filtered(&self) -> bool {
        !(self.actor.is_empty() && self.target.is_empty() && self.since.is_empty())
    }

    /// The URL of page `page` with these filters.
    pub fn page_url(&self, page: u64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("actor", &self.actor),
            ("target", &self.target),
            ("since", &self.since),
        ] {
            if !value.is_empty() {
                query.append_pair(key, value);
            }
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            AUDIT_URL.to_string()
        } else {
            format!("{AUDIT_URL}?{query}")
        }
    }
}

/// The audit page of events about `target`.
pub fn target_href(target: &str) -> String {
    Filters {
        target: target.to_string(),
        ..Filters::default()
    }
    .page_url(1)
}

/// One line of what an event changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeLine {
    /// A field's value before and after.
    Field(String, String, String),
    /// A list field: the items added and removed.
    List(String, Vec<String>, Vec<String>),
    /// A fact recorded with the change.
    Note(String, String),
}

/// A row of the audit table.
pub struct EventRow {
    /// Position in the chain.
    pub id: i64,
    /// When.
    pub at: Stamp,
    /// Who.
    pub actor: String,
    /// From which address.
    pub source: Option<String>,
    /// What (`credential.edit`).
    pub verb: String,
    /// `credential`, `role`, `admin`…
    pub target_kind: String,
    /// The target's key.
    pub target_id: String,
    /// The target's readable name.
    pub target_name: String,
    /// Where the target is shown, while it exists.
    pub target_href: Option<String>,
    /// This page filtered to the target.
    pub filter_href: String,
    /// What changed.
    pub changes: Vec<ChangeLine>,
}

impl EventRow {
    /// The row for `event`.
    pub fn new(event: &AuditEvent) -> Self {
        Self {
            id: event.id,
            at: stamp(event.at),
            actor: event.actor.clone(),
            source: event.source.clone(),
            verb: event.verb.clone(),
            target_kind: event.target_kind.clone(),
            target_id: event.target_id.clone(),
            target_name: event.target_name.clone(),
            target_href: target_link(event),
            filter_href: target_href(&event.target_id),
            changes: change_lines(&event.changes_value()),
        }
    }
}

/// Where an event's target is shown; none once it is gone.
fn target_link(event: &AuditEvent) -> Option<String> {
    let gone = event.verb.ends_with(".delete") || event.verb.ends_with(".remove");
    if gone {
        return None;
    }
    match event.target_kind.as_str() {
        "credential" => Some(page_href(&event.target_id)),
        "role" => Some(role_href(&event.target_id, &event.target_name)),
        "admin" => Some("/admin/admins".to_string()),
        _ => None,
    }
}

/// The roles tab searched for the role and with its permissions open.
pub fn role_href(id: &str, name: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("tab", "roles")
        .append_pair("q", name)
        .append_pair("view", id)
        .finish();
    format!("/admin/api-credentials?{query}")
}

/// The stored changes (a JSON object) as lines, in field order.
pub fn change_lines(changes: &Value) -> Vec<ChangeLine> {
    let Value::Object(fields) = changes else {
        return Vec::new();
    };
    fields
        .iter()
        .filter_map(|(field, value)| {
            let label = field.replace('_', " ");
            match (value.get("before"), value.get("after")) {
                (Some(Value::Array(before)), Some(Value::Array(after))) => {
                    let (added, removed) = list_diff(before, after);
                    (!added.is_empty() || !removed.is_empty())
                        .then_some(ChangeLine::List(label, added, removed))
                }
                (Some(before), Some(after)) if value.as_object().is_some_and(|o| o.len() == 2) => {
                    Some(ChangeLine::Field(
                        label,
                        shown(field, before),
                        shown(field, after),
                    ))
                }
                _ => Some(ChangeLine::Note(label, shown(field, value))),
            }
        })
        .collect()
}

/// Items of `after` not in `before`, and of `before` not in `after`.
fn list_diff(before: &[Value], after: &[Value]) -> (Vec<String>, Vec<String>) {
    let items = |list: &[Value]| list.iter().map(item).collect::<Vec<String>>();
    let (before, after) = (items(before), items(after));
    let added = after
        .iter()
        .filter(|a| !before.contains(a))
        .cloned()
        .collect();
    let removed = before
        .iter()
        .filter(|b| !after.contains(b))
        .cloned()
        .collect();
    (added, removed)
}

/// One list item: a role as its name, anything else as text.
fn item(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) => match map.get("name") {
            Some(Value::String(name)) => name.clone(),
            _ => value.to_string(),
        },
        other => other.to_string(),
    }
}

/// A value for people: times as dates, lists joined, nothing as "none".
fn shown(field: &str, value: &Value) -> String {
    let is_time = field.ends_with("_at") || field.ends_with("until");
    match value {
        Value::Null => "none".to_string(),
        Value::Bool(true) => "yes".to_string(),
        Value::Bool(false) => "no".to_string(),
        Value::Number(n) if is_time => n.as_i64().map_or(n.to_string(), |t| stamp(t).text),
        Value::String(s) if s.is_empty() => "(empty)".to_string(),
        Value::Array(list) if list.is_empty() => "none".to_string(),
        Value::Array(list) => list.iter().map(item).collect::<Vec<_>>().join(", "),
        other => item(other),
    }
}

/// A page link of the pager.
pub struct PageLink {
    /// Page number.
    pub page: u64,
    /// Its URL.
    pub href: String,
    /// The page shown.
    pub current: bool,
}

/// The Audit page.
#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    /// Layout.
    pub chrome: Chrome,
    /// The filters as typed.
    pub filters: Filters,
    /// What is wrong with a filter (nothing is listed then).
    pub error: Option<String>,
    /// This page's events.
    pub events: Vec<EventRow>,
    /// Matching events in all.
    pub total: u64,
    /// Pages in all.
    pub pages: u64,
    /// Index of the first event shown, 1-based (0 when none).
    pub first: u64,
    /// Index of the last event shown.
    pub last: u64,
}

impl AuditPage {
    /// Link to page `page` with the same filters.
    pub fn page_href(&self, page: u64) -> String {
        self.filters.page_url(page)
    }

    /// Numbered links: the first, the last and up to three either side
    /// of the current page.
    pub fn page_links(&self) -> Vec<PageLink> {
        let current = self.filters.page;
        (1..=self.pages)
            .filter(|&p| p == 1 || p == self.pages || p.abs_diff(current) <= 3)
            .map(|page| PageLink {
                page,
                href: self.page_href(page),
                current: page == current,
            })
            .collect()
    }
}

/// `GET /admin/audit`.
async fn show(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(raw): RawQuery,
) -> UiResult {
    let mut filters = Filters::parse(raw.as_deref());
    let mut page = AuditPage {
        chrome: Chrome::for_session(&state, &session, "Audit", "audit").await,
        filters: filters.clone(),
        error: None,
        events: Vec::new(),
        total: 0,
        pages: 1,
        first: 0,
        last: 0,
    };
    let mut query = match filters.query() {
        Ok(query) => query,
        Err(message) => {
            page.error = Some(message);
            return Ok(html(StatusCode::BAD_REQUEST, &page));
        }
    };
    let mut found = state.manager.audit_events(&query).await?;
    let pages = found.total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    if filters.page > pages {
        // Past the end (the list shrank, or a typed URL): show the last page.
        filters.page = pages;
        query = filters.query().map_err(|_| {
            super::render::UiError(keygate_store::Error::Invalid("bad page".into()))
        })?;
        found = state.manager.audit_events(&query).await?;
    }
    page.filters = filters;
    page.pages = pages;
    page.total = found.total;
    if !found.events.is_empty() {
        page.first = query.offset + 1;
        page.last = query.offset + found.events.len() as u64;
    }
    page.events = found.events.iter().map(EventRow::new).collect();
    Ok(html(StatusCode::OK, &page))
}

impl CredentialRow {
    /// The credential's own page.
    pub fn page_href(&self) -> String {
        page_href(&self.identifier)
    }

    /// The audit events about the credential.
    pub fn audit_href(&self) -> String {
        target_href(&self.identifier)
    }
}

impl RoleRow {
    /// The audit events about the role (by id: names change).
    pub fn audit_href(&self) -> String {
        target_href(&self.id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_round_trip_and_bad_dates_are_named() {
        let filters = Filters::parse(Some("actor=alice&target=a+b&since=2026-01-31&page=3"));
        assert_eq!(
            filters.page_url(3),
            "/admin/audit?actor=alice&target=a+b&since=2026-01-31&page=3"
        );
        let query = filters.query().unwrap();
        assert_eq!(query.since, parse_datetime("2026-01-31"));
        assert_eq!((query.offset, query.limit), (100, 50));
        let bad = Filters::parse(Some("since=yesterday&page=x"));
        assert_eq!(bad.page, 1);
        assert!(bad.query().unwrap_err().contains("YYYY-MM-DD"));
        let long = Filters::parse(Some(&format!("actor={}", "a".repeat(201))));
        assert!(long.query().unwrap_err().contains("too long"));
        assert_eq!(Filters::parse(None).page_url(1), AUDIT_URL);
        assert_eq!(target_href("x/y"), "/admin/audit?target=x%2Fy");
    }

    #[test]
    fn changes_read_as_lines() {
        let changes = json!({
            "description": {"before": "", "after": "Billing"},
            "expires_at": {"before": null, "after": 0},
            "roles": {"before": [{"id": 1, "name": "A"}], "after": [{"id": 2, "name": "B"}]},
            "allow_ips": {"before": [], "after": []},
            "actions_added": ["GetClients", "AddOrder"],
            "old_secret_valid_until": 0,
        });
        let lines = change_lines(&changes);
        assert!(lines.contains(&ChangeLine::Field(
            "description".into(),
            "(empty)".into(),
            "Billing".into()
        )));
        assert!(lines.contains(&ChangeLine::Field(
            "expires at".into(),
            "none".into(),
            "1970-01-01 00:00 UTC".into()
        )));
        assert!(lines.contains(&ChangeLine::List(
            "roles".into(),
            vec!["B".into()],
            vec!["A".into()]
        )));
        assert!(lines.contains(&ChangeLine::Note(
            "actions added".into(),
            "GetClients, AddOrder".into()
        )));
        assert!(lines.contains(&ChangeLine::Note(
            "old secret valid until".into(),
            "1970-01-01 00:00 UTC".into()
        )));
        assert_eq!(lines.len(), 5, "an unchanged list is left out: {lines:?}");
    }
}
