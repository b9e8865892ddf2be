//! Every rule of DESIGN.md "Semantics", through the Manager on a real
//! database, checked against the snapshot the server would build. Each body
//! runs once on SQLite and once on PostgreSQL (`sqlite::…`, `postgres::…`).

#[macro_use]
mod common;

use std::sync::Arc;

use common::TestDb;
use keygate_core::model::Lifecycle;
use keygate_core::{Catalog, Decision, Snapshot};
use keygate_store::{CredentialEdit, Error, Manager, RoleEdit, RoleInput};

on_both_backends!(
    generating_requires_a_role,
    any_role_allows_and_no_role_denies,
    deleting_a_role_unassigns_it_and_a_new_namesake_is_not_reassigned,
    role_edits_take_effect,
    admin_disable_enable_remove_and_password_change,
    import_uses_the_compatibility_role,
    import_into_a_fresh_database_with_a_duplicate_creates_no_role,
    bad_input_is_refused_and_changes_nothing,
    renaming_to_a_taken_name_conflicts,
    revision_changes_on_every_write_and_is_seen_by_another_connection,
    last_access_is_recorded,
    credential_edit_replaces_roles_and_description,
    concurrent_role_edits_lose_nothing,
    conflicts_name_what_is_taken,
    listings_sort_the_same_everywhere,
    role_usage_and_holders_follow_the_links,
);

fn role(name: &str, actions: &[&str]) -> RoleInput {
    RoleInput {
        name: name.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        ..RoleInput::default()
    }
}

/// The snapshot built from a full read, and the one a server builds by
/// streaming the rows into a builder: every check runs on both.
async fn snapshots(manager: &Manager) -> [Snapshot; 2] {
    let catalog = Arc::new(Catalog::builtin());
    let source = manager.store().snapshot_source().await.unwrap();
    let streamed = manager
        .store()
        .snapshot_builder(catalog.clone())
        .await
        .unwrap();
    [Snapshot::build(&source, catalog), streamed.finish()]
}

async fn allowed(manager: &Manager, identifier: &str, secret: &str, action: &str) -> bool {
    let call = keygate_core::Call::new(identifier, secret, action);
    let [read, streamed] = snapshots(manager).await;
    let allowed = matches!(read.decide(&call), Decision::Allowed(_));
    assert_eq!(
        matches!(streamed.decide(&call), Decision::Allowed(_)),
        allowed,
        "the streamed build decides as the full read ({identifier}, {action})"
    );
    assert_eq!(streamed.len(), read.len());
    allowed
}

async fn with_admin(db: TestDb) -> (TestDb, Manager) {
    let manager = db.manager().await;
    manager.add_admin("alice", "password1").await.unwrap();
    (db, manager)
}

async fn generating_requires_a_role(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    let err = m
        .generate_credential("alice", "", &[], Lifecycle::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "You must create at least one API role before you can generate API credentials"
    );
    assert!(m.list_credentials(None).await.unwrap().is_empty());
}

async fn any_role_allows_and_no_role_denies(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("Tickets", &["OpenTicket"]))
        .await
        .unwrap();
    m.create_role(role("Billing", &["GetInvoices"]))
        .await
        .unwrap();
    m.create_role(role("Nothing", &[])).await.unwrap();
    let both = ["Tickets".to_string(), "billing".to_string()];
    let (c, secret) = m
        .generate_credential("alice", "app", &both, Lifecycle::default())
        .await
        .unwrap();
    assert_eq!(c.roles.len(), 2);
    assert!(allowed(&m, &c.identifier, secret.expose(), "openticket").await);
    assert!(allowed(&m, &c.identifier, secret.expose(), "GetInvoices").await);
    assert!(!allowed(&m, &c.identifier, secret.expose(), "GetClients").await);

    let (none, s2) = m
        .generate_credential("alice", "", &[], Lifecycle::default())
        .await
        .unwrap();
    assert!(!allowed(&m, &none.identifier, s2.expose(), "OpenTicket").await);
    let (empty, s3) = m
        .generate_credential("alice", "", &["Nothing".into()], Lifecycle::default())
        .await
        .unwrap();
    assert!(!allowed(&m, &empty.identifier, s3.expose(), "OpenTicket").await);
}

async fn deleting_a_role_unassigns_it_and_a_new_namesake_is_not_reassigned(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("Tickets", &["OpenTicket"]))
        .await
        .unwrap();
    let (c, secret) = m
        .generate_credential("alice", "", &["Tickets".into()], Lifecycle::default())
        .await
        .unwrap();
    m.delete_role("tickets").await.unwrap();
    assert!(m.credential(&c.identifier).await.unwrap().roles.is_empty());
    m.create_role(role("Tickets", &["OpenTicket"]))
        .await
        .unwrap();
    assert!(m.credential(&c.identifier).await.unwrap().roles.is_empty());
    assert!(!allowed(&m, &c.identifier, secret.expose(), "OpenTicket").await);
}

async fn role_edits_take_effect(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("R", &["OpenTicket"])).await.unwrap();
    let (c, secret) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let edit = RoleEdit {
        name: Some("Support".into()),
        description: Some("helpdesk".into()),
        allow: vec!["gettickets".into()],
        revoke: vec!["OpenTicket".into()],
        ..RoleEdit::default()
    };
    let edited = m.edit_role("r", edit).await.unwrap();
    assert_eq!(edited.name, "Support");
    assert_eq!(edited.actions, ["GetTickets"]);
    assert!(allowed(&m, &c.identifier, secret.expose(), "GetTickets").await);
    assert!(!allowed(&m, &c.identifier, secret.expose(), "OpenTicket").await);
    let by_category = RoleEdit {
        allow_categories: vec!["tickets".into()],
        ..RoleEdit::default()
    };
    assert_eq!(
        m.edit_role("Support", by_category)
            .await
            .unwrap()
            .actions
            .len(),
        9
    );
    let revoke_all = RoleEdit {
        revoke_categories: vec!["Tickets".into()],
        ..RoleEdit::default()
    };
    assert!(m
        .edit_role("Support", revoke_all)
        .await
        .unwrap()
        .actions
        .is_empty());
}

async fn admin_disable_enable_remove_and_password_change(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("R", &["GetClients"])).await.unwrap();
    let (c, secret) = m
        .generate_credential("alice", "", &["R".into()], Lifecycle::default())
        .await
        .unwrap();
    let ok = || allowed(&m, &c.identifier, secret.expose(), "GetClients");
    assert!(ok().await);
    m.change_password("alice", "new-password").await.unwrap();
    assert!(ok().await, "a password change keeps credentials valid");
    assert!(m
        .check_login("alice", "new-password")
        .await
        .unwrap()
        .is_some());
    assert!(m.check_login("alice", "password1").await.unwrap().is_none());
    m.set_admin_enabled("alice", false).await.unwrap();
    assert!(!ok().await, "disabling invalidates");
    assert!(m
        .check_login("alice", "new-password")
        .await
        .unwrap()
        .is_none());
    m.set_admin_enabled("alice", true).await.unwrap();
    assert!(ok().await, "re-enabling restores");
    m.remove_admin("alice").await.unwrap();
    assert!(!ok().await);
    assert!(matches!(
        m.credential(&c.identifier).await,
        Err(Error::NotFound(_))
    ));
}

async fn import_uses_the_compatibility_role(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    let c = m
        .import_credential("alice", "LEGACYID", "legacy-secret", "old app")
        .await
        .unwrap();
    assert_eq!(c.roles[0].name, "Compatibility Role");
    let compat = m.role("compatibility role").await.unwrap();
    assert_eq!(compat.actions.len(), 162);
    assert!(allowed(&m, "LEGACYID", "legacy-secret", "GetClients").await);
    // An existing role of that name is reused as it is.
    let narrowed = RoleEdit {
        set_actions: Some(vec!["GetClients".into()]),
        ..RoleEdit::default()
    };
    m.edit_role("Compatibility Role", narrowed).await.unwrap();
    let c2 = m
        .import_credential("alice", "LEGACY2", "other-secret", "")
        .await
        .unwrap();
    assert_eq!(c2.roles[0].id, compat.id);
    assert_eq!(
        m.role("Compatibility Role").await.unwrap().actions,
        ["GetClients"]
    );
    assert_eq!(m.list_roles().await.unwrap().len(), 1);
    // Duplicate identifier: refused, nothing created.
    let dup = m
        .import_credential("alice", "LEGACYID", "x", "")
        .await
        .unwrap_err();
    assert!(matches!(dup, Error::Conflict(_)), "{dup}");
    assert_eq!(m.list_credentials(None).await.unwrap().len(), 2);
}

async fn import_into_a_fresh_database_with_a_duplicate_creates_no_role(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.import_credential("alice", "ID1", "s1", "").await.unwrap();
    m.delete_role("Compatibility Role").await.unwrap();
    let err = m
        .import_credential("alice", "ID1", "s2", "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)));
    assert!(m.list_roles().await.unwrap().is_empty(), "rolled back");
}

async fn bad_input_is_refused_and_changes_nothing(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("Support", &[])).await.unwrap();
    let revision = m.store().revision().await.unwrap();
    let cases: Vec<(Error, &str)> = vec![
        (
            m.create_role(role("support", &[])).await.unwrap_err(),
            "conflict",
        ),
        (m.create_role(role("", &[])).await.unwrap_err(), "invalid"),
        (
            m.create_role(role(&"x".repeat(65), &[])).await.unwrap_err(),
            "invalid",
        ),
        (
            m.create_role(role("X", &["NoSuchAction"]))
                .await
                .unwrap_err(),
            "invalid",
        ),
        (
            m.create_role(RoleInput {
                name: "Y".into(),
                categories: vec!["Nope".into()],
                ..Default::default()
            })
            .await
            .unwrap_err(),
            "invalid",
        ),
        (
            m.create_role(RoleInput {
                name: "Z".into(),
                description: "d".repeat(256),
                ..Default::default()
            })
            .await
            .unwrap_err(),
            "invalid",
        ),
        (
            m.add_admin("alice", "password1").await.unwrap_err(),
            "conflict",
        ),
        (m.add_admin("bob", "short").await.unwrap_err(), "invalid"),
        (m.add_admin("", "password1").await.unwrap_err(), "invalid"),
        (
            m.generate_credential("nobody", "", &[], Lifecycle::default())
                .await
                .unwrap_err(),
            "notfound",
        ),
        (
            m.generate_credential("alice", "", &["Ghost".into()], Lifecycle::default())
                .await
                .unwrap_err(),
            "notfound",
        ),
        (m.delete_role("Ghost").await.unwrap_err(), "notfound"),
        (m.delete_credential("nope").await.unwrap_err(), "notfound"),
        (m.remove_admin("nobody").await.unwrap_err(), "notfound"),
        (
            m.edit_role(
                "Support",
                RoleEdit {
                    name: Some(" ".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err(),
            "invalid",
        ),
    ];
    for (err, kind) in cases {
        let got = match err {
            Error::Invalid(_) => "invalid",
            Error::NotFound(_) => "notfound",
            Error::Conflict(_) => "conflict",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(got, kind, "{err}");
    }
    assert_eq!(
        m.store().revision().await.unwrap(),
        revision,
        "nothing written"
    );
    assert_eq!(m.list_roles().await.unwrap().len(), 1);
}

async fn renaming_to_a_taken_name_conflicts(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("A", &[])).await.unwrap();
    m.create_role(role("B", &["GetClients"])).await.unwrap();
    let edit = RoleEdit {
        name: Some("a".into()),
        allow: vec!["OpenTicket".into()],
        ..Default::default()
    };
    assert!(matches!(
        m.edit_role("B", edit).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        m.role("B").await.unwrap().actions,
        ["GetClients"],
        "no half-applied edit"
    );
}

async fn revision_changes_on_every_write_and_is_seen_by_another_connection(db: TestDb) {
    let m = db.manager().await;
    let other = db.store().await;
    let r0 = other.revision().await.unwrap();
    m.add_admin("alice", "password1").await.unwrap();
    let r1 = other.revision().await.unwrap();
    assert!(r1 > r0);
    m.create_role(role("R", &[])).await.unwrap();
    assert!(other.revision().await.unwrap() > r1);
}

async fn last_access_is_recorded(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("R", &[])).await.unwrap();
    let (c, _) = m
        .generate_credential("alice", "", &[], Lifecycle::default())
        .await
        .unwrap();
    assert_eq!(c.last_access, None);
    let revision = m.store().revision().await.unwrap();
    m.store()
        .record_access(&[(c.identifier.clone(), 1_700_000_000)])
        .await
        .unwrap();
    m.store()
        .record_access(&[(c.identifier.clone(), 1_600_000_000)])
        .await
        .unwrap();
    assert_eq!(
        m.credential(&c.identifier).await.unwrap().last_access,
        Some(1_700_000_000)
    );
    assert_eq!(
        m.store().revision().await.unwrap(),
        revision,
        "access is not a change"
    );
}

async fn credential_edit_replaces_roles_and_description(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("A", &["GetClients"])).await.unwrap();
    m.create_role(role("B", &["OpenTicket"])).await.unwrap();
    let (c, secret) = m
        .generate_credential("alice", "first", &["A".into()], Lifecycle::default())
        .await
        .unwrap();
    let c = m
        .edit_credential(
            &c.identifier,
            CredentialEdit {
                description: Some("second".into()),
                roles: Some(vec!["B".into()]),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(c.description, "second");
    assert_eq!(
        c.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["B"]
    );
    assert!(!allowed(&m, &c.identifier, secret.expose(), "GetClients").await);
    assert!(allowed(&m, &c.identifier, secret.expose(), "OpenTicket").await);
    let c = m
        .edit_credential(
            &c.identifier,
            CredentialEdit {
                roles: Some(vec![]),
                ..CredentialEdit::default()
            },
        )
        .await
        .unwrap();
    assert!(c.roles.is_empty());
    assert_eq!(c.description, "second");
}

async fn concurrent_role_edits_lose_nothing(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("R", &[])).await.unwrap();
    let actions = [
        "GetClients",
        "OpenTicket",
        "GetInvoices",
        "GetOrders",
        "GetProducts",
        "GetTickets",
    ];
    let mut tasks = Vec::new();
    for action in actions {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            m.edit_role(
                "R",
                RoleEdit {
                    allow: vec![action.into()],
                    ..Default::default()
                },
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(m.role("R").await.unwrap().actions.len(), actions.len());
}

async fn conflicts_name_what_is_taken(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.create_role(role("Support", &[])).await.unwrap();
    m.import_credential("alice", "ID1", "s1", "").await.unwrap();
    let messages = [
        m.create_role(role("SUPPORT", &[])).await.unwrap_err(),
        m.add_admin("alice", "password1").await.unwrap_err(),
        m.import_credential("alice", "ID1", "s2", "")
            .await
            .unwrap_err(),
    ]
    .map(|e| match e {
        Error::Conflict(message) => message,
        other => panic!("expected a conflict, got {other:?}"),
    });
    assert_eq!(
        messages,
        [
            r#"a role named "SUPPORT" already exists"#,
            r#"an admin named "alice" already exists"#,
            r#"a credential with identifier "ID1" already exists"#,
        ]
    );
}

async fn listings_sort_the_same_everywhere(db: TestDb) {
    let m = db.manager().await;
    for name in ["carol", "Bob", "alice", "Zed"] {
        m.add_admin(name, "password1").await.unwrap();
    }
    let admins: Vec<String> = m
        .list_admins()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.username)
        .collect();
    assert_eq!(admins, ["Bob", "Zed", "alice", "carol"], "bytewise");
    for name in ["beta", "Alpha", "gamma", "Delta"] {
        m.create_role(role(name, &["OpenTicket", "GetClients"]))
            .await
            .unwrap();
    }
    let roles = m.list_roles().await.unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["Alpha", "beta", "Delta", "gamma"],
        "case-insensitive"
    );
    assert_eq!(roles[0].actions, ["GetClients", "OpenTicket"]);
}

async fn role_usage_and_holders_follow_the_links(db: TestDb) {
    let (_db, m) = with_admin(db).await;
    m.add_admin("bob", "password1").await.unwrap();
    let shared = m
        .create_role(role("Shared", &["GetClients"]))
        .await
        .unwrap();
    let solo = m.create_role(role("Solo", &["OpenTicket"])).await.unwrap();
    let unused = m.create_role(role("Unused", &[])).await.unwrap();
    let mut made = Vec::new();
    for (admin, description, roles) in [
        ("alice", "first", vec!["Shared", "Solo"]),
        ("bob", "second", vec!["Shared"]),
        ("alice", "third", vec![]),
    ] {
        let roles: Vec<String> = roles.into_iter().map(String::from).collect();
        let (c, _) = m
            .generate_credential(admin, description, &roles, Lifecycle::default())
            .await
            .unwrap();
        made.push(c.identifier);
    }
    let usage = m.role_usage().await.unwrap();
    assert_eq!(usage.get(&shared.id), Some(&2));
    assert_eq!(usage.get(&solo.id), Some(&1));
    assert_eq!(
        usage.get(&unused.id),
        None,
        "a role nobody holds is left out"
    );
    assert_eq!(usage.len(), 2);

    // Without Shared, "second" holds nothing else: stranded; "first" keeps
    // Solo, unless Solo is not among the roles allowing anything.
    let stranded = |allowing: Vec<keygate_core::RoleId>| {
        let m = m.clone();
        async move { m.stranded_holders(shared.id, &allowing).await.unwrap() }
    };
    assert_eq!(stranded(vec![solo.id]).await, 1);
    assert_eq!(stranded(vec![solo.id, unused.id]).await, 1);
    assert_eq!(stranded(vec![]).await, 2);
    assert_eq!(m.stranded_holders(unused.id, &[]).await.unwrap(), 0);

    let holders = m.role_holders(shared.id).await.unwrap();
    let found: Vec<(&str, &str, &str)> = holders
        .iter()
        .map(|c| {
            (
                c.identifier.as_str(),
                c.description.as_str(),
                c.admin.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (made[0].as_str(), "first", "alice"),
            (made[1].as_str(), "second", "bob")
        ],
        "by creation"
    );
    let names: Vec<&str> = holders[0].roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Shared", "Solo"], "each holder with all its roles");
    assert!(m.role_holders(unused.id).await.unwrap().is_empty());

    // Owners counted the same way, without loading the credentials.
    m.add_admin("carol", "password1").await.unwrap();
    let admins = m.list_admins().await.unwrap();
    let id_of = |name: &str| admins.iter().find(|a| a.username == name).unwrap().id;
    let owned = m.credentials_per_admin().await.unwrap();
    assert_eq!(owned.get(&id_of("alice")), Some(&2));
    assert_eq!(owned.get(&id_of("bob")), Some(&1));
    assert_eq!(owned.get(&id_of("carol")), None, "no credentials: left out");

    m.delete_role_by_id(shared.id).await.unwrap();
    let usage = m.role_usage().await.unwrap();
    assert_eq!(usage.get(&shared.id), None);
    assert!(m.role_holders(shared.id).await.unwrap().is_empty());
}
