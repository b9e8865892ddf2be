//! Write transactions. Every write begins with `BEGIN IMMEDIATE`, which
//! takes SQLite's one write lock at once, so concurrent writers (the CLI and
//! a running server) queue on the busy timeout instead of failing midway,
//! and read-modify-write sequences such as role patches never interleave.
//! A write bumps the revision as it begins; nothing of it, the bump
//! included, survives unless the transaction commits.

use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::Result;

/// An open write transaction.
pub(super) type Tx = Transaction<'static, Sqlite>;

/// Begins a write: takes the write lock and bumps the revision.
pub(super) async fn begin_write(pool: &SqlitePool) -> Result<Tx> {
    let mut tx = begin_quiet(pool).await?;
    sqlx::query("UPDATE revision SET value = value + 1 WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Begins a transaction that takes the write lock without counting as a
/// change: batched last-access updates are not changes to the snapshot.
pub(super) async fn begin_quiet(pool: &SqlitePool) -> Result<Tx> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// Runs one statement as a whole write; whether it touched exactly one row
/// (`false`: the admin, role or credential was already gone).
pub(super) async fn write_one<'q>(
    pool: &SqlitePool,
    statement: Query<'q, Sqlite, SqliteArguments<'q>>,
) -> Result<bool> {
    let mut tx = begin_write(pool).await?;
    let done = statement.execute(&mut *tx).await?.rows_affected() == 1;
    tx.commit().await?;
    Ok(done)
}
