//! Admin writes and reads.

use keygate_core::model::{Admin, AdminId};
use sqlx::{PgPool, Row};

use super::{rows, tx};
use crate::store::now_secs;
use crate::{Error, Result};

/// Inserts an enabled admin; a taken username is a conflict.
pub(super) async fn create(pool: &PgPool, username: &str, password_hash: &str) -> Result<Admin> {
    let mut tx = tx::begin_write(pool).await?;
    let row = sqlx::query(
        "INSERT INTO admins (username, password_hash, enabled, created_at) VALUES ($1, $2, TRUE, $3) \
         RETURNING id, username, enabled, created_at",
    )
    .bind(username)
    .bind(password_hash)
    .bind(now_secs())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| Error::from_db(e, || format!("an admin named {username:?} already exists")))?;
    let admin = rows::admin(&row)?;
    tx.commit().await?;
    Ok(admin)
}

/// All admins by username.
pub(super) async fn list(pool: &PgPool) -> Result<Vec<Admin>> {
    let rows =
        sqlx::query("SELECT id, username, enabled, created_at FROM admins ORDER BY username")
            .fetch_all(pool)
            .await?;
    rows.iter().map(rows::admin).collect()
}

/// The admin and its password hash.
pub(super) async fn find(pool: &PgPool, username: &str) -> Result<Option<(Admin, String)>> {
    let row = sqlx::query(
        "SELECT id, username, enabled, created_at, password_hash FROM admins WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((rows::admin(&r)?, r.try_get("password_hash")?)))
        .transpose()
}

/// Replaces the password hash.
pub(super) async fn set_password(pool: &PgPool, id: AdminId, password_hash: &str) -> Result<bool> {
    tx::write_one(
        pool,
        sqlx::query("UPDATE admins SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id.0),
    )
    .await
}

/// Enables or disables the admin.
pub(super) async fn set_enabled(pool: &PgPool, id: AdminId, enabled: bool) -> Result<bool> {
    tx::write_one(
        pool,
        sqlx::query("UPDATE admins SET enabled = $1 WHERE id = $2")
            .bind(enabled)
            .bind(id.0),
    )
    .await
}

/// Deletes the admin; its credentials go with it (ON DELETE CASCADE).
pub(super) async fn remove(pool: &PgPool, id: AdminId) -> Result<bool> {
    tx::write_one(
        pool,
        sqlx::query("DELETE FROM admins WHERE id = $1").bind(id.0),
    )
    .await
}
