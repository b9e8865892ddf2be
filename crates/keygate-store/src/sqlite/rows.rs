//! Reading rows into domain records. Multi-query reads take one connection
//! so callers can run them inside their transaction.

use std::collections::HashMap;

use keygate_core::model::{Admin, AdminId, Credential, CredentialId, Role, RoleId, RoleRef};
use keygate_core::snapshot::{AdminEntry, CredentialEntry, RoleEntry};
use keygate_core::SnapshotSource;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::columns::{self, LifecycleColumns};
use crate::store::now_secs;
use crate::Result;

/// The lifecycle columns of a credential row.
fn lifecycle_columns(row: &SqliteRow) -> Result<LifecycleColumns> {
    Ok(LifecycleColumns {
        enabled: row.try_get("enabled")?,
        expires_at: row.try_get("expires_at")?,
        allow_ips: row.try_get("allow_ips")?,
        rate_limit: row.try_get("rate_limit")?,
        client_ids: row.try_get("client_ids")?,
    })
}

pub(super) fn admin(row: &SqliteRow) -> Result<Admin> {
    Ok(Admin {
        id: AdminId(row.try_get("id")?),
        username: row.try_get("username")?,
        enabled: row.try_get("enabled")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn role_actions(
    conn: &mut SqliteConnection,
    only: Option<RoleId>,
) -> Result<HashMap<i64, Vec<String>>> {
    let rows = sqlx::query(
        "SELECT role_id, action FROM role_actions WHERE (?1 IS NULL OR role_id = ?1) ORDER BY action",
    )
    .bind(only.map(|r| r.0))
    .fetch_all(&mut *conn)
    .await?;
    let mut actions: HashMap<i64, Vec<String>> = HashMap::new();
    for row in rows {
        actions
            .entry(row.try_get("role_id")?)
            .or_default()
            .push(row.try_get("action")?);
    }
    Ok(actions)
}

/// Roles by name, or just the one with id `only`.
pub(super) async fn load_roles(
    conn: &mut SqliteConnection,
    only: Option<RoleId>,
) -> Result<Vec<Role>> {
    let rows = sqlx::query(
        "SELECT id, name, description, created_at FROM roles WHERE (?1 IS NULL OR id = ?1) ORDER BY name_key",
    )
    .bind(only.map(|r| r.0))
    .fetch_all(&mut *conn)
    .await?;
    let mut actions = role_actions(conn, only).await?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            Ok(Role {
                id: RoleId(id),
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                actions: actions.remove(&id).unwrap_or_default(),
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// The role with this id.
pub(super) async fn load_role(conn: &mut SqliteConnection, id: RoleId) -> Result<Option<Role>> {
    Ok(load_roles(conn, Some(id)).await?.into_iter().next())
}

/// Which credentials to load.
pub(super) enum CredentialFilter<'a> {
    All,
    Admin(AdminId),
    Id(CredentialId),
    Identifier(&'a str),
}

/// Credentials with their admin's name and their roles, oldest first.
pub(super) async fn load_credentials(
    conn: &mut SqliteConnection,
    filter: CredentialFilter<'_>,
) -> Result<Vec<Credential>> {
    let (admin, id, identifier) = match filter {
        CredentialFilter::All => (None, None, None),
        CredentialFilter::Admin(a) => (Some(a.0), None, None),
        CredentialFilter::Id(c) => (None, Some(c.0), None),
        CredentialFilter::Identifier(i) => (None, None, Some(i)),
    };
    let rows = sqlx::query(
        "SELECT c.id, c.identifier, c.admin_id, a.username, c.description, c.created_at, c.last_access, \
         c.enabled, c.expires_at, c.allow_ips, c.rate_limit, c.client_ids, c.old_secret_until \
         FROM credentials c JOIN admins a ON a.id = c.admin_id \
         WHERE (?1 IS NULL OR c.admin_id = ?1) AND (?2 IS NULL OR c.id = ?2) \
         AND (?3 IS NULL OR c.identifier = ?3) ORDER BY c.id",
    )
    .bind(admin)
    .bind(id)
    .bind(identifier)
    .fetch_all(&mut *conn)
    .await?;
    let now = now_secs();
    let mut credentials = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let identifier: String = row.try_get("identifier")?;
        credentials.push(Credential {
            id: CredentialId(id),
            lifecycle: lifecycle_columns(row)?.parse(&identifier)?,
            identifier,
            admin_id: AdminId(row.try_get("admin_id")?),
            admin: row.try_get("username")?,
            description: row.try_get("description")?,
            roles: Vec::new(),
            created_at: row.try_get("created_at")?,
            last_access: row.try_get("last_access")?,
            old_secret_valid_until: columns::pending_until(row.try_get("old_secret_until")?, now),
        });
    }
    if credentials.is_empty() {
        return Ok(credentials);
    }
    // The links of the credentials loaded, not of all: generating one
    // credential must not read every other one's roles.
    let links = sqlx::query(
        "SELECT cr.credential_id, r.id, r.name FROM credential_roles cr \
         JOIN roles r ON r.id = cr.role_id JOIN credentials c ON c.id = cr.credential_id \
         WHERE (?1 IS NULL OR c.admin_id = ?1) AND (?2 IS NULL OR c.id = ?2) \
         AND (?3 IS NULL OR c.identifier = ?3) ORDER BY r.name_key",
    )
    .bind(admin)
    .bind(id)
    .bind(identifier)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_credential: HashMap<i64, Vec<RoleRef>> = HashMap::new();
    for link in links {
        by_credential
            .entry(link.try_get("credential_id")?)
            .or_default()
            .push(RoleRef {
                id: RoleId(link.try_get("id")?),
                name: link.try_get("name")?,
            });
    }
    for credential in &mut credentials {
        credential.roles = by_credential.remove(&credential.id.0).unwrap_or_default();
    }
    Ok(credentials)
}

/// Everything a snapshot needs, read on one connection (in a transaction).
pub(super) async fn snapshot_source(conn: &mut SqliteConnection) -> Result<SnapshotSource> {
    let revision: i64 = sqlx::query_scalar("SELECT value FROM revision WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let admins = sqlx::query("SELECT id, username, enabled FROM admins")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(AdminEntry {
                id: AdminId(r.try_get("id")?),
                username: r.try_get("username")?,
                enabled: r.try_get("enabled")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let roles = load_roles(conn, None)
        .await?
        .into_iter()
        .map(|r| RoleEntry {
            id: r.id,
            name: r.name,
            actions: r.actions,
        })
        .collect();
    let mut links: HashMap<i64, Vec<RoleId>> = HashMap::new();
    for row in sqlx::query("SELECT credential_id, role_id FROM credential_roles")
        .fetch_all(&mut *conn)
        .await?
    {
        links
            .entry(row.try_get("credential_id")?)
            .or_default()
            .push(RoleId(row.try_get("role_id")?));
    }
    let rows = sqlx::query(
        "SELECT id, identifier, secret_sha256, secret_md5_sha256, admin_id, \
         enabled, expires_at, allow_ips, rate_limit, client_ids, \
         old_secret_sha256, old_secret_md5_sha256, old_secret_until FROM credentials",
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = now_secs();
    let mut credentials = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let identifier: String = row.try_get("identifier")?;
        let direct: Vec<u8> = row.try_get("secret_sha256")?;
        let md5: Vec<u8> = row.try_get("secret_md5_sha256")?;
        credentials.push(CredentialEntry {
            hashes: columns::hashes(&identifier, &direct, &md5)?,
            admin_id: AdminId(row.try_get("admin_id")?),
            role_ids: links.remove(&id).unwrap_or_default(),
            lifecycle: lifecycle_columns(&row)?.parse(&identifier)?,
            old_secret: columns::old_secret(
                &identifier,
                row.try_get("old_secret_sha256")?,
                row.try_get("old_secret_md5_sha256")?,
                row.try_get("old_secret_until")?,
                now,
            )?,
            identifier,
        });
    }
    Ok(SnapshotSource {
        revision,
        admins,
        roles,
        credentials,
    })
}
