//! Write transactions. Every write begins by bumping the one revision row:
//! its row lock serializes writers across all instances (as SQLite's
//! `BEGIN IMMEDIATE` does across processes), so read-modify-write sequences
//! such as role patches and "existing or new" role lookups never interleave,
//! and the `pg_notify` queued with it is delivered only if and when the
//! transaction commits.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Transaction};

use crate::Result;

/// The LISTEN/NOTIFY channel every write notifies.
pub const CHANNEL: &str = "keygate_changes";

/// An open write transaction.
pub(super) type Tx = Transaction<'static, Postgres>;

/// Begins a write: takes the writers' lock, bumps the revision and queues
/// the notification (payload: the new revision), all in one round trip.
pub(super) async fn begin_write(pool: &PgPool) -> Result<Tx> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "WITH bumped AS (UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value) \
         SELECT pg_notify($1, value::text) FROM bumped",
    )
    .bind(CHANNEL)
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Begins a transaction that takes the writers' lock without counting as a
/// change: batched last-access updates touch many credential rows, and
/// queueing them behind writers rules out lock-order deadlocks.
pub(super) async fn begin_quiet(pool: &PgPool) -> Result<Tx> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM revision WHERE id = 1 FOR UPDATE")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Runs one statement as a whole write; whether it touched exactly one row
/// (`false`: the admin, role or credential was already gone).
pub(super) async fn write_one(
    pool: &PgPool,
    statement: Query<'_, Postgres, PgArguments>,
) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let done = statement.execute(&mut *tx).await?.rows_affected() == 1;
    tx.commit().await?;
    Ok(done)
}
