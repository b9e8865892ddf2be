//! Admin API tokens, written once for both backends like the other SQL
//! ([`crate::rows_sql`]) and stamped out by [`tokens_sql!`] into the
//! backend's `tokens` module. Tokens are not part of the snapshot, so their
//! writes take the writers' lock without bumping the revision.

/// Defines the token statements for one sqlx database type: `create`,
/// `list`, `delete`, `by_hash` and `touch`.
macro_rules! tokens_sql {
    ($db:ty) => {
        use keygate_core::model::{AdminId, ApiToken, TokenId};
        use keygate_core::token::TokenHash;
        use sqlx::{Database, Row};

        use super::tx;
        use crate::store::now_secs;
        use crate::{Error, Result};

        type Pool = sqlx::Pool<$db>;
        type DbRow = <$db as Database>::Row;

        /// The token columns joined with the owning admin, as [`token`] reads them.
        const SELECT: &str = "SELECT t.id, t.admin_id, a.username, a.enabled, t.prefix, \
             t.description, t.created_at, t.expires_at, t.last_used_at \
             FROM admin_tokens t JOIN admins a ON a.id = t.admin_id";

        fn token(row: &DbRow) -> Result<ApiToken> {
            Ok(ApiToken {
                id: TokenId(row.try_get("id")?),
                admin_id: AdminId(row.try_get("admin_id")?),
                admin: row.try_get("username")?,
                prefix: row.try_get("prefix")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                last_used_at: row.try_get("last_used_at")?,
            })
        }

        /// Stores a new token's hash for `admin`.
        pub(super) async fn create(
            pool: &Pool,
            admin: AdminId,
            hash: &TokenHash,
            prefix: &str,
            description: &str,
            expires_at: Option<i64>,
        ) -> Result<ApiToken> {
            let mut tx = tx::begin_quiet(pool).await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO admin_tokens \
                 (admin_id, token_sha256, prefix, description, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(admin.0)
            .bind(&hash.0[..])
            .bind(prefix)
            .bind(description)
            .bind(now_secs())
            .bind(expires_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    Error::NotFound(format!("admin {} no longer exists", admin.0))
                }
                _ => Error::from(e),
            })?;
            let row = sqlx::query(&format!("{SELECT} WHERE t.id = $1"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let created = token(&row)?;
            tx.commit().await?;
            Ok(created)
        }

        /// Every token, or one admin's, by id.
        pub(super) async fn list(pool: &Pool, admin: Option<AdminId>) -> Result<Vec<ApiToken>> {
            let rows = match admin {
                Some(admin) => {
                    sqlx::query(&format!("{SELECT} WHERE t.admin_id = $1 ORDER BY t.id"))
                        .bind(admin.0)
                        .fetch_all(pool)
                        .await?
                }
                None => {
                    sqlx::query(&format!("{SELECT} ORDER BY t.id"))
                        .fetch_all(pool)
                        .await?
                }
            };
            rows.iter().map(token).collect()
        }

        /// Deletes the token; what it was, if it existed.
        pub(super) async fn delete(pool: &Pool, id: TokenId) -> Result<Option<ApiToken>> {
            let mut tx = tx::begin_quiet(pool).await?;
            let found = sqlx::query(&format!("{SELECT} WHERE t.id = $1"))
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| token(&row))
                .transpose()?;
            sqlx::query("DELETE FROM admin_tokens WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(found)
        }

        /// The token with this hash and whether its admin is enabled.
        pub(super) async fn by_hash(
            pool: &Pool,
            hash: &TokenHash,
        ) -> Result<Option<(ApiToken, bool)>> {
            sqlx::query(&format!("{SELECT} WHERE t.token_sha256 = $1"))
                .bind(&hash.0[..])
                .fetch_optional(pool)
                .await?
                .map(|row| Ok((token(&row)?, row.try_get("enabled")?)))
                .transpose()
        }

        /// Records a use at `at`, at most once a minute per token (the
        /// management API is not the hot path, but a script polling it
        /// should not write on every call).
        pub(super) async fn touch(pool: &Pool, id: TokenId, at: i64) -> Result<()> {
            sqlx::query(
                "UPDATE admin_tokens SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(at)
            .bind(id.0)
            .bind(at - 60)
            .execute(pool)
            .await?;
            Ok(())
        }
    };
}

pub(crate) use tokens_sql;
