//! Credential lifecycle in storage (DESIGN.md "Credential lifecycle"):
//! enabled state, expiry, IP allowlist, rate limit and rotation, through
//! the Store and the Manager, read back from listings and from the
//! snapshot source. Each body runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestDb;
use keygate_core::model::{CredentialId, Lifecycle};
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_core::snapshot::CredentialEntry;
use keygate_core::{Catalog, Decision, SecretHashes, Snapshot};
use keygate_store::{
    now_secs, CredentialEdit, CredentialPatch, Error, Manager, RoleInput, MAX_ALLOW_IPS,
};

on_both_backends!(
    new_credentials_default_to_an_open_lifecycle,
    generate_stores_the_lifecycle_everywhere_it_is_read,
    patches_set_and_clear_each_field_and_bump_the_revision,
    a_patch_of_a_missing_credential_writes_nothing,
    rotation_keeps_the_old_secret_until_its_end,
    rotation_without_overlap_stops_the_old_secret_at_once,
    an_ended_old_secret_is_left_out,
    enable_and_disable,
    manager_validation_refuses_and_writes_nothing,
    allowlists_are_deduplicated_and_capped,
    corrupt_stored_values_are_unavailable_not_panics,
);

/// What a patch step expects of the credential afterwards.
type Check = Box<dyn Fn(&keygate_core::model::Credential)>;

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn rate(text: &str) -> Rate {
    text.parse().unwrap()
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

async fn allowed(manager: &Manager, identifier: &str, secret: &str) -> bool {
    let source = manager.store().snapshot_source().await.unwrap();
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    matches!(
        snapshot.decide(&keygate_core::Call::new(identifier, secret, "GetClients")),
        Decision::Allowed(_)
    )
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

async fn new_credentials_default_to_an_open_lifecycle(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (generated, _) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let imported = m
        .import_credential("alice", "LEGACY", "legacy-secret", "")
        .await
        .unwrap();
    for c in [&generated, &imported] {
        assert_eq!(c.lifecycle, Lifecycle::default());
        assert_eq!(c.old_secret_valid_until, None);
        let e = entry(&m, &c.identifier).await;
        assert_eq!(e.lifecycle, Lifecycle::default());
        assert!(e.old_secret.is_none());
    }
    let json = serde_json::to_value(&generated).unwrap();
    assert_eq!(json["enabled"], true);
    assert_eq!(json["expires_at"], serde_json::Value::Null);
    assert_eq!(json["allow_ips"], serde_json::json!([]));
    assert_eq!(json["rate_limit"], serde_json::Value::Null);
    assert_eq!(json["old_secret_valid_until"], serde_json::Value::Null);
}

async fn generate_stores_the_lifecycle_everywhere_it_is_read(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let expires = now_secs() + 3600;
    let lifecycle = Lifecycle {
        enabled: true,
        expires_at: Some(expires),
        allow_ips: vec![net("10.1.2.3/8"), net("2001:db8::1/32"), net("10.0.0.0/8")],
        rate_limit: Some(rate("600/m")),
        client_ids: Vec::new(),
    };
    let (c, secret) = m
        .generate_credential("alice", "app", &["R".into()], lifecycle)
        .await
        .unwrap();
    let expected = Lifecycle {
        enabled: true,
        expires_at: Some(expires),
        allow_ips: vec![net("10.0.0.0/8"), net("2001:db8::/32")],
        rate_limit: Some(rate("600/m")),
        client_ids: Vec::new(),
    };
    assert_eq!(c.lifecycle, expected, "deduplicated, canonical");
    assert_eq!(
        m.credential(&c.identifier).await.unwrap().lifecycle,
        expected
    );
    let listed = m.list_credentials(Some("alice")).await.unwrap();
    assert_eq!(listed[0].lifecycle, expected);
    let e = entry(&m, &c.identifier).await;
    assert_eq!(e.lifecycle, expected);
    assert_eq!(e.hashes, secret.hashes());
    assert!(e.old_secret.is_none());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["allow_ips"],
        serde_json::json!(["10.0.0.0/8", "2001:db8::/32"])
    );
    assert_eq!(json["rate_limit"], "600/m");
    assert_eq!(json["expires_at"], expires);
}

async fn patches_set_and_clear_each_field_and_bump_the_revision(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "first", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let store = m.store().clone();
    let role = m.role("R").await.unwrap().id;
    let expires = now_secs() + 86_400;
    let steps: Vec<(CredentialPatch, Check)> = vec![
        (
            CredentialPatch {
                enabled: Some(false),
                expires_at: Some(Some(expires)),
                allow_ips: Some(vec![net("192.0.2.0/24"), net("::1")]),
                rate_limit: Some(Some(rate("5/s"))),
                ..CredentialPatch::default()
            },
            Box::new(move |c| {
                assert!(!c.lifecycle.enabled);
                assert_eq!(c.lifecycle.expires_at, Some(expires));
                assert_eq!(c.lifecycle.allow_ips, [net("192.0.2.0/24"), net("::1/128")]);
                assert_eq!(c.lifecycle.rate_limit, Some(rate("5/s")));
                assert_eq!(c.description, "first", "untouched");
                assert_eq!(c.roles.len(), 1, "untouched");
            }),
        ),
        (
            CredentialPatch {
                description: Some("second".into()),
                roles: Some(vec![]),
                ..CredentialPatch::default()
            },
            Box::new(move |c| {
                assert_eq!(c.description, "second");
                assert!(c.roles.is_empty());
                assert!(!c.lifecycle.enabled, "untouched");
                assert_eq!(c.lifecycle.expires_at, Some(expires), "untouched");
                assert_eq!(c.lifecycle.rate_limit, Some(rate("5/s")), "untouched");
            }),
        ),
        (
            CredentialPatch {
                enabled: Some(true),
                expires_at: Some(None),
                allow_ips: Some(vec![]),
                rate_limit: Some(None),
                roles: Some(vec![role]),
                ..CredentialPatch::default()
            },
            Box::new(move |c| {
                assert_eq!(c.lifecycle, Lifecycle::default(), "all cleared");
                assert_eq!(c.roles.len(), 1);
                assert_eq!(c.description, "second");
            }),
        ),
        (
            CredentialPatch::default(),
            Box::new(|c| assert_eq!(c.lifecycle, Lifecycle::default())),
        ),
    ];
    for (patch, check) in steps {
        let before = store.revision().await.unwrap();
        let updated = store
            .update_credential(c.id, &patch)
            .await
            .unwrap()
            .expect("credential exists");
        check(&updated);
        check(&store.find_credential(&c.identifier).await.unwrap().unwrap());
        assert_eq!(
            entry(&m, &c.identifier).await.lifecycle,
            updated.lifecycle,
            "snapshot source agrees"
        );
        assert!(store.revision().await.unwrap() > before, "{patch:?} bumps");
    }
}

async fn a_patch_of_a_missing_credential_writes_nothing(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let store = m.store().clone();
    let before = store.revision().await.unwrap();
    let patch = CredentialPatch {
        enabled: Some(false),
        ..CredentialPatch::default()
    };
    assert!(store
        .update_credential(CredentialId(999_999), &patch)
        .await
        .unwrap()
        .is_none());
    let hashes = SecretHashes::of("whatever");
    assert!(store
        .rotate_credential(CredentialId(999_999), &hashes, Some(now_secs() + 60))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.revision().await.unwrap(), before);
    // Through the manager: not found, by identifier.
    let err = m.set_credential_enabled("ghost", false).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), r#"credential "ghost" not found"#);
    let err = m
        .rotate_credential("ghost", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

async fn rotation_keeps_the_old_secret_until_its_end(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, old) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let before = m.store().revision().await.unwrap();
    let start = now_secs();
    let (rotated, new, until) = m
        .rotate_credential(&c.identifier, Duration::from_secs(24 * 3600))
        .await
        .unwrap();
    let until = until.expect("an overlap");
    assert!((start + 24 * 3600..=now_secs() + 24 * 3600).contains(&until));
    assert_eq!(rotated.old_secret_valid_until, Some(until));
    assert_eq!(rotated.identifier, c.identifier);
    assert_ne!(new.expose(), old.expose());
    assert!(m.store().revision().await.unwrap() > before);
    assert_eq!(
        m.credential(&c.identifier)
            .await
            .unwrap()
            .old_secret_valid_until,
        Some(until)
    );
    let e = entry(&m, &c.identifier).await;
    assert_eq!(e.hashes, new.hashes());
    assert_eq!(e.old_secret, Some((old.hashes(), until)));
    assert!(allowed(&m, &c.identifier, new.expose()).await, "new works");
    assert!(
        allowed(&m, &c.identifier, old.expose()).await,
        "old still works"
    );

    // Rotating again: the previous "new" becomes the old one; the first
    // secret is gone for good.
    let (_, newest, until2) = m
        .rotate_credential(&c.identifier, Duration::from_millis(1500))
        .await
        .unwrap();
    let until2 = until2.unwrap();
    assert!(until2 > now_secs(), "a sub-second part rounds up");
    let e = entry(&m, &c.identifier).await;
    assert_eq!(e.hashes, newest.hashes());
    assert_eq!(e.old_secret, Some((new.hashes(), until2)));
    assert!(!allowed(&m, &c.identifier, old.expose()).await);
}

async fn rotation_without_overlap_stops_the_old_secret_at_once(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, old) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    m.rotate_credential(&c.identifier, Duration::from_secs(3600))
        .await
        .unwrap();
    let (rotated, new, until) = m
        .rotate_credential(&c.identifier, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(until, None);
    assert_eq!(rotated.old_secret_valid_until, None);
    let e = entry(&m, &c.identifier).await;
    assert_eq!(e.hashes, new.hashes());
    assert!(e.old_secret.is_none(), "any old secret is cleared");
    assert!(allowed(&m, &c.identifier, new.expose()).await);
    assert!(!allowed(&m, &c.identifier, old.expose()).await);
}

async fn an_ended_old_secret_is_left_out(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let new = SecretHashes::of("brand-new-secret");
    let rotated = m
        .store()
        .rotate_credential(c.id, &new, Some(now_secs() - 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.old_secret_valid_until, None, "not pending any more");
    let e = entry(&m, &c.identifier).await;
    assert_eq!(e.hashes, new);
    assert!(e.old_secret.is_none());
}

async fn enable_and_disable(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, secret) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let before = m.store().revision().await.unwrap();
    let disabled = m
        .set_credential_enabled(&c.identifier, false)
        .await
        .unwrap();
    assert!(!disabled.lifecycle.enabled);
    assert!(m.store().revision().await.unwrap() > before);
    assert!(!entry(&m, &c.identifier).await.lifecycle.enabled);
    assert!(!allowed(&m, &c.identifier, secret.expose()).await);
    let enabled = m.set_credential_enabled(&c.identifier, true).await.unwrap();
    assert!(enabled.lifecycle.enabled);
    assert!(allowed(&m, &c.identifier, secret.expose()).await);
}

async fn manager_validation_refuses_and_writes_nothing(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let before = m.store().revision().await.unwrap();
    let past = Lifecycle {
        expires_at: Some(now_secs() - 10),
        ..Lifecycle::default()
    };
    let errors = [
        m.generate_credential("alice", "", &["R".into()], past)
            .await
            .unwrap_err(),
        m.edit_credential(
            &c.identifier,
            CredentialEdit {
                expires_at: Some(Some(now_secs())),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap_err(),
        m.edit_credential_by_id(
            c.id,
            CredentialEdit {
                expires_at: Some(Some(1)),
                enabled: Some(false),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        assert_eq!(err.to_string(), "expiry must be in the future");
    }
    let err = m
        .edit_credential(
            &c.identifier,
            CredentialEdit {
                description: Some("d".repeat(256)),
                rate_limit: Some(Some(rate("1/s"))),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    let err = m
        .edit_credential(
            &c.identifier,
            CredentialEdit {
                roles: Some(vec!["Ghost".into()]),
                enabled: Some(false),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(
        m.store().revision().await.unwrap(),
        before,
        "nothing written"
    );
    let unchanged = m.credential(&c.identifier).await.unwrap();
    assert_eq!(unchanged.lifecycle, Lifecycle::default());
    assert_eq!(m.list_credentials(None).await.unwrap().len(), 1);
}

async fn allowlists_are_deduplicated_and_capped(db: TestDb) {
    let (_db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let nets: Vec<IpNet> = (0..MAX_ALLOW_IPS as u8)
        .map(|i| net(&format!("10.0.{i}.0/24")))
        .collect();
    let mut with_duplicates = nets.clone();
    with_duplicates.extend(nets.iter().rev().copied());
    with_duplicates.push(net("10.0.0.7/24"));
    let edited = m
        .edit_credential(
            &c.identifier,
            CredentialEdit {
                allow_ips: Some(with_duplicates),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.lifecycle.allow_ips, nets, "first occurrence order");
    assert_eq!(entry(&m, &c.identifier).await.lifecycle.allow_ips, nets);

    let mut too_many = nets.clone();
    too_many.push(net("192.0.2.1"));
    let err = m
        .edit_credential(
            &c.identifier,
            CredentialEdit {
                allow_ips: Some(too_many.clone()),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("at most 64 networks"), "{err}");
    let lifecycle = Lifecycle {
        allow_ips: too_many,
        ..Lifecycle::default()
    };
    assert!(matches!(
        m.generate_credential("alice", "", &["R".into()], lifecycle)
            .await
            .unwrap_err(),
        Error::Invalid(_)
    ));
    assert_eq!(
        m.credential(&c.identifier)
            .await
            .unwrap()
            .lifecycle
            .allow_ips,
        nets
    );
}

async fn corrupt_stored_values_are_unavailable_not_panics(db: TestDb) {
    let (db, m) = with_role(db).await;
    let (c, _) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    for (damage, what) in [
        (
            "UPDATE credentials SET allow_ips = '10.0.0.0/8 banana'",
            "IP allowlist",
        ),
        (
            "UPDATE credentials SET allow_ips = '', rate_limit = 'lots'",
            "rate limit",
        ),
    ] {
        raw(&db, damage).await;
        let errors = [
            m.store().find_credential(&c.identifier).await.unwrap_err(),
            m.store().list_credentials(None).await.unwrap_err(),
            m.store().snapshot_source().await.unwrap_err(),
            m.store()
                .snapshot_builder(Arc::new(Catalog::builtin()))
                .await
                .unwrap_err(),
        ];
        for err in errors {
            match err {
                Error::Unavailable(message) => {
                    assert!(message.contains(&c.identifier), "{message}");
                    assert!(message.contains(what), "{message}");
                }
                other => panic!("expected Unavailable, got {other:?}"),
            }
        }
    }
    raw(&db, "UPDATE credentials SET rate_limit = '10/h'").await;
    assert_eq!(
        m.credential(&c.identifier)
            .await
            .unwrap()
            .lifecycle
            .rate_limit,
        Some(rate("10/h"))
    );
}
