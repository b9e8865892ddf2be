//! Copies of one real credential's row, made by SQL in SQLite: a million
//! credentials in seconds, where generating them one by one takes hours.
//! Shared by the `scale_seed` and `bench_seed` examples (`#[path]`).

use std::str::FromStr;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row};

/// The characters of generated identifiers (`rand`'s `Alphanumeric`).
pub const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Random characters in front of the copy's number.
pub const RANDOM_CHARS: usize = 27;

/// Base-62 digits of the copy's number: 62^5 is about 916 million copies.
pub const NUMBER_CHARS: u32 = 5;

/// The tables whose triggers feed the snapshot change log (migration 0009).
const LOGGED_TABLES: &str = "'credentials', 'credential_roles'";

/// Copies the credential `identifier` (its row and role links) `copies`
/// times in one transaction, then empties the change log.
pub async fn copy_credential(url: &str, identifier: &str, copies: u64) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::from_str(url)?
        .synchronous(SqliteSynchronous::Off)
        .foreign_keys(true)
        .connect()
        .await?;
    // 256 MiB of page cache: the identifier index is filled in random order.
    sqlx::query("PRAGMA cache_size = -262144")
        .execute(&mut conn)
        .await?;
    let mut tx = conn.begin().await?;
    let source: i64 = sqlx::query_scalar("SELECT id FROM credentials WHERE identifier = ?")
        .bind(identifier)
        .fetch_one(&mut *tx)
        .await
        .context("the real credential is missing")?;
    let triggers = set_triggers_aside(&mut tx).await?;
    if copies > 0 {
        // The copies get the ids above every existing credential's.
        let last: i64 = sqlx::query_scalar("SELECT MAX(id) FROM credentials")
            .fetch_one(&mut *tx)
            .await?;
        let columns = copied_columns(&mut tx).await?;
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
             INSERT INTO credentials (identifier, {columns}) \
             SELECT {}, {columns} FROM n, (SELECT * FROM credentials WHERE id = ?)",
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
             WHERE c.id > ? AND cr.credential_id = ?",
        )
        .bind(last)
        .bind(source)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE revision SET value = value + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
    }
    for sql in triggers {
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    empty_change_log(&mut tx).await?;
    tx.commit().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Every column of `credentials` but `id` and `identifier`, comma-separated.
async fn copied_columns(conn: &mut SqliteConnection) -> anyhow::Result<String> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pragma_table_info('credentials') \
         WHERE name NOT IN ('id', 'identifier') ORDER BY cid",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", "))
}

/// The SQL of a fresh identifier for copy number `n.i`: random characters,
/// then `i` in base 62.
fn identifier_expression() -> String {
    let random = "substr('{A}', abs(random() % 62) + 1, 1)".replace("{A}", ALPHABET);
    let mut parts = vec![random; RANDOM_CHARS];
    for digit in (0..NUMBER_CHARS).rev() {
        parts.push(format!(
            "substr('{ALPHABET}', (n.i / {}) % 62 + 1, 1)",
            62_i64.pow(digit)
        ));
    }
    parts.join(" || ")
}

/// Drops the change-log triggers on the credential tables (those writing
/// `snapshot_changes`; other triggers keep running), if any, and returns
/// the statements that create them again.
async fn set_triggers_aside(conn: &mut SqliteConnection) -> anyhow::Result<Vec<String>> {
    let rows = sqlx::query(&format!(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' \
         AND tbl_name IN ({LOGGED_TABLES}) AND sql LIKE '%snapshot_changes%'"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut statements = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get("name")?;
        statements.push(row.try_get("sql")?);
        sqlx::query(&format!("DROP TRIGGER \"{name}\""))
            .execute(&mut *conn)
            .await?;
    }
    Ok(statements)
}

/// Empties `snapshot_changes` and starts the log at the current revision
/// (`revision.changes_from`), when this database has them.
async fn empty_change_log(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    let has_log: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = 'snapshot_changes')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if has_log {
        sqlx::query("DELETE FROM snapshot_changes")
            .execute(&mut *conn)
            .await?;
    }
    let has_start: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('revision') \
         WHERE name = 'changes_from')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if has_start {
        sqlx::query("UPDATE revision SET changes_from = value")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
