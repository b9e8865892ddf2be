//! The writes both backends share, written once like the reads
//! ([`crate::rows_sql`]) so the backends cannot drift apart: plain SQL in
//! the dialect both accept (`$N` placeholders, `CAST(… AS …)`, `TRUE`),
//! stamped out per backend by [`admin_writes!`], [`role_writes!`] and
//! [`credential_writes!`] into the backend's `admins`, `roles` and
//! `credentials` modules.
//!
//! What really differs stays in the backend: how a write transaction begins
//! and bumps the revision (its `tx` module: `Tx`, `begin_write`,
//! `write_one`), and the statements that take many values at once
//! (PostgreSQL binds arrays, SQLite loops): the invoking `roles` module's
//! `insert_actions` and `revoke_actions`, and the `credentials` module's
//! `set_roles`.

/// Defines `mod shared` (glob re-exported) with the admin writes for one
/// sqlx database type: `create`, `set_password`, `set_enabled`, `remove`.
macro_rules! admin_writes {
    ($db:ty) => {
        pub(super) use self::shared::*;

        mod shared {
            use keygate_core::model::{Admin, AdminId};

            use super::super::{rows, tx};
            use crate::store::now_secs;
            use crate::{Error, Result};

            type Pool = sqlx::Pool<$db>;

            /// Inserts an enabled admin; a taken username is a conflict.
            pub(in super::super) async fn create(
                pool: &Pool,
                username: &str,
                password_hash: &str,
            ) -> Result<Admin> {
                let mut tx = tx::begin_write(pool).await?;
                let row = sqlx::query(
                    "INSERT INTO admins (username, username_key, password_hash, enabled, created_at) \
                     VALUES ($1, $2, $3, TRUE, $4) RETURNING id, username, enabled, created_at",
                )
                .bind(username)
                .bind(keygate_core::validate::name_key(username))
                .bind(password_hash)
                .bind(now_secs())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    Error::from_db(e, || format!("an admin named {username:?} already exists"))
                })?;
                let admin = rows::admin(&row)?;
                tx.commit().await?;
                Ok(admin)
            }

            /// Replaces the password hash.
            pub(in super::super) async fn set_password(
                pool: &Pool,
                id: AdminId,
                password_hash: &str,
            ) -> Result<bool> {
                tx::write_one(
                    pool,
                    sqlx::query("UPDATE admins SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(id.0),
                )
                .await
            }

            /// Enables or disables the admin.
            pub(in super::super) async fn set_enabled(
                pool: &Pool,
                id: AdminId,
                enabled: bool,
            ) -> Result<bool> {
                tx::write_one(
                    pool,
                    sqlx::query("UPDATE admins SET enabled = $1 WHERE id = $2")
                        .bind(enabled)
                        .bind(id.0),
                )
                .await
            }

            /// Deletes the admin; its credentials go with it (ON DELETE CASCADE).
            pub(in super::super) async fn remove(pool: &Pool, id: AdminId) -> Result<bool> {
                tx::write_one(
                    pool,
                    sqlx::query("DELETE FROM admins WHERE id = $1").bind(id.0),
                )
                .await
            }
        }
    };
}

/// Defines `mod shared` (glob re-exported) with the role writes for one
/// sqlx database type: `insert` (inside a transaction), `create`, `update`,
/// `delete`. `$lock_role` is the clause that locks the patched role's row
/// (`" FOR UPDATE"`, or `""` where the write lock covers the database).
macro_rules! role_writes {
    ($db:ty, $lock_role:literal) => {
        pub(super) use self::shared::*;

        mod shared {
            use keygate_core::model::{Role, RoleId};

            use super::super::rows;
            use super::super::tx::{self, Tx};
            use super::{insert_actions, revoke_actions};
            use crate::store::{now_secs, RoleDraft, RolePatch};
            use crate::{Error, Result};

            type Pool = sqlx::Pool<$db>;

            /// The conflict message for a taken role name.
            fn conflict(name: &str) -> String {
                format!("a role named {name:?} already exists")
            }

            /// Inserts a role with its actions inside `tx`.
            pub(in super::super) async fn insert(tx: &mut Tx, draft: &RoleDraft) -> Result<RoleId> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO roles (name, name_key, description, created_at, \
                     sort_key, description_key) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&draft.name)
                .bind(draft.name.to_lowercase())
                .bind(&draft.description)
                .bind(now_secs())
                .bind(keygate_core::listing::sort_key(&draft.name))
                .bind(keygate_core::listing::search_key(&draft.description))
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| Error::from_db(e, || conflict(&draft.name)))?;
                insert_actions(tx, RoleId(id), &draft.actions).await?;
                Ok(RoleId(id))
            }

            /// Inserts a role; a taken name (in any case) is a conflict.
            pub(in super::super) async fn create(pool: &Pool, draft: &RoleDraft) -> Result<Role> {
                let mut tx = tx::begin_write(pool).await?;
                let id = insert(&mut tx, draft).await?;
                let role = rows::load_role(&mut tx, id).await?;
                tx.commit().await?;
                role.ok_or_else(|| Error::NotFound("role vanished".into()))
            }

            /// Applies the patch to the role, writers serialized by
            /// [`tx::begin_write`] (so it reads and changes the role's
            /// current state with nobody between); `None` if it is gone.
            pub(in super::super) async fn update(
                pool: &Pool,
                id: RoleId,
                patch: &RolePatch,
            ) -> Result<Option<Role>> {
                let mut tx = tx::begin_write(pool).await?;
                let exists: Option<i64> =
                    sqlx::query_scalar(concat!("SELECT id FROM roles WHERE id = $1", $lock_role))
                        .bind(id.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Ok(None);
                }
                if let Some(name) = &patch.name {
                    sqlx::query(
                        "UPDATE roles SET name = $1, name_key = $2, sort_key = $3 WHERE id = $4",
                    )
                    .bind(name)
                    .bind(name.to_lowercase())
                    .bind(keygate_core::listing::sort_key(name))
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::from_db(e, || conflict(name)))?;
                }
                if let Some(description) = &patch.description {
                    sqlx::query(
                        "UPDATE roles SET description = $1, description_key = $2 WHERE id = $3",
                    )
                    .bind(description)
                    .bind(keygate_core::listing::search_key(description))
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                }
                patch_actions(&mut tx, id, patch).await?;
                let role = rows::load_role(&mut tx, id).await?;
                tx.commit().await?;
                Ok(role)
            }

            /// Replaces, then adds, then removes actions, as [`RolePatch`]
            /// specifies.
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
                    revoke_actions(tx, id, &patch.revoke).await?;
                }
                Ok(())
            }

            /// Deletes the role; credentials lose it (ON DELETE CASCADE).
            pub(in super::super) async fn delete(pool: &Pool, id: RoleId) -> Result<bool> {
                tx::write_one(
                    pool,
                    sqlx::query("DELETE FROM roles WHERE id = $1").bind(id.0),
                )
                .await
            }
        }
    };
}

/// Defines `mod shared` (glob re-exported) with the credential writes for
/// one sqlx database type: `create`, `update`, `rotate`, `delete`.
macro_rules! credential_writes {
    ($db:ty) => {
        pub(super) use self::shared::*;

        mod shared {
            use keygate_core::model::{Credential, CredentialId, RoleId};
            use keygate_core::SecretHashes;

            use super::super::roles;
            use super::super::rows::{self, CredentialFilter};
            use super::super::tx::{self, Tx};
            use super::set_roles;
            use crate::columns;
            use crate::store::{now_secs, CredentialPatch, NewCredential, RoleAssignment};
            use crate::{Error, Result};

            type Pool = sqlx::Pool<$db>;

            /// The role ids an assignment names, creating the "existing or
            /// new" role when it is missing (safe: writers are serialized).
            async fn resolve_roles(
                tx: &mut Tx,
                assignment: &RoleAssignment,
            ) -> Result<Vec<RoleId>> {
                match assignment {
                    RoleAssignment::Roles(ids) => Ok(ids.clone()),
                    RoleAssignment::ExistingOrNew(draft) => {
                        match rows::role_id(tx, &draft.name).await? {
                            Some(id) => Ok(vec![id]),
                            None => Ok(vec![roles::insert(tx, draft).await?]),
                        }
                    }
                }
            }

            /// Inserts the credential row; a missing admin is NotFound, a
            /// taken identifier a conflict.
            async fn insert(tx: &mut Tx, credential: &NewCredential) -> Result<CredentialId> {
                let lifecycle = &credential.lifecycle;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO credentials \
                     (identifier, secret_sha256, secret_md5_sha256, admin_id, description, \
                      created_at, enabled, expires_at, allow_ips, rate_limit, client_ids, \
                      sort_key, description_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     RETURNING id",
                )
                .bind(&credential.identifier)
                .bind(&credential.hashes.direct()[..])
                .bind(&credential.hashes.md5()[..])
                .bind(credential.admin_id.0)
                .bind(&credential.description)
                .bind(now_secs())
                .bind(lifecycle.enabled)
                .bind(lifecycle.expires_at)
                .bind(columns::allow_ips_text(&lifecycle.allow_ips))
                .bind(columns::rate_text(lifecycle.rate_limit))
                .bind(columns::client_ids_text(&lifecycle.client_ids))
                .bind(keygate_core::listing::sort_key(&credential.description))
                .bind(keygate_core::listing::search_key(&credential.description))
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        Error::NotFound("the admin no longer exists".into())
                    }
                    _ => Error::from_db(e, || {
                        format!(
                            "a credential with identifier {:?} already exists",
                            credential.identifier
                        )
                    }),
                })?;
                Ok(CredentialId(id))
            }

            /// The credential as it now is in `tx`, which is committed.
            async fn reload(mut tx: Tx, id: CredentialId) -> Result<Option<Credential>> {
                let loaded = rows::load_credentials(&mut tx, CredentialFilter::Id(id)).await?;
                tx.commit().await?;
                Ok(loaded.into_iter().next())
            }

            /// Inserts a credential with its roles, all or nothing.
            pub(in super::super) async fn create(
                pool: &Pool,
                credential: &NewCredential,
                assignment: &RoleAssignment,
            ) -> Result<Credential> {
                let mut tx = tx::begin_write(pool).await?;
                let role_ids = resolve_roles(&mut tx, assignment).await?;
                let id = insert(&mut tx, credential).await?;
                set_roles(&mut tx, id, &role_ids).await?;
                reload(tx, id)
                    .await?
                    .ok_or_else(|| Error::NotFound("credential vanished".into()))
            }

            /// Applies the patch in one transaction; `None` if gone.
            pub(in super::super) async fn update(
                pool: &Pool,
                id: CredentialId,
                patch: &CredentialPatch,
            ) -> Result<Option<Credential>> {
                let mut tx = tx::begin_write(pool).await?;
                // One statement sets whichever fields the patch names (and
                // tells whether the credential still exists).
                let found = sqlx::query(
                    "UPDATE credentials SET \
                     description = CASE WHEN $1 THEN CAST($2 AS TEXT) ELSE description END, \
                     enabled = CASE WHEN $3 THEN CAST($4 AS BOOLEAN) ELSE enabled END, \
                     expires_at = CASE WHEN $5 THEN CAST($6 AS BIGINT) ELSE expires_at END, \
                     allow_ips = CASE WHEN $7 THEN CAST($8 AS TEXT) ELSE allow_ips END, \
                     rate_limit = CASE WHEN $9 THEN CAST($10 AS TEXT) ELSE rate_limit END, \
                     client_ids = CASE WHEN $11 THEN CAST($12 AS TEXT) ELSE client_ids END, \
                     sort_key = CASE WHEN $1 THEN CAST($14 AS TEXT) ELSE sort_key END, \
                     description_key = \
                       CASE WHEN $1 THEN CAST($15 AS TEXT) ELSE description_key END \
                     WHERE id = $13",
                )
                .bind(patch.description.is_some())
                .bind(patch.description.as_deref())
                .bind(patch.enabled.is_some())
                .bind(patch.enabled)
                .bind(patch.expires_at.is_some())
                .bind(patch.expires_at.flatten())
                .bind(patch.allow_ips.is_some())
                .bind(patch.allow_ips.as_deref().map(columns::allow_ips_text))
                .bind(patch.rate_limit.is_some())
                .bind(patch.rate_limit.and_then(columns::rate_text))
                .bind(patch.client_ids.is_some())
                .bind(patch.client_ids.as_deref().map(columns::client_ids_text))
                .bind(id.0)
                .bind(patch.description.as_deref().map(keygate_core::listing::sort_key))
                .bind(patch.description.as_deref().map(keygate_core::listing::search_key))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !found {
                    return Ok(None);
                }
                if let Some(roles) = &patch.roles {
                    set_roles(&mut tx, id, roles).await?;
                }
                reload(tx, id).await
            }

            /// Replaces the secret, keeping the current one as the old
            /// secret until `old_until` (or clearing any old secret); `None`
            /// if gone.
            pub(in super::super) async fn rotate(
                pool: &Pool,
                id: CredentialId,
                new_hashes: &SecretHashes,
                old_until: Option<i64>,
            ) -> Result<Option<Credential>> {
                let mut tx = tx::begin_write(pool).await?;
                // Right-hand sides read the row as it was: the current hashes
                // move to the old ones (or the old ones are cleared) as the
                // new ones arrive.
                let found = sqlx::query(
                    "UPDATE credentials SET \
                     old_secret_sha256 = \
                       CASE WHEN CAST($1 AS BIGINT) IS NULL THEN NULL ELSE secret_sha256 END, \
                     old_secret_md5_sha256 = \
                       CASE WHEN CAST($1 AS BIGINT) IS NULL THEN NULL ELSE secret_md5_sha256 END, \
                     old_secret_until = CAST($1 AS BIGINT), \
                     secret_sha256 = $2, secret_md5_sha256 = $3 \
                     WHERE id = $4",
                )
                .bind(old_until)
                .bind(&new_hashes.direct()[..])
                .bind(&new_hashes.md5()[..])
                .bind(id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !found {
                    return Ok(None);
                }
                reload(tx, id).await
            }

            /// Deletes the credential.
            pub(in super::super) async fn delete(pool: &Pool, id: CredentialId) -> Result<bool> {
                tx::write_one(
                    pool,
                    sqlx::query("DELETE FROM credentials WHERE id = $1").bind(id.0),
                )
                .await
            }
        }
    };
}

pub(crate) use {admin_writes, credential_writes, role_writes};
