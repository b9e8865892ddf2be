//! The change log (migration 0009) and `Store::snapshot_delta`: every
//! change made through the Manager, as real callers make it, shows up in a
//! delta as exactly what it touched, read as it is now, and what is only
//! bookkeeping (access times, passwords, descriptions) shows up as nothing.
//! Each body runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::TestDb;
use keygate_core::model::{ClientId, Lifecycle};
use keygate_core::snapshot::CredentialEntry;
use keygate_core::{AdminId, RoleId, SnapshotDelta, SnapshotSource};
use keygate_store::{now_secs, CredentialEdit, Manager, RoleEdit, RoleInput};

on_both_backends!(
    credential_changes_are_logged,
    role_changes_are_logged,
    admin_changes_are_logged,
    bookkeeping_is_not_logged,
    old_new_and_oversized_deltas_are_refused,
    pruning_makes_older_deltas_unavailable,
    a_backup_import_is_logged,
    a_delta_applied_to_an_old_read_equals_a_new_read,
);

/// Generous enough for every delta here.
const LIMIT: usize = 1000;

fn role(name: &str, actions: &[&str]) -> RoleInput {
    RoleInput {
        name: name.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        ..RoleInput::default()
    }
}

async fn revision(m: &Manager) -> i64 {
    m.store().revision().await.unwrap()
}

/// The delta since `since`, which must be available.
async fn delta(m: &Manager, since: i64) -> SnapshotDelta {
    let delta = m
        .store()
        .snapshot_delta(since, LIMIT)
        .await
        .unwrap()
        .expect("the log reaches back to `since`");
    assert_eq!(delta.since, since);
    delta
}

/// What a delta names, sorted, to compare whole.
#[derive(Debug, Default, PartialEq, Eq)]
struct Touched {
    admins: BTreeSet<i64>,
    removed_admins: BTreeSet<i64>,
    roles: BTreeSet<i64>,
    removed_roles: BTreeSet<i64>,
    credentials: BTreeSet<String>,
    removed_credentials: BTreeSet<String>,
}

impl Touched {
    fn of(delta: &SnapshotDelta) -> Self {
        Self {
            admins: delta.admins.iter().map(|a| a.id.0).collect(),
            removed_admins: delta.removed_admins.iter().map(|a| a.0).collect(),
            roles: delta.roles.iter().map(|r| r.id.0).collect(),
            removed_roles: delta.removed_roles.iter().map(|r| r.0).collect(),
            credentials: delta
                .credentials
                .iter()
                .map(|c| c.identifier.clone())
                .collect(),
            removed_credentials: delta.removed_credentials.iter().cloned().collect(),
        }
    }

    fn credentials(identifiers: &[&str]) -> Self {
        Self {
            credentials: identifiers.iter().map(|i| i.to_string()).collect(),
            ..Self::default()
        }
    }
}

/// A credential entry's fields, role ids sorted, to compare.
type EntryFields = (
    String,
    keygate_core::SecretHashes,
    AdminId,
    Vec<RoleId>,
    Lifecycle,
    Option<(keygate_core::SecretHashes, i64)>,
);

/// The fields of `c` to compare.
fn entry_fields(c: &CredentialEntry) -> EntryFields {
    let mut roles = c.role_ids.clone();
    roles.sort();
    (
        c.identifier.clone(),
        c.hashes.clone(),
        c.admin_id,
        roles,
        c.lifecycle.clone(),
        c.old_secret.clone(),
    )
}

/// The delta, applied to a snapshot, agrees with a fresh full read for
/// everything it names: changed entries are as the full read has them,
/// removed ones are not in it. (No writes run meanwhile.)
async fn check_against_source(m: &Manager, delta: &SnapshotDelta) {
    let source: SnapshotSource = m.store().snapshot_source().await.unwrap();
    assert_eq!(delta.revision, source.revision);
    for admin in &delta.admins {
        let full = source.admins.iter().find(|a| a.id == admin.id).unwrap();
        assert_eq!(
            (&admin.username, admin.enabled),
            (&full.username, full.enabled)
        );
    }
    for role in &delta.roles {
        let full = source.roles.iter().find(|r| r.id == role.id).unwrap();
        assert_eq!((&role.name, &role.actions), (&full.name, &full.actions));
    }
    for credential in &delta.credentials {
        let full = source
            .credentials
            .iter()
            .find(|c| c.identifier == credential.identifier)
            .unwrap();
        assert_eq!(entry_fields(credential), entry_fields(full));
    }
    for id in &delta.removed_admins {
        assert!(source.admins.iter().all(|a| a.id != *id));
    }
    for id in &delta.removed_roles {
        assert!(source.roles.iter().all(|r| r.id != *id));
    }
    for identifier in &delta.removed_credentials {
        assert!(source
            .credentials
            .iter()
            .all(|c| &c.identifier != identifier));
    }
}

/// Runs `change`, then checks the delta over it names exactly `expected`
/// (built from the delta's revision range) and agrees with a full read.
async fn expect_delta(m: &Manager, since: i64, expected: Touched) -> SnapshotDelta {
    let delta = delta(m, since).await;
    assert_eq!(Touched::of(&delta), expected);
    check_against_source(m, &delta).await;
    delta
}

async fn with_admin_and_roles(db: &TestDb) -> (Manager, RoleId, RoleId) {
    let m = db.manager().await;
    m.add_admin("alice", "password1").await.unwrap();
    let tickets = m
        .create_role(role("Tickets", &["OpenTicket"]))
        .await
        .unwrap();
    let billing = m
        .create_role(role("Billing", &["GetInvoices"]))
        .await
        .unwrap();
    (m, tickets.id, billing.id)
}

async fn credential_changes_are_logged(db: TestDb) {
    let (m, _, _) = with_admin_and_roles(&db).await;
    let start = revision(&m).await;
    let (c, _) = m
        .generate_credential("alice", "app", &["Tickets".into()], Lifecycle::default())
        .await
        .unwrap();
    let id = c.identifier.as_str();
    expect_delta(&m, start, Touched::credentials(&[id])).await;

    let edits: Vec<CredentialEdit> = vec![
        CredentialEdit {
            roles: Some(vec!["Tickets".into(), "Billing".into()]),
            ..CredentialEdit::default()
        },
        CredentialEdit {
            enabled: Some(false),
            ..CredentialEdit::default()
        },
        CredentialEdit {
            expires_at: Some(Some(now_secs() + 86_400)),
            ..CredentialEdit::default()
        },
        CredentialEdit {
            allow_ips: Some(vec!["192.0.2.0/24".parse().unwrap()]),
            ..CredentialEdit::default()
        },
        CredentialEdit {
            rate_limit: Some(Some("60/m".parse().unwrap())),
            ..CredentialEdit::default()
        },
        CredentialEdit {
            client_ids: Some(vec![ClientId(7), ClientId(42)]),
            ..CredentialEdit::default()
        },
        CredentialEdit {
            roles: Some(vec!["Billing".into()]),
            enabled: Some(true),
            expires_at: Some(None),
            ..CredentialEdit::default()
        },
    ];
    for edit in edits {
        let before = revision(&m).await;
        m.edit_credential(id, edit.clone()).await.unwrap();
        assert!(revision(&m).await > before, "{edit:?} bumps the revision");
        expect_delta(&m, before, Touched::credentials(&[id])).await;
    }

    // A description is not in the snapshot: the revision moves, the log
    // names nothing.
    let before = revision(&m).await;
    let edit = CredentialEdit {
        description: Some("renamed app".into()),
        ..CredentialEdit::default()
    };
    m.edit_credential(id, edit).await.unwrap();
    let delta = expect_delta(&m, before, Touched::default()).await;
    assert!(delta.revision > before && delta.is_empty());

    let before = revision(&m).await;
    m.rotate_credential(id, Duration::from_secs(3600))
        .await
        .unwrap();
    let rotated = expect_delta(&m, before, Touched::credentials(&[id])).await;
    assert!(rotated.credentials[0].old_secret.is_some());
    let before = revision(&m).await;
    m.rotate_credential(id, Duration::ZERO).await.unwrap();
    let rotated = expect_delta(&m, before, Touched::credentials(&[id])).await;
    assert!(rotated.credentials[0].old_secret.is_none());

    let before = revision(&m).await;
    m.delete_credential(id).await.unwrap();
    let removed = Touched {
        removed_credentials: [id.to_string()].into(),
        ..Touched::default()
    };
    expect_delta(&m, before, removed).await;
    // From the start: made and deleted since, so only removed.
    let removed = Touched {
        removed_credentials: [id.to_string()].into(),
        ..Touched::default()
    };
    expect_delta(&m, start, removed).await;
}

async fn role_changes_are_logged(db: TestDb) {
    let (m, _, billing) = with_admin_and_roles(&db).await;
    let before = revision(&m).await;
    let support = m
        .create_role(role("Support", &["GetClients"]))
        .await
        .unwrap()
        .id;
    let only_support = Touched {
        roles: [support.0].into(),
        ..Touched::default()
    };
    expect_delta(&m, before, only_support).await;

    let edits = [
        RoleEdit {
            allow: vec!["OpenTicket".into()],
            ..RoleEdit::default()
        },
        RoleEdit {
            revoke: vec!["GetClients".into()],
            ..RoleEdit::default()
        },
        RoleEdit {
            set_actions: Some(vec!["GetInvoices".into(), "GetClients".into()]),
            ..RoleEdit::default()
        },
        RoleEdit {
            name: Some("Helpdesk".into()),
            ..RoleEdit::default()
        },
    ];
    for edit in edits {
        let before = revision(&m).await;
        m.edit_role_by_id(support, edit).await.unwrap();
        let delta = expect_delta(
            &m,
            before,
            Touched {
                roles: [support.0].into(),
                ..Touched::default()
            },
        )
        .await;
        let now = m.role_by_id(support).await.unwrap();
        assert_eq!(delta.roles[0].name, now.name);
        assert_eq!(delta.roles[0].actions, now.actions);
    }
    // A role's description is not in the snapshot.
    let before = revision(&m).await;
    let edit = RoleEdit {
        description: Some("front line".into()),
        ..RoleEdit::default()
    };
    m.edit_role_by_id(support, edit).await.unwrap();
    expect_delta(&m, before, Touched::default()).await;

    // Deleting a role held by credentials: the role is removed and its
    // holders (who lose it) are read again; a credential not holding it
    // is untouched.
    let roles = ["Helpdesk".to_string(), "Billing".to_string()];
    let (holder, _) = m
        .generate_credential("alice", "holder", &roles, Lifecycle::default())
        .await
        .unwrap();
    m.generate_credential("alice", "bystander", &roles[1..], Lifecycle::default())
        .await
        .unwrap();
    let before = revision(&m).await;
    m.delete_role_by_id(support).await.unwrap();
    let delta = delta(&m, before).await;
    let touched = Touched::of(&delta);
    assert_eq!(touched.removed_roles, [support.0].into());
    assert!(touched.roles.is_empty() && touched.admins.is_empty());
    assert_eq!(touched.credentials, [holder.identifier.clone()].into());
    assert_eq!(delta.credentials[0].role_ids, vec![billing]);
    check_against_source(&m, &delta).await;
}

async fn admin_changes_are_logged(db: TestDb) {
    let (m, _, _) = with_admin_and_roles(&db).await;
    let before = revision(&m).await;
    let bob = m.add_admin("bob", "password2").await.unwrap().id;
    let only_bob = || Touched {
        admins: [bob.0].into(),
        ..Touched::default()
    };
    expect_delta(&m, before, only_bob()).await;

    let before = revision(&m).await;
    m.set_admin_enabled("bob", false).await.unwrap();
    let delta = expect_delta(&m, before, only_bob()).await;
    assert!(!delta.admins[0].enabled);

    // A password is not in the snapshot.
    let before = revision(&m).await;
    m.change_password("bob", "password3").await.unwrap();
    expect_delta(&m, before, Touched::default()).await;

    m.set_admin_enabled("bob", true).await.unwrap();
    let roles = ["Tickets".to_string()];
    let mut owned = BTreeSet::new();
    for description in ["one", "two"] {
        let (c, _) = m
            .generate_credential("bob", description, &roles, Lifecycle::default())
            .await
            .unwrap();
        owned.insert(c.identifier);
    }
    m.generate_credential("alice", "kept", &roles, Lifecycle::default())
        .await
        .unwrap();
    // Removing an admin deletes its credentials by ON DELETE CASCADE: the
    // triggers see those deletions too.
    let before = revision(&m).await;
    m.remove_admin("bob").await.unwrap();
    let removed = Touched {
        removed_admins: [bob.0].into(),
        removed_credentials: owned,
        ..Touched::default()
    };
    expect_delta(&m, before, removed).await;
}

async fn bookkeeping_is_not_logged(db: TestDb) {
    let (m, _, _) = with_admin_and_roles(&db).await;
    let (c, _) = m
        .generate_credential("alice", "app", &["Tickets".into()], Lifecycle::default())
        .await
        .unwrap();
    let before = revision(&m).await;
    m.store()
        .record_access(&[(c.identifier.clone(), now_secs())])
        .await
        .unwrap();
    m.create_token("alice", "ci", None).await.unwrap();
    assert_eq!(revision(&m).await, before);
    let delta = expect_delta(&m, before, Touched::default()).await;
    assert_eq!(delta.revision, before);
}

async fn old_new_and_oversized_deltas_are_refused(db: TestDb) {
    let m = db.manager().await;
    let first = revision(&m).await;
    let store = m.store();
    // The log starts with the database: nothing before it.
    assert!(store
        .snapshot_delta(first - 1, LIMIT)
        .await
        .unwrap()
        .is_none());
    // A revision this store has not reached (another database's).
    assert!(store
        .snapshot_delta(first + 1, LIMIT)
        .await
        .unwrap()
        .is_none());
    let current = delta(&m, first).await;
    assert!(current.is_empty() && current.revision == first);

    m.add_admin("alice", "password1").await.unwrap();
    m.create_role(role("Tickets", &["OpenTicket"]))
        .await
        .unwrap();
    m.create_role(role("Billing", &["GetInvoices"]))
        .await
        .unwrap();
    // Three rows changed: a limit of two asks for a full read.
    assert!(store.snapshot_delta(first, 2).await.unwrap().is_none());
    assert_eq!(
        store.snapshot_delta(first, 3).await.unwrap().unwrap().len(),
        3
    );
    assert!(store.snapshot_delta(first, 0).await.unwrap().is_none());
    let now = revision(&m).await;
    assert!(store
        .snapshot_delta(now, 0)
        .await
        .unwrap()
        .unwrap()
        .is_empty());
}

async fn pruning_makes_older_deltas_unavailable(db: TestDb) {
    let (m, _, _) = with_admin_and_roles(&db).await;
    let store = m.store();
    let start = revision(&m).await;
    m.generate_credential("alice", "app", &["Tickets".into()], Lifecycle::default())
        .await
        .unwrap();
    // Nothing is older than an hour ago.
    assert_eq!(store.prune_changes(now_secs() - 3600).await.unwrap(), 0);
    assert!(store.snapshot_delta(start, LIMIT).await.unwrap().is_some());

    let deleted = store.prune_changes(now_secs() + 10).await.unwrap();
    assert!(deleted >= 4, "admin, two roles and a credential: {deleted}");
    assert!(store.snapshot_delta(start, LIMIT).await.unwrap().is_none());
    // Pruning is not a change, and the present is still answerable.
    let now = revision(&m).await;
    assert!(delta(&m, now).await.is_empty());
    assert_eq!(store.prune_changes(now_secs() + 10).await.unwrap(), 0);

    // The log goes on after pruning.
    m.create_role(role("Support", &["GetClients"]))
        .await
        .unwrap();
    assert_eq!(delta(&m, now).await.roles.len(), 1);
}

async fn a_backup_import_is_logged(db: TestDb) {
    // Made on SQLite, imported into the backend under test.
    let source_db = TestDb::sqlite();
    let (source, _, _) = with_admin_and_roles(&source_db).await;
    source.add_admin("bob", "password2").await.unwrap();
    source
        .generate_credential("alice", "app", &["Tickets".into()], Lifecycle::default())
        .await
        .unwrap();
    source
        .generate_credential("bob", "other", &["Billing".into()], Lifecycle::default())
        .await
        .unwrap();
    let backup = source.export_backup().await.unwrap();

    let target = db.manager().await;
    let before = revision(&target).await;
    target.import_backup(backup).await.unwrap();
    let full = target.store().snapshot_source().await.unwrap();
    let expected = Touched {
        admins: full.admins.iter().map(|a| a.id.0).collect(),
        roles: full.roles.iter().map(|r| r.id.0).collect(),
        credentials: full
            .credentials
            .iter()
            .map(|c| c.identifier.clone())
            .collect(),
        ..Touched::default()
    };
    assert_eq!((expected.admins.len(), expected.credentials.len()), (2, 2));
    expect_delta(&target, before, expected).await;
}

/// A full read as maps by id and identifier, to apply deltas to and compare.
#[derive(Debug, PartialEq)]
struct State {
    admins: BTreeMap<i64, (String, bool)>,
    roles: BTreeMap<i64, (String, Vec<String>)>,
    credentials: BTreeMap<String, EntryFields>,
}

impl State {
    fn of(source: &SnapshotSource) -> Self {
        Self {
            admins: source
                .admins
                .iter()
                .map(|a| (a.id.0, (a.username.clone(), a.enabled)))
                .collect(),
            roles: source
                .roles
                .iter()
                .map(|r| (r.id.0, (r.name.clone(), r.actions.clone())))
                .collect(),
            credentials: source
                .credentials
                .iter()
                .map(|c| (c.identifier.clone(), entry_fields(c)))
                .collect(),
        }
    }

    /// What a snapshot does with a delta: removals out, entries replaced.
    fn apply(&mut self, delta: &SnapshotDelta) {
        for id in &delta.removed_admins {
            self.admins.remove(&id.0);
        }
        for id in &delta.removed_roles {
            self.roles.remove(&id.0);
        }
        for identifier in &delta.removed_credentials {
            self.credentials.remove(identifier);
        }
        for a in &delta.admins {
            self.admins.insert(a.id.0, (a.username.clone(), a.enabled));
        }
        for r in &delta.roles {
            self.roles
                .insert(r.id.0, (r.name.clone(), r.actions.clone()));
        }
        for c in &delta.credentials {
            self.credentials
                .insert(c.identifier.clone(), entry_fields(c));
        }
    }
}

async fn a_delta_applied_to_an_old_read_equals_a_new_read(db: TestDb) {
    let (m, _, _) = with_admin_and_roles(&db).await;
    m.add_admin("bob", "password2").await.unwrap();
    let both = ["Tickets".to_string(), "Billing".to_string()];
    let make = |admin: &'static str, description: &'static str, roles: Vec<String>| {
        let m = m.clone();
        async move {
            m.generate_credential(admin, description, &roles, Lifecycle::default())
                .await
                .unwrap()
                .0
                .identifier
        }
    };
    let c1 = make("alice", "one", both[..1].to_vec()).await;
    make("bob", "two", both.to_vec()).await;
    let c3 = make("alice", "three", both[1..].to_vec()).await;
    let old = m.store().snapshot_source().await.unwrap();

    // A mix of everything, several changes per row.
    let edit = RoleEdit {
        allow: vec!["GetClients".into()],
        ..RoleEdit::default()
    };
    m.edit_role("Tickets", edit).await.unwrap();
    let rename = RoleEdit {
        name: Some("Invoices".into()),
        ..RoleEdit::default()
    };
    m.edit_role("Billing", rename).await.unwrap();
    m.set_admin_enabled("bob", false).await.unwrap();
    m.set_credential_enabled(&c1, false).await.unwrap();
    m.rotate_credential(&c3, Duration::from_secs(600))
        .await
        .unwrap();
    m.delete_role("Tickets").await.unwrap();
    m.remove_admin("bob").await.unwrap();
    m.add_admin("carol", "password3").await.unwrap();
    make("carol", "four", vec!["Invoices".into()]).await;
    m.store()
        .record_access(&[(c1.clone(), now_secs())])
        .await
        .unwrap();

    let delta = delta(&m, old.revision).await;
    let new = m.store().snapshot_source().await.unwrap();
    assert_eq!(delta.revision, new.revision);
    let mut state = State::of(&old);
    state.apply(&delta);
    assert_eq!(state, State::of(&new));
    // And the delta is no bigger than the changes: c3 (rotated), c1
    // (disabled, lost a role), c2 (removed), c4 (new); two roles; bob and
    // carol.
    assert_eq!(delta.len(), 4 + 2 + 2);
}
