//! Two admins at once, through two separate stores (as two gateway
//! instances or a server and the CLI would be): no change is lost and no
//! role or credential is ever half-written. Each body runs on both backends.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::TestDb;
use keygate_core::model::Lifecycle;
use keygate_core::{Catalog, Snapshot};
use keygate_store::{CredentialEdit, Error, Manager, RoleEdit, RoleInput};

on_both_backends!(
    role_edits_from_two_instances_lose_nothing,
    one_role_name_created_at_once_yields_one_role,
    simultaneous_imports_share_one_compatibility_role,
    simultaneous_duplicate_imports_leave_one_credential,
    credential_edit_racing_a_role_delete_leaves_no_dangling_link,
    simultaneous_generation_writes_whole_credentials,
);

const ACTIONS: [&str; 8] = [
    "GetClients",
    "OpenTicket",
    "GetInvoices",
    "GetOrders",
    "GetProducts",
    "GetTickets",
    "AddClient",
    "UpdateClient",
];

/// Two managers on two stores (two pools) over one database, with an
/// admin and the roles named (each allowing OpenTicket).
async fn two_instances(db: &TestDb, roles: &[&str]) -> (Manager, Manager) {
    let (a, b) = (db.manager().await, db.manager().await);
    a.add_admin("alice", "password1").await.unwrap();
    for name in roles {
        a.create_role(RoleInput {
            name: (*name).into(),
            actions: vec!["OpenTicket".into()],
            ..RoleInput::default()
        })
        .await
        .unwrap();
    }
    (a, b)
}

/// Alternates between the two managers.
fn pick(pair: &(Manager, Manager), i: usize) -> Manager {
    [&pair.0, &pair.1][i % 2].clone()
}

/// Runs every future as its own task, all at once; results in order.
async fn all<T, F>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn role_edits_from_two_instances_lose_nothing(db: TestDb) {
    let pair = two_instances(&db, &["R"]).await;
    let edits = ACTIONS.iter().enumerate().map(|(i, action)| {
        let edit = RoleEdit {
            allow: vec![(*action).into()],
            description: Some(format!("edit {i}")),
            ..RoleEdit::default()
        };
        let m = pick(&pair, i);
        async move { m.edit_role("R", edit).await }
    });
    for result in all(edits).await {
        result.unwrap();
    }
    let role = pair.1.role("R").await.unwrap();
    let got: BTreeSet<&str> = role.actions.iter().map(String::as_str).collect();
    assert_eq!(got, ACTIONS.into_iter().collect(), "every allow survived");
    assert_eq!(
        role.actions.len(),
        ACTIONS.len(),
        "OpenTicket was there already"
    );
    assert!(role.description.starts_with("edit "));
}

async fn one_role_name_created_at_once_yields_one_role(db: TestDb) {
    let pair = two_instances(&db, &[]).await;
    let names = ["Ops", "ops", "OPS", "oPs", "Ops ", "opS"];
    let creates = names.iter().enumerate().map(|(i, name)| {
        let (m, name) = (pick(&pair, i), name.to_string());
        async move {
            m.create_role(RoleInput {
                name,
                actions: vec![ACTIONS[i].into()],
                ..RoleInput::default()
            })
            .await
        }
    });
    let results = all(creates).await;
    let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for result in &results {
        if let Err(e) = result {
            assert!(matches!(e, Error::Conflict(_)), "{e:?}");
            assert!(e.to_string().ends_with("already exists"), "{e}");
        }
    }
    let roles = pair.0.list_roles().await.unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].actions.len(), 1, "the winner's actions, whole");
}

async fn simultaneous_imports_share_one_compatibility_role(db: TestDb) {
    let pair = two_instances(&db, &[]).await;
    let imports = (0..6).map(|i| {
        let (m, identifier) = (pick(&pair, i), format!("LEGACY{i}"));
        async move {
            m.import_credential("alice", &identifier, "legacy-secret", "")
                .await
        }
    });
    let credentials: Vec<_> = all(imports).await.into_iter().map(Result::unwrap).collect();
    let roles = pair.0.list_roles().await.unwrap();
    assert_eq!(roles.len(), 1, "one Compatibility Role: {roles:?}");
    assert_eq!(roles[0].actions.len(), 162);
    for credential in credentials {
        assert_eq!(credential.roles.len(), 1);
        assert_eq!(credential.roles[0].id, roles[0].id);
    }
}

async fn simultaneous_duplicate_imports_leave_one_credential(db: TestDb) {
    let pair = two_instances(&db, &[]).await;
    let imports = (0..4).map(|i| {
        let m = pick(&pair, i);
        async move { m.import_credential("alice", "SAME", "secret-x", "").await }
    });
    let results = all(imports).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for result in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(
            result.to_string(),
            r#"a credential with identifier "SAME" already exists"#
        );
    }
    assert_eq!(pair.1.list_credentials(None).await.unwrap().len(), 1);
    assert_eq!(pair.1.list_roles().await.unwrap().len(), 1);
}

async fn credential_edit_racing_a_role_delete_leaves_no_dangling_link(db: TestDb) {
    for round in 0..5 {
        let pair = two_instances(&db, &[]).await;
        let (a, b) = (&pair.0, &pair.1);
        let name = |r: &str| format!("{r}{round}");
        for role in ["A", "B"] {
            a.create_role(RoleInput {
                name: name(role),
                actions: vec!["GetClients".into()],
                ..RoleInput::default()
            })
            .await
            .unwrap();
        }
        let (credential, _) = a
            .generate_credential("alice", "", &[name("A")], Lifecycle::default())
            .await
            .unwrap();
        let roles = [name("A"), name("B")];
        let (edit, delete) = tokio::join!(
            a.edit_credential(
                &credential.identifier,
                CredentialEdit {
                    roles: Some(roles.to_vec()),
                    ..CredentialEdit::default()
                }
            ),
            b.delete_role(&roles[1]),
        );
        delete.unwrap();
        if let Err(e) = edit {
            assert!(matches!(e, Error::NotFound(_)), "{e:?}");
        }
        let held = b.credential(&credential.identifier).await.unwrap().roles;
        let held: Vec<&str> = held.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(held, [name("A")], "B is gone, A stays");
        b.remove_admin("alice").await.unwrap();
    }
}

async fn simultaneous_generation_writes_whole_credentials(db: TestDb) {
    let pair = two_instances(&db, &["Tickets", "Billing"]).await;
    let roles = ["Tickets".to_string(), "Billing".to_string()];
    let before = pair.0.store().revision().await.unwrap();
    let generates = (0..10).map(|i| {
        let (m, roles) = (pick(&pair, i), roles.clone());
        async move {
            m.generate_credential("alice", "app", &roles, Lifecycle::default())
                .await
        }
    });
    let secrets: Vec<_> = all(generates)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(pair.1.store().revision().await.unwrap() >= before + 10);
    let listed = pair.1.list_credentials(None).await.unwrap();
    assert_eq!(listed.len(), 10);
    assert!(listed.iter().all(|c| c.roles.len() == 2));
    let source = pair.1.store().snapshot_source().await.unwrap();
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    for (credential, secret) in &secrets {
        let decision = snapshot.decide(&keygate_core::Call::new(
            &credential.identifier,
            secret.expose(),
            "OpenTicket",
        ));
        assert!(matches!(decision, keygate_core::Decision::Allowed(_)));
    }
}
