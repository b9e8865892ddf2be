//! Seeds a database for the HTTP benchmark: one admin, 50 roles, N
//! credentials with 3 roles each; prints one credential allowed to run
//! `GetClients` as `IDENTIFIER SECRET` on stdout. Then two more lines for
//! the client-scope runs: an unscoped and a client-scoped (client 1)
//! credential, both allowed `GetInvoices` and `GetInvoice`.
//!
//! Beyond 10,000 credentials (`CREDENTIALS=1000000 bash bench/http.sh`),
//! the first 10,000 are generated and the rest are copies of the printed
//! credential's row made by SQL (as `scale_seed` does, SQLite only): the
//! database then holds the same 10,000 plus the copies.
//!
//! `cargo run --release -p keygate --example bench_seed -- sqlite://bench.db 10000`

use std::sync::Arc;

use keygate_core::model::{ClientId, Lifecycle};
use keygate_core::Catalog;
use keygate_store::{Manager, RoleInput};

/// Copying a credential's row in SQLite (shared with `scale_seed`).
#[path = "seed/copies.rs"]
mod copies;

/// Credentials generated one by one; any more are copies.
const GENERATED: usize = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite://bench.db".into());
    let count: usize = args.next().map_or(Ok(10_000), |n| n.parse())?;
    let catalog = Arc::new(Catalog::builtin());
    let manager = Manager::new(keygate_store::open(&url).await?, catalog.clone());
    manager.add_admin("bench", "bench-password").await?;
    let names: Vec<String> = catalog.actions().map(|(_, a)| a.name.clone()).collect();
    for r in 0..50 {
        // 20 to 160 actions per role, always including GetClients in role 0.
        let size = 20 + (r * 140) / 49;
        let actions: Vec<String> = (0..size)
            .map(|i| names[(r * 7 + i) % names.len()].clone())
            .collect();
        let mut input = RoleInput {
            name: format!("role-{r:02}"),
            actions,
            ..RoleInput::default()
        };
        if r == 0 {
            input.actions.push("GetClients".into());
        }
        manager.create_role(input).await?;
    }
    let mut first = None;
    for i in 0..count.min(GENERATED) {
        let roles = [
            format!("role-{:02}", i % 50),
            format!("role-{:02}", (i + 17) % 50),
            "role-00".to_string(),
        ];
        let (credential, secret) = manager
            .generate_credential("bench", "", &roles, Lifecycle::default())
            .await?;
        first.get_or_insert((credential.identifier, secret.expose().to_string()));
    }
    let (identifier, secret) = first.expect("at least one credential");
    println!("{identifier} {secret}");
    if count > GENERATED {
        copies::copy_credential(&url, &identifier, (count - GENERATED) as u64).await?;
    }
    manager
        .create_role(RoleInput {
            name: "invoices".into(),
            actions: vec!["GetInvoices".into(), "GetInvoice".into()],
            ..RoleInput::default()
        })
        .await?;
    let scoped = Lifecycle {
        client_ids: vec![ClientId(1)],
        ..Lifecycle::default()
    };
    for lifecycle in [Lifecycle::default(), scoped] {
        let (credential, secret) = manager
            .generate_credential("bench", "", &["invoices".into()], lifecycle)
            .await?;
        println!("{} {}", credential.identifier, secret.expose());
    }
    Ok(())
}
