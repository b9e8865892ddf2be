//! The backup's SQL, written once in the dialect both backends accept
//! (`$N` placeholders work in sqlx-sqlite too) and stamped out per backend
//! by [`backup_sql!`], since sqlx's row, connection and transaction types
//! differ between them.

/// Defines `mod shared` for one backend's row, connection, transaction and
/// pool types: `import`, `read_all` (everything, in the backup's order),
/// `insert_admins`, `insert_role` and `insert_credential_row`. The backend
/// supplies `insert_roles` and `link_roles` (PostgreSQL binds arrays,
/// SQLite loops).
macro_rules! backup_sql {
    ($row:ty, $conn:ty, $tx:ty, $pool:ty) => {
        mod shared {
            use std::collections::HashMap;

            use sqlx::Row;

            use crate::backup::columns::{
                duplicate, ensure_empty, unknown, CredentialValues, StoredCredential, COUNT_SQL,
            };
            use super::super::tx;
            use crate::backup::{Backup, BackupAdmin, BackupCredential, BackupRole};
            use crate::columns::LifecycleColumns;
            use crate::store::now_secs;
            use crate::{Error, Result};

            /// Writes `backup` into the empty database, all or nothing: the
            /// emptiness check, every row and the revision bump in one write
            /// transaction.
            pub(in super::super) async fn import(pool: &$pool, backup: &Backup) -> Result<()> {
                let mut tx = tx::begin_write(pool).await?;
                let counts = sqlx::query(COUNT_SQL).fetch_one(&mut *tx).await?;
                ensure_empty(
                    counts.try_get("admins")?,
                    counts.try_get("roles")?,
                    counts.try_get("credentials")?,
                )?;
                let admins = insert_admins(&mut tx, &backup.admins).await?;
                let roles = super::insert_roles(&mut tx, &backup.roles).await?;
                for credential in &backup.credentials {
                    let id = insert_credential_row(&mut tx, credential, &admins).await?;
                    super::link_roles(&mut tx, id, credential, &roles).await?;
                }
                super::super::audit::insert_all(&mut tx, &backup.audit).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Everything in the database read on `conn`, in the backup's order.
            pub(super) async fn read_all(conn: &mut $conn) -> Result<Backup> {
                let now = now_secs();
                let mut backup = Backup::new(now);
                backup.admins = sqlx::query(
                    "SELECT username, enabled, password_hash, created_at FROM admins",
                )
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(admin)
                .collect::<Result<_>>()?;
                backup.roles = roles(conn).await?;
                backup.credentials = credentials(conn, now).await?;
                backup.audit = super::super::audit::all_on(conn).await?;
                backup.sort();
                Ok(backup)
            }

            fn admin(row: &$row) -> Result<BackupAdmin> {
                Ok(BackupAdmin {
                    username: row.try_get("username")?,
                    enabled: row.try_get("enabled")?,
                    password_hash: row.try_get("password_hash")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            async fn roles(conn: &mut $conn) -> Result<Vec<BackupRole>> {
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

            async fn credentials(conn: &mut $conn, now: i64) -> Result<Vec<BackupCredential>> {
                let mut roles: HashMap<i64, Vec<String>> = HashMap::new();
                for row in sqlx::query(
                    "SELECT cr.credential_id, r.name FROM credential_roles cr \
                     JOIN roles r ON r.id = cr.role_id",
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
                     c.secret_md5_sha256, c.old_secret_sha256, c.old_secret_md5_sha256, \
                     c.old_secret_until, c.enabled, c.expires_at, c.allow_ips, c.rate_limit, \
                     c.client_ids, c.created_at, c.last_access \
                     FROM credentials c JOIN admins a ON a.id = c.admin_id",
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

            fn stored_credential(row: &$row) -> Result<StoredCredential> {
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

            /// Inserts the admins; their ids by username.
            pub(super) async fn insert_admins(
                tx: &mut $tx,
                admins: &[BackupAdmin],
            ) -> Result<HashMap<String, i64>> {
                let mut ids = HashMap::with_capacity(admins.len());
                let mut keys = std::collections::HashSet::with_capacity(admins.len());
                for (n, admin) in admins.iter().enumerate() {
                    // A backup of a database older than migration 0004 may
                    // hold names differing only in case: keep them all, the
                    // later ones under a key no username can take (see 0004).
                    let mut key = keygate_core::validate::name_key(&admin.username);
                    if !keys.insert(key.clone()) {
                        key = format!("{key}#{n}");
                    }
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO admins (username, username_key, password_hash, enabled, created_at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(&admin.username)
                    .bind(&key)
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

            /// Inserts one role without its actions; its id.
            pub(super) async fn insert_role(tx: &mut $tx, role: &BackupRole) -> Result<i64> {
                sqlx::query_scalar(
                    "INSERT INTO roles (name, name_key, description, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(&role.name)
                .bind(role.name.to_lowercase())
                .bind(&role.description)
                .bind(role.created_at)
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| Error::from_db(e, || duplicate("role", &role.name)))
            }

            /// Inserts one credential with every column but its roles; its id.
            pub(super) async fn insert_credential_row(
                tx: &mut $tx,
                credential: &BackupCredential,
                admins: &HashMap<String, i64>,
            ) -> Result<i64> {
                let values = CredentialValues::of(credential)?;
                let admin = *admins
                    .get(&credential.admin)
                    .ok_or_else(|| unknown(credential, "admin", &credential.admin))?;
                sqlx::query_scalar(
                    "INSERT INTO credentials (identifier, secret_sha256, secret_md5_sha256, \
                     admin_id, description, created_at, last_access, enabled, expires_at, \
                     allow_ips, rate_limit, client_ids, old_secret_sha256, \
                     old_secret_md5_sha256, old_secret_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     RETURNING id",
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
                .map_err(|e| Error::from_db(e, || duplicate("credential", &credential.identifier)))
            }
        }
    };
}

pub(crate) use backup_sql;
