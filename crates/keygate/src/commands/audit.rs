//! `keygate audit`: the audit trail of management changes, newest first,
//! and `keygate audit verify`, which checks its hash chain.

use anyhow::bail;
use keygate_core::audit::{AuditEvent, ChainBreak};
use keygate_store::{now_secs, AuditQuery, AuditVerification, Manager};
use serde::Serialize;
use serde_json::Value;

use crate::cli::{AuditArgs, AuditCommand};
use crate::output;
use crate::when::parse_since;

/// Runs `keygate audit …`.
pub async fn run(manager: &Manager, args: AuditArgs, json: bool) -> anyhow::Result<()> {
    match args.command {
        Some(AuditCommand::Verify) => verify(manager, json).await,
        None => list(manager, args, json).await,
    }
}

/// An event as `--json` prints it: the changes as an object.
#[derive(Serialize)]
struct EventJson<'a> {
    id: i64,
    at: String,
    actor: &'a str,
    source: Option<&'a str>,
    verb: &'a str,
    target_kind: &'a str,
    target_id: &'a str,
    target_name: &'a str,
    changes: Value,
    hash: &'a str,
}

impl<'a> From<&'a AuditEvent> for EventJson<'a> {
    fn from(event: &'a AuditEvent) -> Self {
        Self {
            id: event.id,
            at: output::time(event.at),
            actor: &event.actor,
            source: event.source.as_deref(),
            verb: &event.verb,
            target_kind: &event.target_kind,
            target_id: &event.target_id,
            target_name: &event.target_name,
            changes: event.changes_value(),
            hash: &event.hash,
        }
    }
}

async fn list(manager: &Manager, args: AuditArgs, json: bool) -> anyhow::Result<()> {
    let query = AuditQuery {
        since: args
            .since
            .as_deref()
            .map(|text| parse_since(text, now_secs()))
            .transpose()?,
        actor: args.actor.map(|a| a.trim().to_string()),
        target: args.target.map(|t| t.trim().to_string()),
        offset: 0,
        limit: args.limit,
    };
    let page = manager.audit_events(&query).await?;
    if json {
        let events: Vec<EventJson> = page.events.iter().map(EventJson::from).collect();
        return output::json(&events);
    }
    if page.events.is_empty() {
        println!("No audit events match.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page.events.iter().map(row).collect();
    output::table(
        &["TIME", "ACTOR", "SOURCE", "VERB", "TARGET", "CHANGES"],
        &rows,
    );
    if page.total > page.events.len() as u64 {
        println!(
            "({} of {} events shown; use --limit or narrow with --since/--actor/--target)",
            page.events.len(),
            page.total
        );
    }
    Ok(())
}

/// One table row.
fn row(event: &AuditEvent) -> Vec<String> {
    let target = if event.target_name.is_empty() || event.target_name == event.target_id {
        format!("{} {}", event.target_kind, event.target_id)
    } else {
        format!(
            "{} {} ({})",
            event.target_kind, event.target_id, event.target_name
        )
    };
    vec![
        output::time(event.at),
        event.actor.clone(),
        event.source.clone().unwrap_or_else(|| "-".into()),
        event.verb.clone(),
        target,
        summary(&event.changes_value()),
    ]
}

/// `field: before → after` per changed field, `field: value` for notes.
pub fn summary(changes: &Value) -> String {
    let Value::Object(fields) = changes else {
        return String::new();
    };
    fields
        .iter()
        .map(|(field, value)| match value {
            Value::Object(pair) if pair.contains_key("before") || pair.contains_key("after") => {
                let side = |key: &str| compact(pair.get(key).unwrap_or(&Value::Null));
                format!("{field}: {} → {}", side("before"), side("after"))
            }
            other => format!("{field}: {}", compact(other)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A value in a line: strings unquoted, role lists by name, long lists cut.
fn compact(value: &Value) -> String {
    const MAX_ITEMS: usize = 6;
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let mut shown: Vec<String> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|item| match item.get("name") {
                    Some(name) => compact(name),
                    None => compact(item),
                })
                .collect();
            if items.len() > MAX_ITEMS {
                shown.push(format!("… {} more", items.len() - MAX_ITEMS));
            }
            format!("[{}]", shown.join(", "))
        }
        other => other.to_string(),
    }
}

/// `--json` for `audit verify`.
#[derive(Serialize)]
struct VerifyJson {
    intact: bool,
    events: Option<i64>,
    broken_at: Option<i64>,
    problem: Option<String>,
}

async fn verify(manager: &Manager, json: bool) -> anyhow::Result<()> {
    match manager.verify_audit().await? {
        AuditVerification::Intact(events) => {
            if json {
                output::json(&VerifyJson {
                    intact: true,
                    events: Some(events),
                    broken_at: None,
                    problem: None,
                })
            } else {
                println!("audit trail intact: {events} events, every hash and link checked");
                Ok(())
            }
        }
        AuditVerification::Broken(broken) => {
            if json {
                output::json(&VerifyJson {
                    intact: false,
                    events: None,
                    broken_at: Some(broken_at(&broken)),
                    problem: Some(broken.to_string()),
                })?;
            }
            bail!("audit trail broken: {broken}")
        }
    }
}

/// The event a break is reported at.
fn broken_at(broken: &ChainBreak) -> i64 {
    match broken {
        ChainBreak::Edited { id } | ChainBreak::Unlinked { id } | ChainBreak::Unrecorded { id } => {
            *id
        }
        ChainBreak::Missing { expected, .. } => *expected,
        ChainBreak::Truncated { last, .. } => last + 1,
    }
}
