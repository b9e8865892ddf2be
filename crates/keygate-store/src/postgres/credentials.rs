//! Credential writes: the statements both backends share
//! ([`crate::writes_sql`]), and PostgreSQL's own for many rows at once (one
//! statement binding arrays): a credential's role links and batched
//! last-access times.
//! The reads are in [`super::rows`].

use keygate_core::model::{CredentialId, RoleId};
use sqlx::PgPool;

use super::tx::{self, Tx};
use crate::{Error, Result};

crate::writes_sql::credential_writes!(sqlx::Postgres);

/// Replaces the credential's roles; a role deleted meanwhile is NotFound.
async fn set_roles(tx: &mut Tx, credential: CredentialId, roles: &[RoleId]) -> Result<()> {
    let ids: Vec<i64> = roles.iter().map(|r| r.0).collect();
    let missing: Option<i64> = sqlx::query_scalar(
        "SELECT r FROM unnest($1::bigint[]) AS r WHERE NOT EXISTS (SELECT 1 FROM roles WHERE id = r) \
         LIMIT 1",
    )
    .bind(&ids)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = missing {
        return Err(Error::NotFound(format!("role {id} no longer exists")));
    }
    sqlx::query("DELETE FROM credential_roles WHERE credential_id = $1")
        .bind(credential.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO credential_roles (credential_id, role_id) SELECT $1, unnest($2::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(credential.0)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One statement for the whole batch; a time never moves backwards.
pub(super) async fn record_access(pool: &PgPool, accesses: &[(String, i64)]) -> Result<()> {
    if accesses.is_empty() {
        return Ok(());
    }
    let (identifiers, times): (Vec<&str>, Vec<i64>) =
        accesses.iter().map(|(i, t)| (i.as_str(), *t)).unzip();
    let mut tx = tx::begin_quiet(pool).await?;
    sqlx::query(
        "UPDATE credentials c SET last_access = a.at \
         FROM (SELECT identifier, max(at) AS at FROM unnest($1::text[], $2::bigint[]) \
               AS u(identifier, at) GROUP BY identifier) a \
         WHERE c.identifier = a.identifier AND (c.last_access IS NULL OR c.last_access < a.at)",
    )
    .bind(&identifiers)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
