//! SQLite backend: the embedded default. WAL journal so the CLI and a
//! running server share one file; `BEGIN IMMEDIATE` for writes so concurrent
//! writers queue on the busy timeout instead of failing.

mod backup;
mod rows;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use keygate_core::model::{Admin, AdminId, Credential, CredentialId, Role, RoleId};
use keygate_core::{SecretHashes, SnapshotSource};
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::backup::Backup;
use crate::columns;
use crate::store::{
    now_secs, CredentialPatch, NewCredential, RoleAssignment, RoleDraft, RolePatch, Store,
};
use crate::{Error, Result};

/// Migrations compiled into the binary and applied on open.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A keygate database in one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Unavailable(format!("invalid database URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open database {url}: {e}")))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot migrate database {url}: {e}")))?;
        Ok(Self { pool })
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Runs one statement as a whole write; whether it touched exactly one
    /// row (`false`: the admin, role or credential was already gone).
    async fn write_one<'q>(
        &self,
        statement: Query<'q, Sqlite, SqliteArguments<'q>>,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = statement.execute(&mut *tx).await?.rows_affected() == 1;
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(done)
    }
}

async fn bump(tx: &mut Transaction<'_, Sqlite>) -> Result<()> {
    sqlx::query("UPDATE revision SET value = value + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_actions(
    tx: &mut Transaction<'_, Sqlite>,
    role: RoleId,
    actions: &[String],
) -> Result<()> {
    for action in actions {
        sqlx::query("INSERT OR IGNORE INTO role_actions (role_id, action) VALUES (?, ?)")
            .bind(role.0)
            .bind(action)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert_role(tx: &mut Transaction<'_, Sqlite>, draft: &RoleDraft) -> Result<RoleId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO roles (name, name_key, description, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(&draft.name)
    .bind(draft.name.to_lowercase())
    .bind(&draft.description)
    .bind(now_secs())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| Error::from_db(e, || role_conflict(&draft.name)))?;
    insert_actions(tx, RoleId(id), &draft.actions).await?;
    Ok(RoleId(id))
}

fn role_conflict(name: &str) -> String {
    format!("a role named {name:?} already exists")
}

async fn set_credential_roles(
    tx: &mut Transaction<'_, Sqlite>,
    credential: CredentialId,
    roles: &[RoleId],
) -> Result<()> {
    sqlx::query("DELETE FROM credential_roles WHERE credential_id = ?")
        .bind(credential.0)
        .execute(&mut **tx)
        .await?;
    for role in roles {
        sqlx::query(
            "INSERT OR IGNORE INTO credential_roles (credential_id, role_id) VALUES (?, ?)",
        )
        .bind(credential.0)
        .bind(role.0)
        .execute(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Error::NotFound(format!("role {} no longer exists", role.0))
            }
            _ => Error::from(e),
        })?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_admin(&self, username: &str, password_hash: &str) -> Result<Admin> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO admins (username, password_hash, enabled, created_at) VALUES (?, ?, 1, ?) \
             RETURNING id, username, enabled, created_at",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now_secs())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_db(e, || format!("an admin named {username:?} already exists")))?;
        let admin = rows::admin(&row)?;
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(admin)
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        let rows =
            sqlx::query("SELECT id, username, enabled, created_at FROM admins ORDER BY username")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(rows::admin).collect()
    }

    async fn find_admin(&self, username: &str) -> Result<Option<(Admin, String)>> {
        let row = sqlx::query(
            "SELECT id, username, enabled, created_at, password_hash FROM admins WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((rows::admin(&r)?, sqlx::Row::try_get(&r, "password_hash")?)))
            .transpose()
    }

    async fn set_admin_password(&self, id: AdminId, password_hash: &str) -> Result<bool> {
        self.write_one(
            sqlx::query("UPDATE admins SET password_hash = ? WHERE id = ?")
                .bind(password_hash)
                .bind(id.0),
        )
        .await
    }

    async fn set_admin_enabled(&self, id: AdminId, enabled: bool) -> Result<bool> {
        self.write_one(
            sqlx::query("UPDATE admins SET enabled = ? WHERE id = ?")
                .bind(enabled)
                .bind(id.0),
        )
        .await
    }

    async fn remove_admin(&self, id: AdminId) -> Result<bool> {
        self.write_one(sqlx::query("DELETE FROM admins WHERE id = ?").bind(id.0))
            .await
    }

    async fn create_role(&self, draft: &RoleDraft) -> Result<Role> {
        let mut tx = self.write().await?;
        let id = insert_role(&mut tx, draft).await?;
        bump(&mut tx).await?;
        let role = rows::load_role(&mut tx, id).await?;
        tx.commit().await?;
        role.ok_or_else(|| Error::NotFound("role vanished".into()))
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        let mut conn = self.pool.acquire().await?;
        rows::load_roles(&mut conn, None).await
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM roles WHERE name_key = ?")
            .bind(name.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        match id {
            Some(id) => self.get_role(RoleId(id)).await,
            None => Ok(None),
        }
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>> {
        let mut conn = self.pool.acquire().await?;
        rows::load_role(&mut conn, id).await
    }

    async fn update_role(&self, id: RoleId, patch: &RolePatch) -> Result<Option<Role>> {
        let mut tx = self.write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM roles WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        if let Some(name) = &patch.name {
            sqlx::query("UPDATE roles SET name = ?, name_key = ? WHERE id = ?")
                .bind(name)
                .bind(name.to_lowercase())
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::from_db(e, || role_conflict(name)))?;
        }
        if let Some(description) = &patch.description {
            sqlx::query("UPDATE roles SET description = ? WHERE id = ?")
                .bind(description)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(actions) = &patch.set_actions {
            sqlx::query("DELETE FROM role_actions WHERE role_id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            insert_actions(&mut tx, id, actions).await?;
        }
        insert_actions(&mut tx, id, &patch.allow).await?;
        for action in &patch.revoke {
            sqlx::query("DELETE FROM role_actions WHERE role_id = ? AND action = ?")
                .bind(id.0)
                .bind(action)
                .execute(&mut *tx)
                .await?;
        }
        bump(&mut tx).await?;
        let role = rows::load_role(&mut tx, id).await?;
        tx.commit().await?;
        Ok(role)
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool> {
        self.write_one(sqlx::query("DELETE FROM roles WHERE id = ?").bind(id.0))
            .await
    }

    async fn create_credential(
        &self,
        credential: &NewCredential,
        roles: &RoleAssignment,
    ) -> Result<Credential> {
        let mut tx = self.write().await?;
        let role_ids = match roles {
            RoleAssignment::Roles(ids) => ids.clone(),
            RoleAssignment::ExistingOrNew(draft) => {
                let existing: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM roles WHERE name_key = ?")
                        .bind(draft.name.to_lowercase())
                        .fetch_optional(&mut *tx)
                        .await?;
                match existing {
                    Some(id) => vec![RoleId(id)],
                    None => vec![insert_role(&mut tx, draft).await?],
                }
            }
        };
        let lifecycle = &credential.lifecycle;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO credentials (identifier, secret_sha256, secret_md5_sha256, admin_id, description, created_at, \
             enabled, expires_at, allow_ips, rate_limit, client_ids) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Error::NotFound("the admin no longer exists".into())
            }
            _ => Error::from_db(e, || {
                format!("a credential with identifier {:?} already exists", credential.identifier)
            }),
        })?;
        set_credential_roles(&mut tx, CredentialId(id), &role_ids).await?;
        bump(&mut tx).await?;
        let created =
            rows::load_credentials(&mut tx, rows::CredentialFilter::Id(CredentialId(id))).await?;
        tx.commit().await?;
        created
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound("credential vanished".into()))
    }

    async fn list_credentials(&self, admin: Option<AdminId>) -> Result<Vec<Credential>> {
        let filter = admin.map_or(rows::CredentialFilter::All, rows::CredentialFilter::Admin);
        let mut conn = self.pool.acquire().await?;
        rows::load_credentials(&mut conn, filter).await
    }

    async fn find_credential(&self, identifier: &str) -> Result<Option<Credential>> {
        let mut conn = self.pool.acquire().await?;
        let found =
            rows::load_credentials(&mut conn, rows::CredentialFilter::Identifier(identifier))
                .await?;
        Ok(found.into_iter().next())
    }

    async fn update_credential(
        &self,
        id: CredentialId,
        patch: &CredentialPatch,
    ) -> Result<Option<Credential>> {
        let mut tx = self.write().await?;
        // One statement sets whichever fields the patch names (and tells
        // whether the credential still exists).
        let found = sqlx::query(
            "UPDATE credentials SET \
             description = CASE WHEN ?1 THEN ?2 ELSE description END, \
             enabled = CASE WHEN ?3 THEN ?4 ELSE enabled END, \
             expires_at = CASE WHEN ?5 THEN ?6 ELSE expires_at END, \
             allow_ips = CASE WHEN ?7 THEN ?8 ELSE allow_ips END, \
             rate_limit = CASE WHEN ?9 THEN ?10 ELSE rate_limit END, \
             client_ids = CASE WHEN ?11 THEN ?12 ELSE client_ids END \
             WHERE id = ?13",
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
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !found {
            return Ok(None);
        }
        if let Some(roles) = &patch.roles {
            set_credential_roles(&mut tx, id, roles).await?;
        }
        bump(&mut tx).await?;
        let updated = rows::load_credentials(&mut tx, rows::CredentialFilter::Id(id)).await?;
        tx.commit().await?;
        Ok(updated.into_iter().next())
    }

    async fn rotate_credential(
        &self,
        id: CredentialId,
        new_hashes: &SecretHashes,
        old_until: Option<i64>,
    ) -> Result<Option<Credential>> {
        let mut tx = self.write().await?;
        // Right-hand sides read the row as it was: the current hashes move
        // to the old ones (or the old ones are cleared) as the new arrive.
        let found = sqlx::query(
            "UPDATE credentials SET \
             old_secret_sha256 = CASE WHEN ?1 IS NULL THEN NULL ELSE secret_sha256 END, \
             old_secret_md5_sha256 = CASE WHEN ?1 IS NULL THEN NULL ELSE secret_md5_sha256 END, \
             old_secret_until = ?1, secret_sha256 = ?2, secret_md5_sha256 = ?3 \
             WHERE id = ?4",
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
        bump(&mut tx).await?;
        let rotated = rows::load_credentials(&mut tx, rows::CredentialFilter::Id(id)).await?;
        tx.commit().await?;
        Ok(rotated.into_iter().next())
    }

    async fn delete_credential(&self, id: CredentialId) -> Result<bool> {
        self.write_one(sqlx::query("DELETE FROM credentials WHERE id = ?").bind(id.0))
            .await
    }

    async fn record_access(&self, accesses: &[(String, i64)]) -> Result<()> {
        if accesses.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for (identifier, at) in accesses {
            sqlx::query(
                "UPDATE credentials SET last_access = ? WHERE identifier = ? \
                 AND (last_access IS NULL OR last_access < ?)",
            )
            .bind(at)
            .bind(identifier)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn revision(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT value FROM revision WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn snapshot_source(&self) -> Result<SnapshotSource> {
        // A deferred transaction gives one consistent WAL read snapshot.
        let mut tx = self.pool.begin().await?;
        let source = rows::snapshot_source(&mut tx).await?;
        tx.commit().await?;
        Ok(source)
    }

    async fn export_backup(&self) -> Result<Backup> {
        // One deferred transaction: one consistent WAL read snapshot.
        let mut tx = self.pool.begin().await?;
        let backup = backup::export(&mut tx).await?;
        tx.commit().await?;
        Ok(backup)
    }

    async fn import_backup(&self, backup: &Backup) -> Result<()> {
        let mut tx = self.write().await?;
        backup::import(&mut tx, backup).await?;
        tx.commit().await?;
        Ok(())
    }
}
