//! `keygate audit` and `keygate audit verify` through the real binary: CLI
//! changes are audited as `cli:<unix user>`, the filters work, and after an
//! event is edited in the database by SQL `audit verify` exits 1 naming it.

mod common;

use common::Scratch;
use serde_json::Value;

fn events(s: &Scratch, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&s.ok(&all)).unwrap()
}

/// A few changes of every kind, made through the CLI.
fn populate(s: &Scratch) -> String {
    s.add_admin("alice");
    s.ok(&["role", "create", "Support", "--allow", "GetClients"]);
    s.ok(&["role", "edit", "Support", "--allow", "OpenTicket"]);
    let (identifier, _) = s.generate("alice", &["Support"]);
    s.ok(&[
        "credential",
        "edit",
        &identifier,
        "--description",
        "ticket app",
    ]);
    identifier
}

#[test]
fn cli_changes_are_audited_as_the_unix_user() {
    let s = Scratch::new();
    let identifier = populate(&s);
    let all = events(&s, &[]);
    let verbs: Vec<&str> = all.iter().map(|e| e["verb"].as_str().unwrap()).collect();
    assert_eq!(
        verbs,
        [
            "credential.edit",
            "credential.generate",
            "role.edit",
            "role.create",
            "admin.add"
        ],
        "newest first"
    );
    let actor = all[0]["actor"].as_str().unwrap();
    assert!(actor.starts_with("cli:") && actor.len() > 4, "{actor}");
    assert_eq!(
        all[0]["changes"]["description"],
        serde_json::json!({"before": "", "after": "ticket app"})
    );

    let mine = events(&s, &["--target", &identifier]);
    assert_eq!(mine.len(), 2);
    assert_eq!(events(&s, &["--target", "support"]).len(), 2);
    assert_eq!(events(&s, &["--limit", "1"]).len(), 1);
    assert_eq!(events(&s, &["--actor", actor]).len(), 5);
    assert_eq!(events(&s, &["--actor", "nobody"]).len(), 0);
    assert_eq!(events(&s, &["--since", "1h"]).len(), 5);
    assert_eq!(events(&s, &["--since", "2999-01-01T00:00:00Z"]).len(), 0);

    let text = s.ok(&["audit"]);
    assert!(text.contains("credential.edit"), "{text}");
    assert!(text.contains("description:  → ticket app") || text.contains("ticket app"));

    let bad = s.cli(&["audit", "--since", "yesterday-ish"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.starts_with("error: invalid time"),
        "{}",
        bad.stderr
    );
    let bad = s.cli(&["audit", "--limit", "0"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[tokio::test]
async fn verify_names_the_event_edited_by_sql() {
    let s = Scratch::new();
    populate(&s);
    let ok = s.ok(&["audit", "verify"]);
    assert!(ok.contains("intact: 5 events"), "{ok}");

    let pool = sqlx::SqlitePool::connect(&s.db_url).await.unwrap();
    sqlx::query("UPDATE audit_events SET changes = '{}' WHERE id = 4")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let broken = s.cli(&["audit", "verify"]);
    assert_eq!(broken.code, 1);
    assert_eq!(
        broken.stderr.trim(),
        "error: audit trail broken: event 4 was changed after it was written \
         (its hash does not match its fields)"
    );
    let json = s.cli(&["audit", "verify", "--json"]);
    assert_eq!(json.code, 1);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["intact"], false);
    assert_eq!(report["broken_at"], 4);
}
