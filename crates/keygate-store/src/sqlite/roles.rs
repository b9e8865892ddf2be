//! Role writes: the statements both backends share ([`crate::writes_sql`]),
//! and SQLite's own for many actions at once (one statement an action, as
//! SQLite binds no arrays). The reads are in [`super::rows`].

use keygate_core::model::RoleId;

use super::tx::Tx;
use crate::Result;

crate::writes_sql::role_writes!(sqlx::Sqlite, "");

/// Adds actions to a role, ignoring those it already has.
pub(super) async fn insert_actions(tx: &mut Tx, role: RoleId, actions: &[String]) -> Result<()> {
    for action in actions {
        sqlx::query("INSERT OR IGNORE INTO role_actions (role_id, action) VALUES ($1, $2)")
            .bind(role.0)
            .bind(action)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Removes actions from a role.
async fn revoke_actions(tx: &mut Tx, role: RoleId, actions: &[String]) -> Result<()> {
    for action in actions {
        sqlx::query("DELETE FROM role_actions WHERE role_id = $1 AND action = $2")
            .bind(role.0)
            .bind(action)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
