//! Seeds a SQLite (or PostgreSQL) database for the scale benchmark
//! (`bench/scale.sh`): one admin, a few roles and ONE real credential made through
//! [`keygate_store::Manager`] (so its secret is known; printed as
//! `IDENTIFIER SECRET` on stdout), then that credential's row copied N-1
//! times with fresh identifiers by SQL, in one transaction: a million rows
//! in seconds, where generating them one by one takes hours.
//!
//! `cargo run --release -p keygate --example scale_seed -- sqlite://scale.db 1000000 [EVENTS]`
//! (or `postgres://…/EMPTY_DATABASE`; a million credentials take about 15 s
//! on SQLite, 50 s on PostgreSQL with as many events).
//!
//! With `EVENTS` (default 0), the audit trail also gets that many
//! `credential.generate` events, one for each copy from the first (as if
//! each had been generated), chained and hashed like real ones so that
//! `keygate audit verify` still passes: a database that grew to a million
//! credentials through keygate has at least as many events.
//!
//! The copies are the real credential's row with every column kept (so
//! every NOT NULL column, including migration 0006's sort keys, is filled
//! whatever later migrations add) except `id` and `identifier`. An
//! identifier is 32 alphanumeric characters like a generated one: 27
//! random ones and the copy's number in base 62 (5 characters), so they
//! are unique by construction. The change-log triggers of migration 0009
//! (when present) are set aside during the copy and the log is emptied
//! afterwards, so it does not hold a million rows.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use keygate_core::model::Lifecycle;
use keygate_core::Catalog;
use keygate_store::{Manager, RoleInput};
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

/// Copying a credential's row in SQLite (shared with `bench_seed`).
#[path = "seed/copies.rs"]
mod copies;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite://scale.db".into());
    let count: u64 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let events: u64 = args.next().map_or(Ok(0), |n| n.parse())?;
    if count == 0 {
        bail!("the credential count must be at least 1");
    }
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !url.starts_with("sqlite:") && !postgres {
        bail!("scale_seed seeds sqlite://FILE or postgres://… databases");
    }
    let (identifier, secret) = seed_real(&url).await?;
    println!("{identifier} {secret}");
    let started = Instant::now();
    let events = events.min(count - 1);
    if postgres {
        pg::copy(&url, &identifier, count - 1, events).await?;
        eprintln!(
            "scale_seed: {count} credentials and {events} audit events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    copies::copy_credential(&url, &identifier, count - 1).await?;
    let copied = started.elapsed().as_secs_f64();
    if events > 0 {
        add_audit_events(&url, &identifier, events).await?;
    }
    eprintln!(
        "scale_seed: {count} credentials in {copied:.1} s, {events} audit events in {:.1} s more",
        started.elapsed().as_secs_f64() - copied
    );
    Ok(())
}

/// Creates the admin, the roles and the real credential through the
/// manager; returns the credential's identifier and secret.
async fn seed_real(url: &str) -> anyhow::Result<(String, String)> {
    let catalog = Arc::new(Catalog::builtin());
    let manager = Manager::new(keygate_store::open(url).await?, catalog);
    manager.add_admin("scale", "scale-password").await?;
    let roles = [
        (
            "Support Desk",
            vec!["GetClients", "GetTickets", "OpenTicket"],
        ),
        (
            "Billing",
            vec!["GetInvoices", "GetInvoice", "GetClientsDetails"],
        ),
        ("Orders", vec!["GetOrders", "AcceptOrder"]),
        ("Spare", vec!["GetProducts"]),
    ];
    for (name, actions) in roles {
        manager
            .create_role(RoleInput {
                name: name.into(),
                description: format!("{name} (scale benchmark)"),
                actions: actions.into_iter().map(String::from).collect(),
                ..RoleInput::default()
            })
            .await?;
    }
    let held = ["Support Desk".to_string(), "Billing".to_string()];
    let (credential, secret) = manager
        .generate_credential("scale", "Scale credential", &held, Lifecycle::default())
        .await?;
    Ok((credential.identifier, secret.expose().to_string()))
}

/// Audit events written per statement.
const EVENTS_PER_INSERT: usize = 500;

/// Appends `events` copies of the real credential's `credential.generate`
/// event to a SQLite database (see [`sqlite_events::append`]).
async fn add_audit_events(url: &str, identifier: &str, events: u64) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::from_str(url)?
        .synchronous(SqliteSynchronous::Off)
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    sqlite_events::append(&mut tx, identifier, events).await?;
    tx.commit().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Defines a module with `append`, the audit events for one sqlx database
/// type (the SQL is the same on both: `$N` placeholders).
macro_rules! audit_events {
    ($module:ident, $db:ty) => {
        mod $module {
            use anyhow::Context;
            use keygate_core::audit::AuditEvent;
            use sqlx::{Database, QueryBuilder, Row};

            use super::EVENTS_PER_INSERT;

            type Conn = <$db as Database>::Connection;

            /// Appends `events` copies of the real credential's
            /// `credential.generate` event, one per copied credential (the
            /// first `events` copies, by id), each chained to the one before
            /// and hashed, and moves the chain's head; inside the caller's
            /// transaction.
            pub async fn append(
                conn: &mut Conn,
                identifier: &str,
                events: u64,
            ) -> anyhow::Result<()> {
                let template = generate_event(conn, identifier).await?;
                let (mut last_id, mut last_hash): (i64, String) =
                    sqlx::query_as("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
                        .fetch_one(&mut *conn)
                        .await?;
                let targets: Vec<String> = sqlx::query_scalar(
                    "SELECT identifier FROM credentials WHERE id > \
                     (SELECT id FROM credentials WHERE identifier = $1) ORDER BY id LIMIT $2",
                )
                .bind(identifier)
                .bind(i64::try_from(events)?)
                .fetch_all(&mut *conn)
                .await?;
                for chunk in targets.chunks(EVENTS_PER_INSERT) {
                    let mut batch = Vec::with_capacity(chunk.len());
                    for target in chunk {
                        let mut event = AuditEvent {
                            id: last_id + 1,
                            target_id: target.clone(),
                            prev_hash: last_hash,
                            ..template.clone()
                        };
                        event.hash = event.computed_hash();
                        last_id = event.id;
                        last_hash = event.hash.clone();
                        batch.push(event);
                    }
                    insert_events(conn, &batch).await?;
                }
                sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1")
                    .bind(last_id)
                    .bind(&last_hash)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// The `credential.generate` event of the credential `identifier`.
            async fn generate_event(
                conn: &mut Conn,
                identifier: &str,
            ) -> anyhow::Result<AuditEvent> {
                let row = sqlx::query(
                    "SELECT id, at, actor, source, verb, target_kind, target_id, target_name, \
                     changes, prev_hash, hash FROM audit_events \
                     WHERE verb = 'credential.generate' AND target_id = $1 \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(identifier)
                .fetch_one(&mut *conn)
                .await
                .context("the real credential's audit event is missing")?;
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    source: row.try_get("source")?,
                    verb: row.try_get("verb")?,
                    target_kind: row.try_get("target_kind")?,
                    target_id: row.try_get("target_id")?,
                    target_name: row.try_get("target_name")?,
                    changes: row.try_get("changes")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            }

            /// Inserts `events` in one statement.
            async fn insert_events(conn: &mut Conn, events: &[AuditEvent]) -> anyhow::Result<()> {
                let mut insert = QueryBuilder::<$db>::new(
                    "INSERT INTO audit_events (id, at, actor, source, verb, target_kind, \
                     target_id, target_name, changes, prev_hash, hash) ",
                );
                insert.push_values(events, |mut row, event| {
                    row.push_bind(event.id)
                        .push_bind(event.at)
                        .push_bind(event.actor.clone())
                        .push_bind(event.source.clone())
                        .push_bind(event.verb.clone())
                        .push_bind(event.target_kind.clone())
                        .push_bind(event.target_id.clone())
                        .push_bind(event.target_name.clone())
                        .push_bind(event.changes.clone())
                        .push_bind(event.prev_hash.clone())
                        .push_bind(event.hash.clone());
                });
                insert.build().execute(&mut *conn).await?;
                Ok(())
            }
        }
    };
}

audit_events!(sqlite_events, sqlx::Sqlite);
audit_events!(postgres_events, sqlx::Postgres);

/// The same for PostgreSQL: `generate_series` instead of a recursive CTE,
/// the change-log triggers disabled for the copy (`DISABLE TRIGGER USER`
/// keeps the foreign keys' own triggers), and `ANALYZE` at the end as
/// autovacuum would soon do.
mod pg {
    use anyhow::Context;
    use sqlx::{Connection, PgConnection};

    use super::copies::{ALPHABET, NUMBER_CHARS, RANDOM_CHARS};

    /// Copies the credential `identifier` `copies` times and adds `events`
    /// audit events, in one transaction.
    pub async fn copy(url: &str, identifier: &str, copies: u64, events: u64) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(url).await?;
        let mut tx = conn.begin().await?;
        let source: i64 = sqlx::query_scalar("SELECT id FROM credentials WHERE identifier = $1")
            .bind(identifier)
            .fetch_one(&mut *tx)
            .await
            .context("the real credential is missing")?;
        for table in ["credentials", "credential_roles"] {
            sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
                .execute(&mut *tx)
                .await?;
        }
        if copies > 0 {
            // The copies get the ids above every existing credential's.
            let last: i64 = sqlx::query_scalar("SELECT MAX(id) FROM credentials")
                .fetch_one(&mut *tx)
                .await?;
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT column_name::TEXT FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'credentials' \
                 AND column_name NOT IN ('id', 'identifier') ORDER BY ordinal_position",
            )
            .fetch_all(&mut *tx)
            .await?;
            let columns = columns
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO credentials (identifier, {columns}) \
                 SELECT {}, {columns} FROM generate_series(1, $1::BIGINT) AS n(i), \
                 (SELECT * FROM credentials WHERE id = $2) AS s",
                identifier_expression()
            );
            sqlx::query(&sql)
                .bind(i64::try_from(copies)?)
                .bind(source)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO credential_roles (credential_id, role_id) \
                 SELECT c.id, cr.role_id FROM credentials c, credential_roles cr \
                 WHERE c.id > $1 AND cr.credential_id = $2",
            )
            .bind(last)
            .bind(source)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE revision SET value = value + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
        }
        for table in ["credentials", "credential_roles"] {
            sqlx::query(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
                .execute(&mut *tx)
                .await?;
        }
        let has_log: bool =
            sqlx::query_scalar("SELECT to_regclass('snapshot_changes') IS NOT NULL")
                .fetch_one(&mut *tx)
                .await?;
        if has_log {
            sqlx::query("DELETE FROM snapshot_changes")
                .execute(&mut *tx)
                .await?;
        }
        let has_start: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'revision' \
             AND column_name = 'changes_from')",
        )
        .fetch_one(&mut *tx)
        .await?;
        if has_start {
            sqlx::query("UPDATE revision SET changes_from = value")
                .execute(&mut *tx)
                .await?;
        }
        if events > 0 {
            super::postgres_events::append(&mut tx, identifier, events).await?;
        }
        tx.commit().await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    /// A fresh identifier for copy number `n.i`, as in SQLite's.
    fn identifier_expression() -> String {
        let random = format!("substr('{ALPHABET}', floor(random() * 62)::INT + 1, 1)");
        let mut parts = vec![random; RANDOM_CHARS];
        for digit in (0..NUMBER_CHARS).rev() {
            parts.push(format!(
                "substr('{ALPHABET}', ((n.i / {}) % 62)::INT + 1, 1)",
                62_i64.pow(digit)
            ));
        }
        parts.join(" || ")
    }
}
