//! Role writes and reads. Writers are serialized by [`tx::begin_write`], so
//! a patch reads and changes the role's current state with nobody between.

use keygate_core::model::{Role, RoleId};
use sqlx::PgPool;

use super::rows;
use super::tx::{self, Tx};
use crate::store::{now_secs, RoleDraft, RolePatch};
use crate::{Error, Result};

/// The conflict message for a taken role name (the same as SQLite's).
fn conflict(name: &str) -> String {
    format!("a role named {name:?} already exists")
}

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

/// Inserts a role with its actions inside `tx`.
pub(super) async fn insert(tx: &mut Tx, draft: &RoleDraft) -> Result<RoleId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO roles (name, name_key, description, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(&draft.name)
    .bind(draft.name.to_lowercase())
    .bind(&draft.description)
    .bind(now_secs())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| Error::from_db(e, || conflict(&draft.name)))?;
    insert_actions(tx, RoleId(id), &draft.actions).await?;
    Ok(RoleId(id))
}

/// The id of the role named `name`, case-insensitively.
pub(super) async fn id_by_name(
    conn: &mut sqlx::PgConnection,
    name: &str,
) -> Result<Option<RoleId>> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM roles WHERE name_key = $1")
        .bind(name.trim().to_lowercase())
        .fetch_optional(conn)
        .await?;
    Ok(id.map(RoleId))
}

/// Inserts a role; a taken name (in any case) is a conflict.
pub(super) async fn create(pool: &PgPool, draft: &RoleDraft) -> Result<Role> {
    let mut tx = tx::begin_write(pool).await?;
    let id = insert(&mut tx, draft).await?;
    let role = rows::load_role(&mut tx, id).await?;
    tx.commit().await?;
    role.ok_or_else(|| Error::NotFound("role vanished".into()))
}

/// All roles by name.
pub(super) async fn list(pool: &PgPool) -> Result<Vec<Role>> {
    let mut conn = pool.acquire().await?;
    rows::load_roles(&mut conn, None).await
}

/// The role named `name`, case-insensitively.
pub(super) async fn find(pool: &PgPool, name: &str) -> Result<Option<Role>> {
    let mut conn = pool.acquire().await?;
    match id_by_name(&mut conn, name).await? {
        Some(id) => rows::load_role(&mut conn, id).await,
        None => Ok(None),
    }
}

/// The role with this id.
pub(super) async fn get(pool: &PgPool, id: RoleId) -> Result<Option<Role>> {
    let mut conn = pool.acquire().await?;
    rows::load_role(&mut conn, id).await
}

/// Applies the patch to the locked role; `None` if it is gone.
pub(super) async fn update(pool: &PgPool, id: RoleId, patch: &RolePatch) -> Result<Option<Role>> {
    let mut tx = tx::begin_write(pool).await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM roles WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    if let Some(name) = &patch.name {
        sqlx::query("UPDATE roles SET name = $1, name_key = $2 WHERE id = $3")
            .bind(name)
            .bind(name.to_lowercase())
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_db(e, || conflict(name)))?;
    }
    if let Some(description) = &patch.description {
        sqlx::query("UPDATE roles SET description = $1 WHERE id = $2")
            .bind(description)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
    }
    patch_actions(&mut tx, id, patch).await?;
    let role = rows::load_role(&mut tx, id).await?;
    tx.commit().await?;
    Ok(role)
}

/// Replaces, then adds, then removes actions, as [`RolePatch`] specifies.
async fn patch_actions(tx: &mut Tx, id: RoleId, patch: &RolePatch) -> Result<()> {
    if let Some(actions) = &patch.set_actions {
        sqlx::query("DELETE FROM role_actions WHERE role_id = $1")
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
        insert_actions(tx, id, actions).await?;
    }
    insert_actions(tx, id, &patch.allow).await?;
    if !patch.revoke.is_empty() {
        sqlx::query("DELETE FROM role_actions WHERE role_id = $1 AND action = ANY($2)")
            .bind(id.0)
            .bind(&patch.revoke)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Deletes the role; credentials lose it (ON DELETE CASCADE).
pub(super) async fn delete(pool: &PgPool, id: RoleId) -> Result<bool> {
    tx::write_one(
        pool,
        sqlx::query("DELETE FROM roles WHERE id = $1").bind(id.0),
    )
    .await
}
