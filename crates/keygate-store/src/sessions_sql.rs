//! Admin UI sessions, written once for both backends like the other SQL
//! ([`crate::rows_sql`]) and stamped out by [`sessions_sql!`] into the
//! backend's `sessions` module, which implements [`crate::store::SessionStore`]
//! for the backend's store. Sessions are not part of the snapshot: every
//! statement stands alone (no writers' lock, no revision bump), and the
//! one-time messages are taken with a compare-and-clear `UPDATE`, so of two
//! instances taking the same message only one gets it.

/// Implements `SessionStore` for `$store`, a backend's store type (its
/// `pool` field is visible to the backend's `sessions` module).
macro_rules! sessions_sql {
    ($store:ty) => {
        use async_trait::async_trait;
        use keygate_core::model::AdminId;
        use sqlx::Row;

        use crate::store::{SessionStore, StoredSession};
        use crate::Result;

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(&self, hash: &[u8], admin: AdminId, at: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO admin_sessions (token_sha256, admin_id, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $3)",
                )
                .bind(hash)
                .bind(admin.0)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session(&self, hash: &[u8]) -> Result<Option<StoredSession>> {
                let row = sqlx::query(
                    "SELECT s.admin_id, a.username, a.enabled, s.created_at, s.last_seen_at \
                     FROM admin_sessions s JOIN admins a ON a.id = s.admin_id \
                     WHERE s.token_sha256 = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(StoredSession {
                    admin_id: AdminId(row.try_get("admin_id")?),
                    username: row.try_get("username")?,
                    enabled: row.try_get("enabled")?,
                    created_at: row.try_get("created_at")?,
                    last_seen_at: row.try_get("last_seen_at")?,
                }))
            }

            async fn touch_session(&self, hash: &[u8], at: i64) -> Result<()> {
                sqlx::query(
                    "UPDATE admin_sessions SET last_seen_at = $1 \
                     WHERE token_sha256 = $2 AND last_seen_at < $3",
                )
                .bind(at)
                .bind(hash)
                .bind(at - 60)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_session(&self, hash: &[u8]) -> Result<bool> {
                let done = sqlx::query("DELETE FROM admin_sessions WHERE token_sha256 = $1")
                    .bind(hash)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_admin_sessions(&self, admin: AdminId) -> Result<u64> {
                let done = sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1")
                    .bind(admin.0)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn prune_sessions(
                &self,
                idle_before: i64,
                created_before: i64,
                secrets_before: i64,
            ) -> Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM admin_sessions WHERE last_seen_at < $1 OR created_at < $2",
                )
                .bind(idle_before)
                .bind(created_before)
                .execute(&self.pool)
                .await?;
                sqlx::query(
                    "UPDATE admin_sessions SET secret_sealed = NULL, secret_at = NULL \
                     WHERE secret_at < $1",
                )
                .bind(secrets_before)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn set_session_flash(&self, hash: &[u8], flash: &str) -> Result<()> {
                sqlx::query("UPDATE admin_sessions SET flash = $1 WHERE token_sha256 = $2")
                    .bind(flash)
                    .bind(hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn take_session_flash(&self, hash: &[u8]) -> Result<Option<String>> {
                let flash: Option<Option<String>> =
                    sqlx::query_scalar("SELECT flash FROM admin_sessions WHERE token_sha256 = $1")
                        .bind(hash)
                        .fetch_optional(&self.pool)
                        .await?;
                let Some(flash) = flash.flatten() else {
                    return Ok(None);
                };
                let taken = sqlx::query(
                    "UPDATE admin_sessions SET flash = NULL \
                     WHERE token_sha256 = $1 AND flash = $2",
                )
                .bind(hash)
                .bind(&flash)
                .execute(&self.pool)
                .await?;
                Ok((taken.rows_affected() == 1).then_some(flash))
            }

            async fn set_session_secret(&self, hash: &[u8], sealed: &[u8], at: i64) -> Result<()> {
                sqlx::query(
                    "UPDATE admin_sessions SET secret_sealed = $1, secret_at = $2 \
                     WHERE token_sha256 = $3",
                )
                .bind(sealed)
                .bind(at)
                .bind(hash)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn take_session_secret(&self, hash: &[u8]) -> Result<Option<(Vec<u8>, i64)>> {
                let row = sqlx::query(
                    "SELECT secret_sealed, secret_at FROM admin_sessions \
                     WHERE token_sha256 = $1 AND secret_sealed IS NOT NULL",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let sealed: Vec<u8> = row.try_get("secret_sealed")?;
                let at: Option<i64> = row.try_get("secret_at")?;
                let taken = sqlx::query(
                    "UPDATE admin_sessions SET secret_sealed = NULL, secret_at = NULL \
                     WHERE token_sha256 = $1 AND secret_sealed = $2",
                )
                .bind(hash)
                .bind(&sealed[..])
                .execute(&self.pool)
                .await?;
                Ok((taken.rows_affected() == 1).then_some((sealed, at.unwrap_or(0))))
            }
        }
    };
}

pub(crate) use sessions_sql;
