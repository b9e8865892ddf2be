//! `keygate credential usage` and `keygate credential tighten`: a
//! credential's calls per action over a window, and the least-privilege
//! role they suggest.

use std::collections::{BTreeMap, BTreeSet};

use keygate_core::model::Credential;
use keygate_core::usage::{hour_of, per_action, ActionUsage, Advice, UsageOutcome};
use keygate_store::Manager;
use serde::Serialize;
use serde_json::json;

use crate::output;

/// `credential usage ID [--days N]`: per action, allowed and denied calls
/// (by reason) and the last hour called, then the totals.
pub async fn usage(
    manager: &Manager,
    identifier: &str,
    days: u32,
    json: bool,
) -> anyhow::Result<()> {
    let usage = manager.credential_usage(identifier, days).await?;
    let actions = per_action(&usage.buckets);
    let total = totals(&actions);
    let since = hour_of(usage.since);
    if json {
        return output::json(&UsageReport {
            identifier: &usage.credential.identifier,
            description: &usage.credential.description,
            days,
            since,
            actions: &actions,
            total,
        });
    }
    println!(
        "Credential {}{}: calls in the last {days} days (since {}).",
        usage.credential.identifier,
        described(&usage.credential),
        output::time(since)
    );
    if actions.is_empty() {
        println!("No calls recorded.");
        println!("(The server writes its counts to the database every few seconds.)");
        return Ok(());
    }
    // A column per denial reason that occurred, in a fixed order.
    let reasons: Vec<UsageOutcome> = UsageOutcome::ALL
        .into_iter()
        .filter(|o| !o.is_allowed() && total.denied.contains_key(o.as_str()))
        .collect();
    let mut header = vec!["ACTION", "ALLOWED", "DENIED"];
    header.extend(reasons.iter().map(|r| reason_header(*r)));
    header.push("LAST HOUR");
    let row = |name: &str, allowed: u64, denied: &BTreeMap<String, u64>, last: Option<i64>| {
        let mut cells = vec![
            name.to_string(),
            allowed.to_string(),
            denied.values().sum::<u64>().to_string(),
        ];
        cells.extend(
            reasons
                .iter()
                .map(|r| denied.get(r.as_str()).copied().unwrap_or(0).to_string()),
        );
        cells.push(last.map_or_else(|| "-".into(), output::time));
        cells
    };
    let mut rows: Vec<Vec<String>> = actions
        .iter()
        .map(|a| row(&a.action, a.allowed, &a.denied, Some(a.last_hour)))
        .collect();
    rows.push(row(
        &format!("TOTAL ({} actions)", actions.len()),
        total.allowed,
        &total.denied,
        actions.iter().map(|a| a.last_hour).max(),
    ));
    output::table(&header, &rows);
    Ok(())
}

/// `credential tighten ID [--days N] [--apply]`: what the roles allow,
/// what was used, what tightening takes away and what it leaves out; with
/// `--apply` the role is created and assigned.
pub async fn tighten(
    manager: &Manager,
    identifier: &str,
    days: u32,
    apply: bool,
    json: bool,
) -> anyhow::Result<()> {
    if apply {
        // Read first, to print the roles it held.
        let before = manager.credential(identifier).await?;
        let done = manager.tighten(identifier, days).await?;
        if json {
            return output::json(&TightenReport {
                identifier: &done.credential.identifier,
                days,
                advice: &done.advice,
                can_tighten: true,
                applied: true,
                role: Some(json!({
                    "id": done.role.id,
                    "name": done.role.name,
                    "actions": done.role.actions,
                })),
            });
        }
        print_advice(&before, &done.advice, days);
        println!(
            "Created role \"{}\" ({} actions) and assigned it to {} in place of {}.",
            done.role.name,
            done.role.actions.len(),
            done.credential.identifier,
            role_list(&before)
        );
        return Ok(());
    }
    let (credential, advice) = manager.advice(identifier, days).await?;
    if json {
        return output::json(&TightenReport {
            identifier: &credential.identifier,
            days,
            advice: &advice,
            can_tighten: advice.can_tighten(),
            applied: false,
            role: None,
        });
    }
    print_advice(&credential, &advice, days);
    if advice.used.is_empty() {
        println!("Nothing to suggest: no allowed call in the last {days} days.");
    } else if !advice.can_tighten() {
        println!("Nothing to tighten: every action its roles allow was used.");
    } else {
        let subject = match credential.description.trim() {
            "" => credential.identifier.as_str(),
            description => description,
        };
        println!(
            "Suggested: a role \"Least privilege for {subject}\" with the {} used actions, in place of {}.",
            advice.used.len(),
            role_list(&credential)
        );
        println!("Nothing was changed; run again with --apply to create and assign it.");
    }
    Ok(())
}

fn print_advice(credential: &Credential, advice: &Advice, days: u32) {
    println!(
        "Credential {}{}, roles {}: the last {days} days.",
        credential.identifier,
        described(credential),
        role_list(credential)
    );
    let line = |label: &str, actions: &BTreeSet<String>| {
        let list = if actions.is_empty() {
            "-".to_string()
        } else {
            actions.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        println!("  {label} ({}): {list}", actions.len());
    };
    line("allowed by its roles", &advice.allowed);
    line("used", &advice.used);
    line("unused, taken away", &advice.unused);
    line("tried but denied, left out", &advice.denied);
}

fn described(credential: &Credential) -> String {
    match credential.description.trim() {
        "" => String::new(),
        description => format!(" ({description})"),
    }
}

fn role_list(credential: &Credential) -> String {
    if credential.roles.is_empty() {
        return "none".into();
    }
    credential
        .roles
        .iter()
        .map(|r| format!("\"{}\"", r.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column header of a denial reason.
fn reason_header(outcome: UsageOutcome) -> &'static str {
    match outcome {
        UsageOutcome::Allowed => "ALLOWED",
        UsageOutcome::ActionNotAllowed => "NOT ALLOWED",
        UsageOutcome::Disabled => "DISABLED",
        UsageOutcome::Expired => "EXPIRED",
        UsageOutcome::IpNotAllowed => "IP NOT ALLOWED",
        UsageOutcome::RateLimited => "RATE LIMITED",
        UsageOutcome::OutsideScope => "OUTSIDE SCOPE",
        UsageOutcome::ResponseBlocked => "RESPONSE WITHHELD",
    }
}

/// Every action's calls added up.
#[derive(Clone, Debug, Default, Serialize)]
struct Totals {
    allowed: u64,
    denied_total: u64,
    denied: BTreeMap<String, u64>,
}

fn totals(actions: &[ActionUsage]) -> Totals {
    let mut total = Totals::default();
    for action in actions {
        total.allowed += action.allowed;
        for (reason, count) in &action.denied {
            *total.denied.entry(reason.clone()).or_default() += count;
            total.denied_total += count;
        }
    }
    total
}

/// `credential usage --json`: times are unix seconds, hours their start.
#[derive(Serialize)]
struct UsageReport<'a> {
    identifier: &'a str,
    description: &'a str,
    days: u32,
    since: i64,
    actions: &'a [ActionUsage],
    total: Totals,
}

/// `credential tighten --json`.
#[derive(Serialize)]
struct TightenReport<'a> {
    identifier: &'a str,
    days: u32,
    #[serde(flatten)]
    advice: &'a Advice,
    can_tighten: bool,
    applied: bool,
    role: Option<serde_json::Value>,
}
