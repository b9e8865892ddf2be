//! Credential writes: the statements both backends share
//! ([`crate::writes_sql`]), and SQLite's own for many rows at once (one
//! statement a row, as SQLite binds no arrays): a credential's role links
//! and batched last-access times.
//! The reads are in [`super::rows`].

use keygate_core::model::{CredentialId, RoleId};
use sqlx::SqlitePool;

use super::tx::{self, Tx};
use crate::{Error, Result};

crate::writes_sql::credential_writes!(sqlx::Sqlite);

/// Replaces the credential's roles; a role deleted meanwhile is NotFound.
async fn set_roles(tx: &mut Tx, credential: CredentialId, roles: &[RoleId]) -> Result<()> {
    sqlx::query("DELETE FROM credential_roles WHERE credential_id = ?")
        .bind(credential.0)
        .execute(&mut **tx)
        .await?;
    for role in roles {
        sqlx::query(
            "INSERT OR IGNORE INTO credential_roles (credential_id, role_id) VALUES (?, ?)",
        )
        .bind(credential.0)
        .bind(role.0)
        .execute(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Error::NotFound(format!("role {} no longer exists", role.0))
            }
            _ => Error::from(e),
        })?;
    }
    Ok(())
}

/// The whole batch in one transaction; a time never moves backwards.
pub(super) async fn record_access(pool: &SqlitePool, accesses: &[(String, i64)]) -> Result<()> {
    if accesses.is_empty() {
        return Ok(());
    }
    let mut tx = tx::begin_quiet(pool).await?;
    for (identifier, at) in accesses {
        sqlx::query(
            "UPDATE credentials SET last_access = ? WHERE identifier = ? \
             AND (last_access IS NULL OR last_access < ?)",
        )
        .bind(at)
        .bind(identifier)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
