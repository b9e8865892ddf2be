//! Export and import of a whole database (see [`crate::backup`]): read on
//! one connection inside a transaction, written in one write transaction
//! (`BEGIN IMMEDIATE`, bumping the revision) that refuses a database holding
//! anything. The SQL both
//! backends share is in [`crate::backup::sql`].

use std::collections::HashMap;

use sqlx::SqliteConnection;

use super::roles::insert_actions;
use super::tx::Tx;
use crate::backup::columns::unknown;
use crate::backup::{Backup, BackupCredential, BackupRole};
use crate::Result;

crate::backup::sql::backup_sql!(
    sqlx::sqlite::SqliteRow,
    sqlx::SqliteConnection,
    super::Tx,
    sqlx::SqlitePool
);
pub(super) use shared::import;

/// Everything in the database, in the backup's order.
pub(super) async fn export(conn: &mut SqliteConnection) -> Result<Backup> {
    shared::read_all(conn).await
}

/// Inserts the roles and their actions; their ids by lowercase name.
async fn insert_roles(tx: &mut Tx, roles: &[BackupRole]) -> Result<HashMap<String, i64>> {
    let mut ids = HashMap::with_capacity(roles.len());
    for role in roles {
        let id = shared::insert_role(tx, role).await?;
        insert_actions(tx, keygate_core::RoleId(id), &role.actions).await?;
        ids.insert(role.name.to_lowercase(), id);
    }
    Ok(ids)
}

/// Links credential `id` to the roles it names.
async fn link_roles(
    tx: &mut Tx,
    id: i64,
    credential: &BackupCredential,
    roles: &HashMap<String, i64>,
) -> Result<()> {
    for name in &credential.roles {
        let role = *roles
            .get(&name.trim().to_lowercase())
            .ok_or_else(|| unknown(credential, "role", name))?;
        sqlx::query(
            "INSERT OR IGNORE INTO credential_roles (credential_id, role_id) VALUES ($1, $2)",
        )
        .bind(id)
        .bind(role)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
