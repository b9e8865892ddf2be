//! A full snapshot read streamed into a builder (`Store::snapshot_builder`,
//! what a server starts with) decides every call as a snapshot built from
//! the whole source read in one piece, and reads taken while credentials
//! are being written each hold exactly the state of their revision. Each
//! body runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::TestDb;
use keygate_core::model::Lifecycle;
use keygate_core::{Call, Catalog, Snapshot};
use keygate_store::{Manager, RoleInput};

on_both_backends!(
    a_streamed_read_decides_like_a_whole_one,
    reads_while_credentials_are_written_stay_whole,
);

/// Actions each credential is asked for: allowed by one role, the other,
/// or none.
const ACTIONS: [&str; 4] = ["GetClients", "GetInvoices", "OpenTicket", "AddOrder"];

async fn seed(m: &Manager, count: usize) -> Vec<(String, String)> {
    m.add_admin("alice", "password1").await.unwrap();
    m.add_admin("bob", "password2").await.unwrap();
    for (name, actions) in [
        ("Tickets", vec!["OpenTicket", "GetClients"]),
        ("Billing", vec!["GetInvoices"]),
    ] {
        let input = RoleInput {
            name: name.into(),
            actions: actions.into_iter().map(String::from).collect(),
            ..RoleInput::default()
        };
        m.create_role(input).await.unwrap();
    }
    let mut credentials = Vec::new();
    for i in 0..count {
        let admin = if i % 3 == 0 { "bob" } else { "alice" };
        let roles: Vec<String> = match i % 4 {
            0 => vec!["Tickets".into()],
            1 => vec!["Billing".into()],
            2 => vec!["Tickets".into(), "Billing".into()],
            _ => vec![],
        };
        let (credential, secret) = m
            .generate_credential(admin, "", &roles, Lifecycle::default())
            .await
            .unwrap();
        credentials.push((credential.identifier, secret.expose().to_string()));
    }
    credentials
}

/// A snapshot streamed into a builder, as a server starts.
async fn streamed(m: &Manager) -> Snapshot {
    let catalog = Arc::new(Catalog::builtin());
    m.store().snapshot_builder(catalog).await.unwrap().finish()
}

/// A snapshot built from the whole source, read in one piece.
async fn whole(m: &Manager) -> Snapshot {
    let source = m.store().snapshot_source().await.unwrap();
    Snapshot::build(&source, Arc::new(Catalog::builtin()))
}

/// Every decision of `streamed` for `credentials`, as `whole` makes it.
fn assert_same_decisions(streamed: &Snapshot, whole: &Snapshot, credentials: &[(String, String)]) {
    assert_eq!(streamed.len(), whole.len());
    assert_eq!(streamed.revision(), whole.revision());
    for (identifier, secret) in credentials {
        for action in ACTIONS {
            let call = Call::new(identifier, secret, action).at(1_000);
            assert_eq!(
                format!("{:?}", streamed.decide(&call)),
                format!("{:?}", whole.decide(&call)),
                "{identifier} {action}"
            );
        }
    }
}

async fn a_streamed_read_decides_like_a_whole_one(db: TestDb) {
    let m = db.manager().await;
    let credentials = seed(&m, 41).await;
    // A disabled credential and a disabled admin read the same way too.
    m.set_credential_enabled(&credentials[1].0, false)
        .await
        .unwrap();
    m.set_admin_enabled("bob", false).await.unwrap();
    let streamed = streamed(&m).await;
    assert_eq!(streamed.len(), 41);
    assert_same_decisions(&streamed, &whole(&m).await, &credentials);
}

async fn reads_while_credentials_are_written_stay_whole(db: TestDb) {
    let m = db.manager().await;
    let mut credentials = seed(&m, 10).await;
    // How many credentials there are at each revision the writer leaves.
    let counts = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let revision = m.store().revision().await.unwrap();
    counts.lock().unwrap().insert(revision, 10);
    let writer = {
        let (m, counts) = (m.clone(), counts.clone());
        tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..40 {
                let roles = ["Tickets".to_string()];
                let (credential, secret) = m
                    .generate_credential("alice", "", &roles, Lifecycle::default())
                    .await
                    .unwrap();
                made.push((credential.identifier, secret.expose().to_string()));
                let revision = m.store().revision().await.unwrap();
                counts.lock().unwrap().insert(revision, 11 + i);
            }
            made
        })
    };
    let mut sizes = Vec::new();
    while !writer.is_finished() {
        let snapshot = streamed(&m).await;
        sizes.push((snapshot.revision(), snapshot.len()));
    }
    credentials.extend(writer.await.unwrap());
    // Each read holds exactly the credentials of its revision: none torn
    // between two states.
    let counts = counts.lock().unwrap().clone();
    for (revision, len) in &sizes {
        assert_eq!(counts.get(revision), Some(len), "{sizes:?} {counts:?}");
    }
    assert_same_decisions(&streamed(&m).await, &whole(&m).await, &credentials);
}
