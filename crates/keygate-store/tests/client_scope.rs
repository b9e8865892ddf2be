//! A credential's client scope in storage (DESIGN.md "Client scope"): the
//! WHMCS client ids it is bound to, through the Store and the Manager, read
//! back from listings and from the snapshot source, and the migration that
//! adds it. Each body runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::path::Path;
use std::str::FromStr;

use common::TestDb;
use keygate_core::model::{ClientId, Lifecycle};
use keygate_core::snapshot::CredentialEntry;
use keygate_store::{CredentialEdit, CredentialPatch, Error, Manager, RoleInput, MAX_CLIENT_IDS};

on_both_backends!(
    generate_stores_the_scope_sorted_everywhere_it_is_read,
    patches_replace_and_clear_the_scope,
    edits_validate_and_canonicalize_the_scope,
    invalid_scopes_are_refused_and_write_nothing,
    corrupt_stored_scopes_are_unavailable_not_panics,
    existing_credentials_are_not_scoped_after_the_migration,
);

fn ids(ids: &[i64]) -> Vec<ClientId> {
    ids.iter().copied().map(ClientId).collect()
}

fn scoped(client_ids: &[i64]) -> Lifecycle {
    Lifecycle {
        client_ids: ids(client_ids),
        ..Lifecycle::default()
    }
}

async fn with_role(db: TestDb) -> (TestDb, Manager) {
    let manager = db.manager().await;
    manager.add_admin("alice", "password1").await.unwrap();
    manager
        .create_role(RoleInput {
            name: "R".into(),
            actions: vec!["GetClients".into()],
            ..RoleInput::default()
        })
        .await
        .unwrap();
    (db, manager)
}

/// The snapshot source's entry for `identifier`.
async fn entry(manager: &Manager, identifier: &str) -> CredentialEntry {
    let source = manager.store().snapshot_source().await.unwrap();
    source
        .credentials
        .into_iter()
        .find(|c| c.identifier == identifier)
        .expect("credential in the snapshot source")
}

/// Runs one statement on the test database directly (as a damaged or
/// hand-edited database would look).
async fn raw(db: &TestDb, sql: &str) {
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

async fn generate_stores_the_scope_sorted_everywhere_it_is_read(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "app", &["R".into()], scoped(&[40, 12, 40, 7]))
        .await
        .unwrap();
    let expected = ids(&[7, 12, 40]);
    assert_eq!(c.lifecycle.client_ids, expected, "sorted, deduplicated");
    assert!(c.lifecycle.is_client_scoped());
    assert_eq!(
        m.credential(&c.identifier)
            .await
            .unwrap()
            .lifecycle
            .client_ids,
        expected
    );
    let listed = m.list_credentials(Some("alice")).await.unwrap();
    assert_eq!(listed[0].lifecycle.client_ids, expected);
    assert_eq!(
        entry(&m, &c.identifier).await.lifecycle.client_ids,
        expected
    );
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["client_ids"], serde_json::json!([7, 12, 40]));

    // Unscoped by default, and in the JSON an empty list.
    let (open, _) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    assert!(open.lifecycle.client_ids.is_empty());
    assert!(!open.lifecycle.is_client_scoped());
    assert!(entry(&m, &open.identifier)
        .await
        .lifecycle
        .client_ids
        .is_empty());
    let json = serde_json::to_value(&open).unwrap();
    assert_eq!(json["client_ids"], serde_json::json!([]));

    // The largest id a WHMCS database could hold round-trips.
    let (big, _) = m
        .generate_credential("alice", "", &["R".into()], scoped(&[i64::MAX, 1]))
        .await
        .unwrap();
    assert_eq!(
        m.credential(&big.identifier)
            .await
            .unwrap()
            .lifecycle
            .client_ids,
        ids(&[1, i64::MAX])
    );
}

async fn patches_replace_and_clear_the_scope(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "first", &["R".into()], scoped(&[5]))
        .await
        .unwrap();
    let store = m.store().clone();
    let steps: [(CredentialPatch, Vec<ClientId>); 4] = [
        (
            CredentialPatch {
                client_ids: Some(ids(&[12, 40])),
                ..CredentialPatch::default()
            },
            ids(&[12, 40]),
        ),
        (
            // Other fields leave the scope alone.
            CredentialPatch {
                description: Some("second".into()),
                enabled: Some(false),
                ..CredentialPatch::default()
            },
            ids(&[12, 40]),
        ),
        (
            CredentialPatch {
                client_ids: Some(vec![]),
                ..CredentialPatch::default()
            },
            vec![],
        ),
        (
            CredentialPatch {
                client_ids: Some(ids(&[3])),
                enabled: Some(true),
                ..CredentialPatch::default()
            },
            ids(&[3]),
        ),
    ];
    for (patch, expected) in steps {
        let before = store.revision().await.unwrap();
        let updated = store
            .update_credential(c.id, &patch)
            .await
            .unwrap()
            .expect("credential exists");
        assert_eq!(updated.lifecycle.client_ids, expected, "{patch:?}");
        assert_eq!(
            store
                .find_credential(&c.identifier)
                .await
                .unwrap()
                .unwrap()
                .lifecycle,
            updated.lifecycle
        );
        assert_eq!(
            entry(&m, &c.identifier).await.lifecycle,
            updated.lifecycle,
            "snapshot source agrees"
        );
        assert!(store.revision().await.unwrap() > before, "{patch:?} bumps");
    }
    let last = m.credential(&c.identifier).await.unwrap();
    assert_eq!(last.description, "second");
    assert!(last.lifecycle.enabled);
}

/// An edit of the client scope alone.
fn edit<R>(client_ids: Vec<ClientId>) -> CredentialEdit<R> {
    CredentialEdit {
        client_ids: Some(client_ids),
        ..CredentialEdit::default()
    }
}

async fn edits_validate_and_canonicalize_the_scope(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    assert!(
        !edit::<String>(vec![]).is_empty(),
        "clearing the scope is a change"
    );
    let edited = m
        .edit_credential(&c.identifier, edit(ids(&[40, 12, 12])))
        .await
        .unwrap();
    assert_eq!(edited.lifecycle.client_ids, ids(&[12, 40]));
    let edited = m
        .edit_credential_by_id(c.id, edit(ids(&[9])))
        .await
        .unwrap();
    assert_eq!(edited.lifecycle.client_ids, ids(&[9]));
    assert_eq!(
        entry(&m, &c.identifier).await.lifecycle.client_ids,
        ids(&[9])
    );

    // Exactly the maximum, given with duplicates, is accepted.
    let most: Vec<i64> = (1..=MAX_CLIENT_IDS as i64).collect();
    let mut with_duplicates = most.clone();
    with_duplicates.extend(most.iter().rev());
    let edited = m
        .edit_credential(&c.identifier, edit(ids(&with_duplicates)))
        .await
        .unwrap();
    assert_eq!(edited.lifecycle.client_ids, ids(&most));

    // An edit that names no scope keeps it.
    let edited = m
        .edit_credential(
            &c.identifier,
            CredentialEdit {
                description: Some("kept".into()),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.lifecycle.client_ids, ids(&most));
    let cleared = m
        .edit_credential(&c.identifier, edit(vec![]))
        .await
        .unwrap();
    assert!(cleared.lifecycle.client_ids.is_empty());
    assert!(!entry(&m, &c.identifier).await.lifecycle.is_client_scoped());
}

async fn invalid_scopes_are_refused_and_write_nothing(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "", &["R".into()], scoped(&[12]))
        .await
        .unwrap();
    let before = m.store().revision().await.unwrap();
    let too_many: Vec<i64> = (1..=MAX_CLIENT_IDS as i64 + 1).collect();
    let cases: [(&[i64], &str); 5] = [
        (&[0], "client id must be a positive integer (0 given)"),
        (&[12, -3], "client id must be a positive integer (-3 given)"),
        (&[i64::MIN], "client id must be a positive integer"),
        (
            &too_many,
            "a client scope holds at most 64 clients (65 given)",
        ),
        (&[5, 0, 5], "client id must be a positive integer (0 given)"),
    ];
    for (given, message) in cases {
        let errors = [
            m.generate_credential("alice", "", &["R".into()], scoped(given))
                .await
                .unwrap_err(),
            m.edit_credential(
                &c.identifier,
                CredentialEdit {
                    client_ids: Some(ids(given)),
                    ..CredentialEdit::default()
                },
            )
            .await
            .unwrap_err(),
            m.edit_credential_by_id(
                c.id,
                CredentialEdit {
                    client_ids: Some(ids(given)),
                    enabled: Some(false),
                    ..CredentialEdit::default()
                },
            )
            .await
            .unwrap_err(),
        ];
        for err in errors {
            assert!(matches!(err, Error::Invalid(_)), "{given:?}: {err:?}");
            assert!(err.to_string().contains(message), "{given:?}: {err}");
        }
    }
    assert_eq!(
        m.store().revision().await.unwrap(),
        before,
        "nothing written"
    );
    let unchanged = m.credential(&c.identifier).await.unwrap();
    assert_eq!(unchanged.lifecycle, scoped(&[12]));
    assert_eq!(m.list_credentials(None).await.unwrap().len(), 1);
}

async fn corrupt_stored_scopes_are_unavailable_not_panics(db: TestDb) {
    let (db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "", &["R".into()], scoped(&[12]))
        .await
        .unwrap();
    for damage in ["12 banana", "0", "-4", "12,40", "99999999999999999999"] {
        raw(
            &db,
            &format!("UPDATE credentials SET client_ids = '{damage}'"),
        )
        .await;
        let errors = [
            m.store().find_credential(&c.identifier).await.unwrap_err(),
            m.store().list_credentials(None).await.unwrap_err(),
            m.store().snapshot_source().await.unwrap_err(),
        ];
        for err in errors {
            match err {
                Error::Unavailable(message) => {
                    assert!(message.contains(&c.identifier), "{message}");
                    assert!(message.contains("client scope"), "{message}");
                }
                other => panic!("{damage:?}: expected Unavailable, got {other:?}"),
            }
        }
    }
    // A hand-edited value that parses is read canonical.
    raw(&db, "UPDATE credentials SET client_ids = ' 40 12  40'").await;
    assert_eq!(
        m.credential(&c.identifier)
            .await
            .unwrap()
            .lifecycle
            .client_ids,
        ids(&[12, 40])
    );
    assert_eq!(
        entry(&m, &c.identifier).await.lifecycle.client_ids,
        ids(&[12, 40])
    );
}

/// A database migrated before client scopes existed: its credentials come
/// through the new migration unscoped, and keep working.
async fn existing_credentials_are_not_scoped_after_the_migration(db: TestDb) {
    let sqlite = db.url.starts_with("sqlite:");
    let backend = if sqlite { "sqlite" } else { "postgres" };
    // Only the migrations before 0003, from a copy of the directory.
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let older = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for file in std::fs::read_dir(&source).unwrap() {
        let file = file.unwrap();
        let name = file.file_name().into_string().unwrap();
        if name.as_str() < "0003" {
            std::fs::copy(file.path(), older.path().join(&name)).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 2, "0001 and 0002");
    let migrator = sqlx::migrate::Migrator::new(older.path()).await.unwrap();
    let insert_admin = "INSERT INTO admins (username, password_hash, created_at) \
                        VALUES ('old', 'x', 1)";
    if sqlite {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrator.run(&pool).await.unwrap();
        sqlx::query(insert_admin).execute(&pool).await.unwrap();
        let hashes = keygate_core::SecretHashes::of("old-secret");
        sqlx::query(
            "INSERT INTO credentials \
             (identifier, secret_sha256, secret_md5_sha256, admin_id, created_at, allow_ips) \
             SELECT 'OLDCRED', ?1, ?2, id, 1, '10.0.0.0/8' FROM admins",
        )
        .bind(&hashes.direct()[..])
        .bind(&hashes.md5()[..])
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        sqlx::query(insert_admin).execute(&pool).await.unwrap();
        let hashes = keygate_core::SecretHashes::of("old-secret");
        sqlx::query(
            "INSERT INTO credentials \
             (identifier, secret_sha256, secret_md5_sha256, admin_id, created_at, allow_ips) \
             SELECT 'OLDCRED', $1, $2, id, 1, '10.0.0.0/8' FROM admins",
        )
        .bind(&hashes.direct()[..])
        .bind(&hashes.md5()[..])
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    // Opening with the current migrations applies 0003 over the old data.
    let m = db.manager().await;
    let old = m.credential("OLDCRED").await.unwrap();
    assert!(old.lifecycle.client_ids.is_empty());
    assert_eq!(old.lifecycle.allow_ips.len(), 1, "earlier columns kept");
    assert!(entry(&m, "OLDCRED").await.lifecycle.client_ids.is_empty());
    let scoped = m
        .edit_credential(
            "OLDCRED",
            CredentialEdit {
                client_ids: Some(ids(&[12])),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(scoped.lifecycle.client_ids, ids(&[12]));
}
