//! Export and import of a whole database (see [`crate::backup`]): read in
//! one repeatable-read snapshot, written in one write transaction (which
//! bumps the revision and notifies other instances at commit) that refuses
//! a database holding anything. The SQL both backends share is in
//! [`crate::backup::sql`].

use std::collections::HashMap;

use sqlx::PgPool;

use super::tx::Tx;
use crate::backup::columns::unknown;
use crate::backup::{Backup, BackupCredential, BackupRole};
use crate::Result;

crate::backup::sql::backup_sql!(
    sqlx::postgres::PgRow,
    sqlx::PgConnection,
    super::Tx,
    sqlx::PgPool
);
pub(super) use shared::import;

/// Everything in the database, in the backup's order, from one snapshot.
pub(super) async fn export(pool: &PgPool) -> Result<Backup> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let backup = shared::read_all(&mut tx).await?;
    tx.commit().await?;
    Ok(backup)
}

/// Inserts the roles and their actions; their ids by lowercase name.
async fn insert_roles(tx: &mut Tx, roles: &[BackupRole]) -> Result<HashMap<String, i64>> {
    let mut ids = HashMap::with_capacity(roles.len());
    for role in roles {
        let id = shared::insert_role(tx, role).await?;
        sqlx::query(
            "INSERT INTO role_actions (role_id, action) SELECT $1, unnest($2::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&role.actions)
        .execute(&mut **tx)
        .await?;
        ids.insert(role.name.to_lowercase(), id);
    }
    Ok(ids)
}

/// Links credential `id` to the roles it names, in one statement.
async fn link_roles(
    tx: &mut Tx,
    id: i64,
    credential: &BackupCredential,
    roles: &HashMap<String, i64>,
) -> Result<()> {
    let role_ids = credential
        .roles
        .iter()
        .map(|name| {
            roles
                .get(&name.trim().to_lowercase())
                .copied()
                .ok_or_else(|| unknown(credential, "role", name))
        })
        .collect::<Result<Vec<i64>>>()?;
    sqlx::query(
        "INSERT INTO credential_roles (credential_id, role_id) SELECT $1, unnest($2::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(&role_ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
