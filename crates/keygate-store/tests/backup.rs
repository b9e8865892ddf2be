//! Backups in storage: export reads everything (hashes, lifecycle, pending
//! rotations, access times) in a fixed order; import writes it all into an
//! empty database in one transaction or nothing at all. Each body runs on
//! SQLite and on PostgreSQL; one test crosses from one to the other and
//! back.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestDb;
use keygate_core::model::{ClientId, Lifecycle};
use keygate_core::{Call, Catalog, Decision, PlainSecret, Snapshot};
use keygate_store::backup::BackupCredential;
use keygate_store::{now_secs, Backup, Error, Manager, RoleInput};

on_both_backends!(
    an_empty_database_exports_empty,
    a_round_trip_keeps_everything_and_secrets_still_work,
    exports_are_deterministic,
    import_refuses_a_database_that_holds_anything,
    a_failing_import_writes_nothing,
    invalid_backups_are_refused_before_writing,
);

/// The secrets of the credentials [`populate`] made, by identifier.
struct Secrets {
    plain: (String, PlainSecret),
    rotated: (String, PlainSecret, PlainSecret),
    legacy: (String, String),
}

/// Two admins, three roles (one the Compatibility Role) and credentials
/// with every lifecycle field, a pending rotation and an access time.
async fn populate(m: &Manager) -> Secrets {
    m.add_admin("alice", "password1").await.unwrap();
    m.add_admin("bob", "password2").await.unwrap();
    m.set_admin_enabled("bob", false).await.unwrap();
    for (name, actions) in [
        ("Support", vec!["GetClients", "OpenTicket"]),
        ("billing", vec!["GetInvoices"]),
    ] {
        m.create_role(RoleInput {
            name: name.into(),
            description: format!("{name} desk"),
            actions: actions.into_iter().map(Into::into).collect(),
            ..RoleInput::default()
        })
        .await
        .unwrap();
    }
    let roles = ["Support".to_string(), "billing".to_string()];
    let (plain, plain_secret) = m
        .generate_credential("alice", "app", &roles[..1], Lifecycle::default())
        .await
        .unwrap();
    let limited = Lifecycle {
        enabled: false,
        expires_at: Some(now_secs() + 86_400),
        allow_ips: vec![
            "192.0.2.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        rate_limit: Some("60/m".parse().unwrap()),
        client_ids: vec![ClientId(7), ClientId(42)],
    };
    m.generate_credential("bob", "limited", &roles, limited)
        .await
        .unwrap();
    let (rotated, old_secret) = m
        .generate_credential("alice", "rotating", &roles[1..], Lifecycle::default())
        .await
        .unwrap();
    let (_, new_secret, _) = m
        .rotate_credential(&rotated.identifier, Duration::from_secs(3600))
        .await
        .unwrap();
    m.import_credential("alice", "LEGACY-ID", "legacy-secret", "old app")
        .await
        .unwrap();
    m.store()
        .record_access(&[(plain.identifier.clone(), 1_234_567)])
        .await
        .unwrap();
    Secrets {
        plain: (plain.identifier, plain_secret),
        rotated: (rotated.identifier, old_secret, new_secret),
        legacy: ("LEGACY-ID".into(), "legacy-secret".into()),
    }
}

/// Whether the database's snapshot lets `secret` run `action`.
async fn allowed(m: &Manager, identifier: &str, secret: &str, action: &str) -> bool {
    let source = m.store().snapshot_source().await.unwrap();
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    matches!(
        snapshot.decide(&Call::new(identifier, secret, action)),
        Decision::Allowed(_)
    )
}

fn credential<'a>(backup: &'a Backup, identifier: &str) -> &'a BackupCredential {
    backup
        .credentials
        .iter()
        .find(|c| c.identifier == identifier)
        .expect("credential in the backup")
}

async fn an_empty_database_exports_empty(db: TestDb) {
    let m = db.manager().await;
    let backup = m.export_backup().await.unwrap();
    assert!(backup.is_empty());
    assert_eq!(backup.format, "keygate-export");
    assert_eq!(backup.version, 1);
    assert!((backup.exported_at - now_secs()).abs() < 60);
}

async fn a_round_trip_keeps_everything_and_secrets_still_work(db: TestDb) {
    let source = db.manager().await;
    let secrets = populate(&source).await;
    let exported = source.export_backup().await.unwrap();
    check_contents(&exported, &secrets);

    let target_db = TestDb::sqlite();
    let target = target_db.manager().await;
    let before = target.store().revision().await.unwrap();
    let counts = target.import_backup(exported.clone()).await.unwrap();
    assert_eq!(counts, exported.counts());
    assert!(target.store().revision().await.unwrap() > before);
    let mut again = target.export_backup().await.unwrap();
    let import_event = again.audit.last().cloned().unwrap();
    assert_eq!(import_event.verb, "backup.import");
    again.drop_audit_after(exported.audit.len());
    assert_eq!(exported.difference(&again), None);
    check_authentication(&target, &secrets).await;
}

/// What an export of [`populate`]'s data must hold.
fn check_contents(backup: &Backup, secrets: &Secrets) {
    let counts = backup.counts();
    assert_eq!((counts.admins, counts.roles, counts.credentials), (2, 3, 4));
    let names: Vec<&str> = backup.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Compatibility Role", "Support", "billing"]);
    assert!(!backup.admins[1].enabled, "bob is disabled");
    assert!(backup.admins[0].password_hash.starts_with("$argon2id$"));
    let plain = credential(backup, &secrets.plain.0);
    assert_eq!(plain.last_access, Some(1_234_567));
    assert_eq!(plain.roles, ["Support"]);
    let limited = backup
        .credentials
        .iter()
        .find(|c| c.description == "limited")
        .unwrap();
    assert_eq!(limited.admin, "bob");
    assert!(!limited.enabled);
    assert_eq!(limited.allow_ips, ["192.0.2.0/24", "2001:db8::/32"]);
    assert_eq!(limited.rate_limit.as_deref(), Some("60/m"));
    assert_eq!(limited.client_ids, [7, 42]);
    assert_eq!(limited.roles, ["Support", "billing"]);
    assert!(limited.expires_at.is_some());
    let rotated = credential(backup, &secrets.rotated.0);
    assert!(rotated.old_secret.as_ref().unwrap().until > now_secs());
    assert_eq!(
        credential(backup, &secrets.legacy.0).roles,
        ["Compatibility Role"]
    );
    let text = backup.to_json();
    for secret in [
        secrets.plain.1.expose(),
        secrets.rotated.1.expose(),
        secrets.rotated.2.expose(),
        &secrets.legacy.1,
        "password1",
    ] {
        assert!(!text.contains(secret), "a secret leaked into the export");
    }
}

/// Every secret [`populate`] handed out works on `m`'s database as before.
async fn check_authentication(m: &Manager, secrets: &Secrets) {
    let (id, secret) = &secrets.plain;
    assert!(allowed(m, id, secret.expose(), "GetClients").await);
    assert!(!allowed(m, id, secret.expose(), "GetInvoices").await);
    let (id, old, new) = &secrets.rotated;
    assert!(allowed(m, id, new.expose(), "GetInvoices").await);
    assert!(allowed(m, id, old.expose(), "GetInvoices").await, "overlap");
    let (id, secret) = &secrets.legacy;
    assert!(allowed(m, id, secret, "GetInvoices").await);
    assert!(m.check_login("alice", "password1").await.unwrap().is_some());
    assert!(m.check_login("bob", "password2").await.unwrap().is_none());
}

async fn exports_are_deterministic(db: TestDb) {
    let m = db.manager().await;
    populate(&m).await;
    let mut first = m.export_backup().await.unwrap();
    let second = m.export_backup().await.unwrap();
    first.exported_at = second.exported_at;
    assert_eq!(first.to_json(), second.to_json());
    let identifiers: Vec<&str> = first
        .credentials
        .iter()
        .map(|c| c.identifier.as_str())
        .collect();
    let mut sorted = identifiers.clone();
    sorted.sort_unstable();
    assert_eq!(identifiers, sorted);
    assert!(!first.audit.is_empty(), "the audit trail is carried");
    // Audit events keep their chain positions; nothing else has an id.
    first.audit.clear();
    assert!(!first.to_json().contains("\"id\""), "no internal ids");
}

async fn import_refuses_a_database_that_holds_anything(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.manager().await;
    populate(&source).await;
    let backup = source.export_backup().await.unwrap();

    let m = db.manager().await;
    m.create_role(RoleInput {
        name: "Only".into(),
        ..RoleInput::default()
    })
    .await
    .unwrap();
    let revision = m.store().revision().await.unwrap();
    let before = m.export_backup().await.unwrap();
    match m.import_backup(backup).await {
        Err(Error::Conflict(message)) => assert!(
            message.contains("not empty") && message.contains("1 role"),
            "{message}"
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(m.store().revision().await.unwrap(), revision);
    assert_eq!(before.difference(&m.export_backup().await.unwrap()), None);
}

async fn a_failing_import_writes_nothing(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.manager().await;
    populate(&source).await;
    let mut backup = source.export_backup().await.unwrap();
    // Past the manager's checks, straight to the store: the last credential
    // fails after everything before it was written in the transaction.
    let last = backup.credentials.len() - 1;
    backup.credentials[last].roles.push("Ghost".into());

    let m = db.manager().await;
    let revision = m.store().revision().await.unwrap();
    let err = m.store().import_backup(&backup).await.unwrap_err();
    assert!(err.to_string().contains("unknown role \"Ghost\""), "{err}");
    assert!(m.export_backup().await.unwrap().is_empty());
    assert_eq!(m.store().revision().await.unwrap(), revision);
}

async fn invalid_backups_are_refused_before_writing(db: TestDb) {
    let source_db = TestDb::sqlite();
    let source = source_db.manager().await;
    populate(&source).await;
    let mut backup = source.export_backup().await.unwrap();
    backup.roles[1].actions.push("NoSuchAction".into());

    let m = db.manager().await;
    match m.import_backup(backup).await {
        Err(Error::Invalid(message)) => {
            assert!(
                message.contains("unknown action \"NoSuchAction\""),
                "{message}"
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(m.export_backup().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back_is_identical() {
    let Some(postgres_db) = TestDb::postgres().await else {
        return;
    };
    let (first_db, last_db) = (TestDb::sqlite(), TestDb::sqlite());
    let first = first_db.manager().await;
    let secrets = populate(&first).await;
    let exported = first.export_backup().await.unwrap();

    let postgres = postgres_db.manager().await;
    postgres.import_backup(exported.clone()).await.unwrap();
    let mut through_postgres = postgres.export_backup().await.unwrap();
    through_postgres.drop_audit_after(exported.audit.len());
    assert_eq!(exported.difference(&through_postgres), None);
    check_authentication(&postgres, &secrets).await;

    let last = last_db.manager().await;
    last.import_backup(through_postgres).await.unwrap();
    let mut back = last.export_backup().await.unwrap();
    back.exported_at = exported.exported_at;
    back.drop_audit_after(exported.audit.len());
    assert_eq!(back.to_json(), exported.to_json(), "byte for byte");
    check_authentication(&last, &secrets).await;
}
