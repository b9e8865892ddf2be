//! The audit trail in storage: every management change appends one event
//! naming the actor, the verb, the target and what changed (never a secret
//! or a hash); the chain verifies, and an event edited or deleted by SQL is
//! found and named. Each body runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use common::TestDb;
use keygate_core::audit::{Actor, AuditEvent, ChainBreak};
use keygate_core::model::Lifecycle;
use keygate_store::{AuditQuery, AuditVerification, CredentialEdit, Manager, RoleEdit, RoleInput};
use serde_json::json;

on_both_backends!(
    every_change_appends_the_right_event,
    the_chain_verifies_until_a_row_is_edited,
    deleting_events_is_detected,
    concurrent_writers_keep_one_chain,
    events_filter_and_page,
    an_import_carries_the_trail_and_adds_one_event,
    many_holders_are_counted_and_the_first_thousand_named,
);

/// Every event, oldest first.
async fn all_events(m: &Manager) -> Vec<AuditEvent> {
    let query = AuditQuery {
        limit: 10_000,
        ..AuditQuery::default()
    };
    let mut events = m.audit_events(&query).await.unwrap().events;
    events.reverse();
    events
}

fn role(name: &str, actions: &[&str]) -> RoleInput {
    RoleInput {
        name: name.into(),
        description: format!("{name} desk"),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        ..RoleInput::default()
    }
}

/// Runs SQL on the database behind `db` directly, as an attacker with
/// database access would.
async fn tamper(db: &TestDb, sql: &str) {
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn every_change_appends_the_right_event(db: TestDb) {
    let m = db.manager().await.acting_as(Actor::cli("ops"));
    let ui = m.acting_as(Actor::admin("alice", Some("192.0.2.7".into())));
    m.add_admin("alice", "password1").await.unwrap();
    let support = ui
        .create_role(role("Support", &["GetClients", "OpenTicket"]))
        .await
        .unwrap();
    let edit = RoleEdit {
        allow: vec!["GetInvoices".into()],
        revoke: vec!["OpenTicket".into()],
        ..RoleEdit::default()
    };
    ui.edit_role_by_id(support.id, edit).await.unwrap();
    let (cred, secret) = ui
        .generate_credential(
            "alice",
            "billing app",
            &["Support".into()],
            Lifecycle::default(),
        )
        .await
        .unwrap();
    let edit = CredentialEdit {
        description: Some("billing app v2".into()),
        ..CredentialEdit::default()
    };
    ui.edit_credential(&cred.identifier, edit).await.unwrap();
    ui.set_credential_enabled(&cred.identifier, false)
        .await
        .unwrap();
    let (_, new_secret, _) = ui
        .rotate_credential(&cred.identifier, Duration::from_secs(3600))
        .await
        .unwrap();
    m.change_password("alice", "password2").await.unwrap();
    ui.delete_credential(&cred.identifier).await.unwrap();
    ui.delete_role("Support").await.unwrap();
    m.set_admin_enabled("alice", false).await.unwrap();
    m.remove_admin("alice").await.unwrap();

    let events = all_events(&m).await;
    let verbs: Vec<&str> = events.iter().map(|e| e.verb.as_str()).collect();
    assert_eq!(
        verbs,
        [
            "admin.add",
            "role.create",
            "role.edit",
            "credential.generate",
            "credential.edit",
            "credential.disable",
            "credential.rotate",
            "admin.passwd",
            "credential.delete",
            "role.delete",
            "admin.disable",
            "admin.remove",
        ]
    );
    let actors: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.actor.as_str(), e.source.as_deref()))
        .collect();
    assert_eq!(actors[0], ("cli:ops", None));
    assert_eq!(actors[1], ("alice", Some("192.0.2.7")));

    let role_edit = events[2].changes_value();
    assert_eq!(events[2].target_id, support.id.0.to_string());
    assert_eq!(events[2].target_name, "Support");
    assert_eq!(role_edit["actions_added"], json!(["GetInvoices"]));
    assert_eq!(role_edit["actions_removed"], json!(["OpenTicket"]));

    let generated = events[3].changes_value();
    assert_eq!(events[3].target_id, cred.identifier);
    assert_eq!(generated["admin"]["after"], json!("alice"));
    assert_eq!(
        generated["roles"]["after"],
        json!([{ "id": support.id.0, "name": "Support" }])
    );
    assert_eq!(generated["enabled"]["after"], json!(true));

    let described = events[4].changes_value();
    assert_eq!(
        described,
        json!({ "description": { "before": "billing app", "after": "billing app v2" } })
    );
    assert_eq!(
        events[5].changes_value(),
        json!({ "enabled": { "before": true, "after": false } })
    );

    // Nothing secret is ever written: not the secrets, not their hashes.
    let secrets = [secret.expose(), new_secret.expose()];
    for event in &events {
        let stored = format!("{event:?}");
        for secret in &secrets {
            assert!(!stored.contains(secret), "a secret in {stored}");
            let hashes = keygate_core::SecretHashes::of(secret);
            for hash in [hashes.direct(), hashes.md5()] {
                let hex = keygate_core::secret::hex(hash);
                assert!(!stored.contains(&hex), "a hash in {stored}");
            }
        }
        assert!(!stored.contains("argon2"), "a password hash in {stored}");
    }
    assert_eq!(
        m.verify_audit().await.unwrap(),
        AuditVerification::Intact(12)
    );
}

async fn the_chain_verifies_until_a_row_is_edited(db: TestDb) {
    let m = db.manager().await.acting_as(Actor::cli("ops"));
    m.add_admin("alice", "password1").await.unwrap();
    for name in ["One", "Two", "Three"] {
        m.create_role(role(name, &["GetClients"])).await.unwrap();
    }
    assert_eq!(
        m.verify_audit().await.unwrap(),
        AuditVerification::Intact(4)
    );

    tamper(
        &db,
        "UPDATE audit_events SET actor = 'someone else' WHERE id = 3",
    )
    .await;
    assert_eq!(
        m.verify_audit().await.unwrap(),
        AuditVerification::Broken(ChainBreak::Edited { id: 3 })
    );
}

async fn deleting_events_is_detected(db: TestDb) {
    let m = db.manager().await;
    for name in ["One", "Two", "Three", "Four"] {
        m.create_role(role(name, &["GetClients"])).await.unwrap();
    }
    tamper(&db, "DELETE FROM audit_events WHERE id = 4").await;
    assert_eq!(
        m.verify_audit().await.unwrap(),
        AuditVerification::Broken(ChainBreak::Truncated { last: 3, head: 4 })
    );
    tamper(&db, "DELETE FROM audit_events WHERE id = 2").await;
    assert_eq!(
        m.verify_audit().await.unwrap(),
        AuditVerification::Broken(ChainBreak::Missing {
            expected: 2,
            found: 3
        })
    );
}

async fn concurrent_writers_keep_one_chain(db: TestDb) {
    // Two pools act as two processes (CLI and server, or two instances).
    let first = db.manager().await.acting_as(Actor::cli("one"));
    let second = db.manager().await.acting_as(Actor::cli("two"));
    let write = |m: Manager, prefix: &'static str| async move {
        for i in 0..15 {
            m.create_role(role(&format!("{prefix} {i}"), &["GetClients"]))
                .await
                .unwrap();
        }
    };
    tokio::join!(write(first.clone(), "A"), write(second.clone(), "B"));
    let events = all_events(&first).await;
    assert_eq!(events.len(), 30);
    assert_eq!(
        first.verify_audit().await.unwrap(),
        AuditVerification::Intact(30)
    );
    let by_two = events.iter().filter(|e| e.actor == "cli:two").count();
    assert_eq!(by_two, 15);
}

async fn events_filter_and_page(db: TestDb) {
    let m = db.manager().await;
    let alice = m.acting_as(Actor::admin("alice", Some("192.0.2.1".into())));
    let bob = m.acting_as(Actor::cli("bob"));
    for i in 0..5 {
        alice
            .create_role(role(&format!("Alice {i}"), &["GetClients"]))
            .await
            .unwrap();
    }
    let kept = bob
        .create_role(role("Kept", &["GetClients"]))
        .await
        .unwrap();
    bob.edit_role(
        "Kept",
        RoleEdit {
            description: Some("changed".into()),
            ..RoleEdit::default()
        },
    )
    .await
    .unwrap();

    let query = |actor: Option<&str>, target: Option<&str>, offset, limit| AuditQuery {
        since: None,
        actor: actor.map(Into::into),
        target: target.map(Into::into),
        offset,
        limit,
    };
    let page = m
        .audit_events(&query(Some("ALICE"), None, 0, 2))
        .await
        .unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.events[0].target_name, "Alice 4", "newest first");
    let last = m
        .audit_events(&query(Some("alice"), None, 4, 2))
        .await
        .unwrap();
    assert_eq!(last.events.len(), 1);
    assert_eq!(last.events[0].target_name, "Alice 0");

    let by_id = m
        .audit_events(&query(None, Some(&kept.id.0.to_string()), 0, 50))
        .await
        .unwrap();
    let by_name = m
        .audit_events(&query(None, Some("kept"), 0, 50))
        .await
        .unwrap();
    assert_eq!(by_id.total, 2);
    assert_eq!(by_id, by_name);
    assert_eq!(by_id.events[0].verb, "role.edit");

    let future = AuditQuery {
        since: Some(keygate_store::now_secs() + 3600),
        limit: 50,
        ..AuditQuery::default()
    };
    assert_eq!(m.audit_events(&future).await.unwrap().total, 0);
    // Filter text is data, never SQL.
    let odd = m
        .audit_events(&query(Some("x' OR '1'='1"), None, 0, 50))
        .await
        .unwrap();
    assert_eq!(odd.total, 0);
}

async fn an_import_carries_the_trail_and_adds_one_event(db: TestDb) {
    let source = TestDb::sqlite();
    let from = source.manager().await;
    from.add_admin("alice", "password1").await.unwrap();
    from.create_role(role("Support", &["GetClients"]))
        .await
        .unwrap();
    from.generate_credential("alice", "", &["Support".into()], Lifecycle::default())
        .await
        .unwrap();
    let backup = from.export_backup().await.unwrap();
    let history = all_events(&from).await;
    assert_eq!(backup.audit, history);

    // A trail edited in the file is refused before anything is written.
    let mut forged = backup.clone();
    forged.audit[1].actor = "someone else".into();
    let m = db.manager().await.acting_as(Actor::cli("restore"));
    let refused = m.import_backup(forged).await.unwrap_err().to_string();
    assert!(
        refused.contains("audit trail is broken: event 2"),
        "{refused}"
    );

    m.import_backup(backup).await.unwrap();
    let events = all_events(&m).await;
    assert_eq!(events[..3], history[..], "carried over as stored");
    assert_eq!(events.len(), 4);
    assert_eq!(events[3].verb, "backup.import");
    assert_eq!(events[3].actor, "cli:restore");
    assert_eq!(
        events[3].changes_value(),
        json!({ "admins": 1, "roles": 1, "credentials": 1 })
    );
    assert_eq!(
        m.verify_audit().await.unwrap(),
        AuditVerification::Intact(4)
    );
}

/// A deleted role's holders, or a removed admin's credentials, are named
/// up to a thousand (oldest first); beyond that the event counts them: it
/// never reads or stores every one.
async fn many_holders_are_counted_and_the_first_thousand_named(db: TestDb) {
    let m = db.manager().await;
    m.add_admin("alice", "password1").await.unwrap();
    m.add_admin("bob", "password1").await.unwrap();
    m.create_role(role("Wide", &["GetClients"])).await.unwrap();
    let mut first = None;
    for _ in 0..1_003 {
        let (credential, _) = m
            .generate_credential("alice", "", &["Wide".into()], Lifecycle::default())
            .await
            .unwrap();
        first.get_or_insert(credential.identifier);
    }
    m.generate_credential("bob", "", &["Wide".into()], Lifecycle::default())
        .await
        .unwrap();

    m.delete_role("Wide").await.unwrap();
    let deleted = all_events(&m).await.pop().unwrap();
    let changes: serde_json::Value = serde_json::from_str(&deleted.changes).unwrap();
    let named = changes["unassigned_from"].as_array().unwrap();
    assert_eq!(named.len(), 1_000);
    assert_eq!(named[0], json!(first.clone().unwrap()));
    assert_eq!(changes["unassigned_from_total"], json!(1_004));

    m.remove_admin("alice").await.unwrap();
    let removed = all_events(&m).await.pop().unwrap();
    let changes: serde_json::Value = serde_json::from_str(&removed.changes).unwrap();
    assert_eq!(
        changes["credentials_removed"].as_array().unwrap().len(),
        1_000
    );
    assert_eq!(changes["credentials_removed_total"], json!(1_003));

    m.remove_admin("bob").await.unwrap();
    let removed = all_events(&m).await.pop().unwrap();
    let changes: serde_json::Value = serde_json::from_str(&removed.changes).unwrap();
    assert_eq!(changes["credentials_removed"].as_array().unwrap().len(), 1);
    assert!(changes.get("credentials_removed_total").is_none());
}
