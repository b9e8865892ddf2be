//! Export and import of a whole database (see [`crate::backup`]): read in
//! one repeatable-read snapshot, written in one write transaction (which
//! bumps the revision and notifies other instances at commit) that refuses
//! a database holding anything.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::tx::{self, Tx};
use crate::backup::columns::{
    duplicate, ensure_empty, unknown, CredentialValues, StoredCredential, COUNT_SQL,
};
use crate::backup::{Backup, BackupAdmin, BackupCredential, BackupRole};
use crate::columns::LifecycleColumns;
use crate::store::now_secs;
use crate::{Error, Result};

/// Everything in the database, in the backup's order, from one snapshot.
pub(super) async fn export(pool: &PgPool) -> Result<Backup> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let now = now_secs();
    let mut backup = Backup::new(now);
    backup.admins = sqlx::query("SELECT username, enabled, password_hash, created_at FROM admins")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(admin)
        .collect::<Result<_>>()?;
    backup.roles = roles(&mut tx).await?;
    backup.credentials = credentials(&mut tx, now).await?;
    tx.commit().await?;
    backup.sort();
    Ok(backup)
}

fn admin(row: &PgRow) -> Result<BackupAdmin> {
    Ok(BackupAdmin {
        username: row.try_get("username")?,
        enabled: row.try_get("enabled")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn roles(conn: &mut PgConnection) -> Result<Vec<BackupRole>> {
    let mut actions: HashMap<i64, Vec<String>> = HashMap::new();
    for row in sqlx::query("SELECT role_id, action FROM role_actions")
        .fetch_all(&mut *conn)
        .await?
    {
        actions
            .entry(row.try_get("role_id")?)
            .or_default()
            .push(row.try_get("action")?);
    }
    sqlx::query("SELECT id, name, description, created_at FROM roles")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            Ok(BackupRole {
                actions: actions.remove(&row.try_get("id")?).unwrap_or_default(),
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

async fn credentials(conn: &mut PgConnection, now: i64) -> Result<Vec<BackupCredential>> {
    let mut roles: HashMap<i64, Vec<String>> = HashMap::new();
    for row in sqlx::query(
        "SELECT cr.credential_id, r.name FROM credential_roles cr JOIN roles r ON r.id = cr.role_id",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        roles
            .entry(row.try_get("credential_id")?)
            .or_default()
            .push(row.try_get("name")?);
    }
    sqlx::query(
        "SELECT c.id, c.identifier, a.username, c.description, c.secret_sha256, \
         c.secret_md5_sha256, c.old_secret_sha256, c.old_secret_md5_sha256, c.old_secret_until, \
         c.enabled, c.expires_at, c.allow_ips, c.rate_limit, c.client_ids, c.created_at, \
         c.last_access FROM credentials c JOIN admins a ON a.id = c.admin_id",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| {
        let held = roles.remove(&row.try_get("id")?).unwrap_or_default();
        stored_credential(row)?.into_backup(held, now)
    })
    .collect()
}

fn stored_credential(row: &PgRow) -> Result<StoredCredential> {
    Ok(StoredCredential {
        identifier: row.try_get("identifier")?,
        admin: row.try_get("username")?,
        description: row.try_get("description")?,
        secret_sha256: row.try_get("secret_sha256")?,
        secret_md5_sha256: row.try_get("secret_md5_sha256")?,
        old_secret_sha256: row.try_get("old_secret_sha256")?,
        old_secret_md5_sha256: row.try_get("old_secret_md5_sha256")?,
        old_secret_until: row.try_get("old_secret_until")?,
        lifecycle: LifecycleColumns {
            enabled: row.try_get("enabled")?,
            expires_at: row.try_get("expires_at")?,
            allow_ips: row.try_get("allow_ips")?,
            rate_limit: row.try_get("rate_limit")?,
            client_ids: row.try_get("client_ids")?,
        },
        created_at: row.try_get("created_at")?,
        last_access: row.try_get("last_access")?,
    })
}

/// Writes `backup` into the empty database, all or nothing.
pub(super) async fn import(pool: &PgPool, backup: &Backup) -> Result<()> {
    let mut tx = tx::begin_write(pool).await?;
    let counts = sqlx::query(COUNT_SQL).fetch_one(&mut *tx).await?;
    ensure_empty(
        counts.try_get("admins")?,
        counts.try_get("roles")?,
        counts.try_get("credentials")?,
    )?;
    let admins = insert_admins(&mut tx, &backup.admins).await?;
    let roles = insert_roles(&mut tx, &backup.roles).await?;
    for credential in &backup.credentials {
        insert_credential(&mut tx, credential, &admins, &roles).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Inserts the admins; their ids by username.
async fn insert_admins(tx: &mut Tx, admins: &[BackupAdmin]) -> Result<HashMap<String, i64>> {
    let mut ids = HashMap::with_capacity(admins.len());
    for admin in admins {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO admins (username, password_hash, enabled, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&admin.username)
        .bind(&admin.password_hash)
        .bind(admin.enabled)
        .bind(admin.created_at)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| Error::from_db(e, || duplicate("admin", &admin.username)))?;
        ids.insert(admin.username.clone(), id);
    }
    Ok(ids)
}

/// Inserts the roles and their actions; their ids by lowercase name.
async fn insert_roles(tx: &mut Tx, roles: &[BackupRole]) -> Result<HashMap<String, i64>> {
    let mut ids = HashMap::with_capacity(roles.len());
    for role in roles {
        let key = role.name.to_lowercase();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO roles (name, name_key, description, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&role.name)
        .bind(&key)
        .bind(&role.description)
        .bind(role.created_at)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| Error::from_db(e, || duplicate("role", &role.name)))?;
        sqlx::query(
            "INSERT INTO role_actions (role_id, action) SELECT $1, unnest($2::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&role.actions)
        .execute(&mut **tx)
        .await?;
        ids.insert(key, id);
    }
    Ok(ids)
}

/// Inserts one credential with every column, and its roles.
async fn insert_credential(
    tx: &mut Tx,
    credential: &BackupCredential,
    admins: &HashMap<String, i64>,
    roles: &HashMap<String, i64>,
) -> Result<()> {
    let values = CredentialValues::of(credential)?;
    let admin = *admins
        .get(&credential.admin)
        .ok_or_else(|| unknown(credential, "admin", &credential.admin))?;
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credentials (identifier, secret_sha256, secret_md5_sha256, admin_id, \
         description, created_at, last_access, enabled, expires_at, allow_ips, rate_limit, \
         client_ids, old_secret_sha256, old_secret_md5_sha256, old_secret_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(&credential.identifier)
    .bind(&values.hashes.direct()[..])
    .bind(&values.hashes.md5()[..])
    .bind(admin)
    .bind(&credential.description)
    .bind(credential.created_at)
    .bind(credential.last_access)
    .bind(credential.enabled)
    .bind(credential.expires_at)
    .bind(&values.allow_ips)
    .bind(&values.rate_limit)
    .bind(&values.client_ids)
    .bind(values.old_direct())
    .bind(values.old_md5())
    .bind(values.old_until())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| Error::from_db(e, || duplicate("credential", &credential.identifier)))?;
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
