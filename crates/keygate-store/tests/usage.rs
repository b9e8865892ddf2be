//! Usage per credential and the least-privilege advisor in storage: counts
//! added in batches, read over a window, pruned, dropped with their
//! credential; the advice and `tighten` with its one audit event. Each body
//! runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;

use common::TestDb;
use keygate_core::model::{Credential, Lifecycle};
use keygate_core::usage::{hour_of, per_action, UsageBucket, UsageOutcome, HOUR};
use keygate_core::{Call, Catalog, Decision, PlainSecret, Snapshot};
use keygate_store::{now_secs, AuditQuery, Error, Manager, RoleInput, UsageCount};

on_both_backends!(
    counts_add_up_per_bucket_and_read_back_by_window,
    old_buckets_are_pruned,
    counts_of_deleted_credentials_are_dropped,
    advice_compares_the_roles_with_what_was_used,
    tighten_assigns_exactly_the_used_actions_in_one_audited_change,
    tighten_refuses_when_nothing_would_change,
    tighten_numbers_taken_names_and_fits_long_descriptions,
);

fn count(identifier: &str, hour: i64, action: &str, outcome: UsageOutcome, n: u64) -> UsageCount {
    UsageCount {
        identifier: identifier.into(),
        hour,
        action: action.into(),
        outcome,
        count: n,
    }
}

async fn role(manager: &Manager, name: &str, actions: &[&str]) {
    manager
        .create_role(RoleInput {
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            ..RoleInput::default()
        })
        .await
        .unwrap();
}

/// Admin alice, roles Billing and Support, and a credential holding both.
async fn setup(db: &TestDb, description: &str) -> (Manager, Credential) {
    let (manager, credential, _) = setup_with_secret(db, description).await;
    (manager, credential)
}

async fn setup_with_secret(db: &TestDb, description: &str) -> (Manager, Credential, PlainSecret) {
    let manager = db.manager().await;
    if manager.admin("alice").await.is_err() {
        manager.add_admin("alice", "password1").await.unwrap();
        role(
            &manager,
            "Billing",
            &["GetClients", "GetInvoices", "AddInvoicePayment"],
        )
        .await;
        role(&manager, "Support", &["GetTickets", "OpenTicket"]).await;
    }
    let (credential, secret) = manager
        .generate_credential(
            "alice",
            description,
            &["Billing".into(), "Support".into()],
            Lifecycle::default(),
        )
        .await
        .unwrap();
    (manager, credential, secret)
}

async fn counts_add_up_per_bucket_and_read_back_by_window(db: TestDb) {
    let (manager, credential) = setup(&db, "bot").await;
    let store = manager.store();
    let id = credential.identifier.as_str();
    let now = hour_of(now_secs());
    let (earlier, later) = (now - 5 * HOUR, now);
    store
        .record_usage(&[
            count(id, earlier, "GetClients", UsageOutcome::Allowed, 3),
            count(id, later, "GetClients", UsageOutcome::Allowed, 1),
            count(id, later, "GetClients", UsageOutcome::RateLimited, 2),
        ])
        .await
        .unwrap();
    // A second batch adds to the same buckets.
    store
        .record_usage(&[
            count(id, earlier, "GetClients", UsageOutcome::Allowed, 4),
            count(id, later, "AddOrder", UsageOutcome::ActionNotAllowed, 6),
        ])
        .await
        .unwrap();
    store.record_usage(&[]).await.unwrap();
    let all = store.usage(credential.id, earlier).await.unwrap();
    let bucket = |hour, action: &str, outcome, count| UsageBucket {
        hour,
        action: action.into(),
        outcome,
        count,
    };
    assert_eq!(
        all,
        vec![
            bucket(earlier, "GetClients", UsageOutcome::Allowed, 7),
            bucket(later, "AddOrder", UsageOutcome::ActionNotAllowed, 6),
            bucket(later, "GetClients", UsageOutcome::Allowed, 1),
            bucket(later, "GetClients", UsageOutcome::RateLimited, 2),
        ]
    );
    // `since` inside an hour reads that whole hour on.
    let recent = store.usage(credential.id, later + 59).await.unwrap();
    assert_eq!(recent.len(), 3);
    assert!(recent.iter().all(|b| b.hour == later));

    // Through the manager: the window in days, the credential by identifier.
    let usage = manager.credential_usage(id, 1).await.unwrap();
    assert_eq!(usage.credential.id, credential.id);
    assert!((now_secs() - 86_400 - usage.since).abs() <= 2);
    assert_eq!(usage.buckets, all);
    let actions = per_action(&usage.buckets);
    assert_eq!(actions[1].action, "GetClients");
    assert_eq!(actions[1].allowed, 8);
    assert_eq!(actions[1].denied["rate_limited"], 2);
    for days in [0, 3651] {
        let err = manager.credential_usage(id, days).await.unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{days}: {err}");
    }
    assert!(matches!(
        manager.credential_usage("nobody", 30).await,
        Err(Error::NotFound(_))
    ));
}

async fn old_buckets_are_pruned(db: TestDb) {
    let (manager, credential) = setup(&db, "bot").await;
    let store = manager.store();
    let id = credential.identifier.as_str();
    let now = hour_of(now_secs());
    let old = now - 100 * 24 * HOUR;
    store
        .record_usage(&[
            count(id, old, "GetClients", UsageOutcome::Allowed, 1),
            count(id, old, "GetClients", UsageOutcome::Disabled, 1),
            count(id, now - 10 * HOUR, "GetClients", UsageOutcome::Allowed, 1),
            count(id, now, "GetClients", UsageOutcome::Allowed, 1),
        ])
        .await
        .unwrap();
    let cutoff = hour_of(now_secs() - 90 * 86_400);
    assert_eq!(store.prune_usage(cutoff).await.unwrap(), 2);
    assert_eq!(store.prune_usage(cutoff).await.unwrap(), 0);
    let left = store.usage(credential.id, 0).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|b| b.hour >= cutoff));
    // The bucket of the cut-off hour itself stays.
    assert_eq!(store.prune_usage(now).await.unwrap(), 1);
    assert_eq!(store.usage(credential.id, 0).await.unwrap().len(), 1);
}

async fn counts_of_deleted_credentials_are_dropped(db: TestDb) {
    let (manager, credential) = setup(&db, "bot").await;
    let (_, other) = setup(&db, "other").await;
    let store = manager.store();
    let now = hour_of(now_secs());
    store
        .record_usage(&[
            count(
                &credential.identifier,
                now,
                "GetClients",
                UsageOutcome::Allowed,
                2,
            ),
            count(
                &other.identifier,
                now,
                "GetClients",
                UsageOutcome::Allowed,
                5,
            ),
        ])
        .await
        .unwrap();
    manager
        .delete_credential(&credential.identifier)
        .await
        .unwrap();
    assert!(store.usage(credential.id, 0).await.unwrap().is_empty());
    // A batch naming the deleted credential (flushed after the delete) and
    // one nobody ever had: those counts go, the rest are written.
    store
        .record_usage(&[
            count(
                &credential.identifier,
                now,
                "GetClients",
                UsageOutcome::Allowed,
                1,
            ),
            count("never-existed", now, "GetClients", UsageOutcome::Allowed, 1),
            count(
                &other.identifier,
                now,
                "GetClients",
                UsageOutcome::Allowed,
                1,
            ),
        ])
        .await
        .unwrap();
    assert!(store.usage(credential.id, 0).await.unwrap().is_empty());
    let kept = store.usage(other.id, 0).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].count, 6);
}

/// Calls of `credential`: GetClients and GetTickets allowed, GetInvoices
/// only rate limited, AddOrder denied (no role allows it).
async fn record_story(manager: &Manager, credential: &Credential) {
    let id = credential.identifier.as_str();
    let now = hour_of(now_secs());
    manager
        .store()
        .record_usage(&[
            count(id, now - 48 * HOUR, "GetClients", UsageOutcome::Allowed, 40),
            count(id, now, "GetClients", UsageOutcome::Allowed, 5),
            count(id, now, "GetTickets", UsageOutcome::Allowed, 2),
            count(id, now, "GetInvoices", UsageOutcome::RateLimited, 9),
            count(id, now, "AddOrder", UsageOutcome::ActionNotAllowed, 3),
            // Long before the window: not evidence of use.
            count(
                id,
                now - 40 * 24 * HOUR,
                "OpenTicket",
                UsageOutcome::Allowed,
                1,
            ),
        ])
        .await
        .unwrap();
}

fn names(actions: &[&str]) -> std::collections::BTreeSet<String> {
    actions.iter().map(|a| a.to_string()).collect()
}

async fn advice_compares_the_roles_with_what_was_used(db: TestDb) {
    let (manager, credential) = setup(&db, "billing bot").await;
    record_story(&manager, &credential).await;
    let (seen, advice) = manager.advice(&credential.identifier, 30).await.unwrap();
    assert_eq!(seen.id, credential.id);
    assert_eq!(
        advice.allowed,
        names(&[
            "AddInvoicePayment",
            "GetClients",
            "GetInvoices",
            "GetTickets",
            "OpenTicket"
        ])
    );
    assert_eq!(advice.used, names(&["GetClients", "GetTickets"]));
    assert_eq!(
        advice.unused,
        names(&["AddInvoicePayment", "GetInvoices", "OpenTicket"])
    );
    assert_eq!(advice.denied, names(&["AddOrder"]));
    assert!(advice.can_tighten());
    // Over one day this hour's calls are the evidence; over 60 days
    // OpenTicket's call of 40 days ago counts too.
    let (_, day) = manager.advice(&credential.identifier, 1).await.unwrap();
    assert_eq!(day.used, names(&["GetClients", "GetTickets"]));
    let (_, long) = manager.advice(&credential.identifier, 60).await.unwrap();
    assert_eq!(
        long.used,
        names(&["GetClients", "GetTickets", "OpenTicket"])
    );
    // Nothing changed.
    let after = manager.credential(&credential.identifier).await.unwrap();
    assert_eq!(after.roles, credential.roles);
}

async fn tighten_assigns_exactly_the_used_actions_in_one_audited_change(db: TestDb) {
    let (manager, credential, secret) = setup_with_secret(&db, "billing bot").await;
    record_story(&manager, &credential).await;
    let before_events = manager
        .audit_events(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .total;
    let done = manager.tighten(&credential.identifier, 30).await.unwrap();
    assert_eq!(done.role.name, "Least privilege for billing bot");
    assert_eq!(done.role.actions, vec!["GetClients", "GetTickets"]);
    assert_eq!(done.advice.used, names(&["GetClients", "GetTickets"]));
    assert_eq!(done.credential.roles.len(), 1);
    assert_eq!(done.credential.roles[0].id, done.role.id);
    // Stored as returned; the old roles still exist for anyone else.
    let stored = manager.credential(&credential.identifier).await.unwrap();
    assert_eq!(stored.roles, done.credential.roles);
    assert_eq!(manager.role(&done.role.name).await.unwrap(), done.role);
    assert!(manager.role("Billing").await.is_ok());
    assert!(manager.role("Support").await.is_ok());

    // Exactly one event: the tightening, naming the new role and the roles
    // before and after (no separate role.create or credential.edit).
    let page = manager
        .audit_events(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, before_events + 1, "{:#?}", page.events);
    let event = &page.events[0];
    assert_eq!(event.verb, "credential.tighten");
    assert_eq!(event.target_kind, "credential");
    assert_eq!(event.target_id, credential.identifier);
    assert_eq!(event.target_name, "billing bot");
    let changes = event.changes_value();
    assert_eq!(
        changes["role_created"]["name"],
        "Least privilege for billing bot"
    );
    assert_eq!(
        changes["role_created"]["id"],
        serde_json::json!(done.role.id)
    );
    assert_eq!(
        changes["role_created"]["actions"],
        serde_json::json!(["GetClients", "GetTickets"])
    );
    let before: Vec<&str> = changes["roles"]["before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(before, ["Billing", "Support"]);
    assert_eq!(
        changes["roles"]["after"][0]["name"],
        "Least privilege for billing bot"
    );
    assert_eq!(
        changes["actions_removed"],
        serde_json::json!(["AddInvoicePayment", "GetInvoices", "OpenTicket"])
    );
    // Found by the credential's identifier too.
    let about = manager
        .audit_events(&AuditQuery {
            target: Some(credential.identifier.clone()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(about.events.iter().any(|e| e.verb == "credential.tighten"));

    // What the server decides from: the used actions allowed, the rest not.
    let source = manager.store().snapshot_source().await.unwrap();
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    for (action, allowed) in [
        ("GetClients", true),
        ("GetTickets", true),
        ("GetInvoices", false),
        ("OpenTicket", false),
        ("AddOrder", false),
    ] {
        let call = Call::new(&credential.identifier, secret.expose(), action);
        let decision = snapshot.decide(&call);
        assert_eq!(
            matches!(decision, Decision::Allowed(_)),
            allowed,
            "{action}: {decision:?}"
        );
    }
}

async fn tighten_refuses_when_nothing_would_change(db: TestDb) {
    let (manager, credential) = setup(&db, "quiet").await;
    let id = credential.identifier.as_str();
    // Nothing used at all.
    let err = manager.tighten(id, 30).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("no allowed call"), "{err}");
    // Only denied calls: still nothing to base a role on.
    manager
        .store()
        .record_usage(&[count(
            id,
            hour_of(now_secs()),
            "AddOrder",
            UsageOutcome::ActionNotAllowed,
            4,
        )])
        .await
        .unwrap();
    let err = manager.tighten(id, 30).await.unwrap_err();
    assert!(err.to_string().contains("no allowed call"), "{err}");
    // Tightened once, it is least privilege: a second run changes nothing.
    record_story(&manager, &credential).await;
    manager.tighten(id, 30).await.unwrap();
    let roles = manager.credential(id).await.unwrap().roles;
    let err = manager.tighten(id, 30).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(
        err.to_string().contains("already has least privilege"),
        "{err}"
    );
    assert_eq!(manager.credential(id).await.unwrap().roles, roles);
    assert!(matches!(
        manager.tighten(id, 0).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        manager.tighten("nobody", 30).await,
        Err(Error::NotFound(_))
    ));
    let tightenings = manager
        .audit_events(&AuditQuery {
            target: Some(id.to_string()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .events
        .iter()
        .filter(|e| e.verb == "credential.tighten")
        .count();
    assert_eq!(tightenings, 1, "refusals write nothing");
}

async fn tighten_numbers_taken_names_and_fits_long_descriptions(db: TestDb) {
    let (manager, first) = setup(&db, "twin").await;
    let (_, second) = setup(&db, "twin").await;
    let (_, third) = setup(&db, "").await;
    let long = "a very long description ".repeat(10);
    let (_, fourth) = setup(&db, long.trim()).await;
    for credential in [&first, &second, &third, &fourth] {
        record_story(&manager, credential).await;
    }
    let a = manager.tighten(&first.identifier, 30).await.unwrap();
    let b = manager.tighten(&second.identifier, 30).await.unwrap();
    assert_eq!(a.role.name, "Least privilege for twin");
    assert_eq!(b.role.name, "Least privilege for twin (2)");
    // Without a description the identifier names it.
    let c = manager.tighten(&third.identifier, 30).await.unwrap();
    assert_eq!(
        c.role.name,
        format!("Least privilege for {}", third.identifier)
    );
    let d = manager.tighten(&fourth.identifier, 30).await.unwrap();
    assert_eq!(
        d.role.name.chars().count(),
        keygate_core::validate::MAX_ROLE_NAME
    );
    assert!(d.role.name.starts_with("Least privilege for a very long"));
    assert!(d.role.name.ends_with("..."), "{}", d.role.name);
    // A name taken in another case is taken.
    let (_, fifth) = setup(&db, "TWIN").await;
    record_story(&manager, &fifth).await;
    let e = manager.tighten(&fifth.identifier, 30).await.unwrap();
    assert_eq!(e.role.name, "Least privilege for TWIN (3)");
}
