//! Role writes: the statements both backends share ([`crate::writes_sql`]),
//! and PostgreSQL's own for many actions at once (one statement binding an
//! array). The reads are in [`super::rows`].

use keygate_core::model::RoleId;

use super::tx::Tx;
use crate::Result;

crate::writes_sql::role_writes!(sqlx::Postgres, " FOR UPDATE");

/// Adds actions to a role, ignoring those it already has.
async fn insert_actions(tx: &mut Tx, role: RoleId, actions: &[String]) -> Result<()> {
    sqlx::query(
        "INSERT INTO role_actions (role_id, action) SELECT $1, unnest($2::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(role.0)
    .bind(actions)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes actions from a role.
async fn revoke_actions(tx: &mut Tx, role: RoleId, actions: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM role_actions WHERE role_id = $1 AND action = ANY($2)")
        .bind(role.0)
        .bind(actions)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
