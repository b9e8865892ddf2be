//! Credential writes and reads, and batched last-access times.

use keygate_core::model::{Credential, CredentialId, RoleId};
use keygate_core::SecretHashes;
use sqlx::PgPool;

use super::roles;
use super::rows::{self, CredentialFilter};
use super::tx::{self, Tx};
use crate::columns;
use crate::store::{now_secs, CredentialPatch, NewCredential, RoleAssignment};
use crate::{Error, Result};

/// The role ids an assignment names, creating the "existing or new" role
/// when it is missing (safe: writers are serialized).
async fn resolve_roles(tx: &mut Tx, assignment: &RoleAssignment) -> Result<Vec<RoleId>> {
    match assignment {
        RoleAssignment::Roles(ids) => Ok(ids.clone()),
        RoleAssignment::ExistingOrNew(draft) => match roles::id_by_name(tx, &draft.name).await? {
            Some(id) => Ok(vec![id]),
            None => Ok(vec![roles::insert(tx, draft).await?]),
        },
    }
}

/// Replaces the credential's roles; a role deleted meanwhile is NotFound.
async fn set_roles(tx: &mut Tx, credential: CredentialId, roles: &[RoleId]) -> Result<()> {
    let ids: Vec<i64> = roles.iter().map(|r| r.0).collect();
    let missing: Option<i64> = sqlx::query_scalar(
        "SELECT r FROM unnest($1::bigint[]) AS r WHERE NOT EXISTS (SELECT 1 FROM roles WHERE id = r) \
         LIMIT 1",
    )
    .bind(&ids)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = missing {
        return Err(Error::NotFound(format!("role {id} no longer exists")));
    }
    sqlx::query("DELETE FROM credential_roles WHERE credential_id = $1")
        .bind(credential.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO credential_roles (credential_id, role_id) SELECT $1, unnest($2::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(credential.0)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert(tx: &mut Tx, credential: &NewCredential) -> Result<CredentialId> {
    let lifecycle = &credential.lifecycle;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credentials \
         (identifier, secret_sha256, secret_md5_sha256, admin_id, description, created_at, \
          enabled, expires_at, allow_ips, rate_limit, client_ids) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
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

/// Inserts a credential with its roles, all or nothing.
pub(super) async fn create(
    pool: &PgPool,
    credential: &NewCredential,
    assignment: &RoleAssignment,
) -> Result<Credential> {
    let mut tx = tx::begin_write(pool).await?;
    let role_ids = resolve_roles(&mut tx, assignment).await?;
    let id = insert(&mut tx, credential).await?;
    set_roles(&mut tx, id, &role_ids).await?;
    let created = rows::load_credentials(&mut tx, CredentialFilter::Id(id)).await?;
    tx.commit().await?;
    created
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound("credential vanished".into()))
}

/// The credentials `filter` selects.
pub(super) async fn load(pool: &PgPool, filter: CredentialFilter<'_>) -> Result<Vec<Credential>> {
    let mut conn = pool.acquire().await?;
    rows::load_credentials(&mut conn, filter).await
}

/// Applies the patch in one transaction; `None` if gone.
pub(super) async fn update(
    pool: &PgPool,
    id: CredentialId,
    patch: &CredentialPatch,
) -> Result<Option<Credential>> {
    let mut tx = tx::begin_write(pool).await?;
    // One statement sets whichever fields the patch names (and tells
    // whether the credential still exists; its row lock is held from here).
    let found = sqlx::query(
        "UPDATE credentials SET \
         description = CASE WHEN $1 THEN $2::text ELSE description END, \
         enabled = CASE WHEN $3 THEN $4::boolean ELSE enabled END, \
         expires_at = CASE WHEN $5 THEN $6::bigint ELSE expires_at END, \
         allow_ips = CASE WHEN $7 THEN $8::text ELSE allow_ips END, \
         rate_limit = CASE WHEN $9 THEN $10::text ELSE rate_limit END, \
         client_ids = CASE WHEN $11 THEN $12::text ELSE client_ids END \
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
    let updated = rows::load_credentials(&mut tx, CredentialFilter::Id(id)).await?;
    tx.commit().await?;
    Ok(updated.into_iter().next())
}

/// Replaces the secret, keeping the current one as the old secret until
/// `old_until` (or clearing any old secret); `None` if gone.
pub(super) async fn rotate(
    pool: &PgPool,
    id: CredentialId,
    new_hashes: &SecretHashes,
    old_until: Option<i64>,
) -> Result<Option<Credential>> {
    let mut tx = tx::begin_write(pool).await?;
    // Right-hand sides read the row as it was: the current hashes move to
    // the old ones (or the old ones are cleared) as the new ones arrive.
    let found = sqlx::query(
        "UPDATE credentials SET \
         old_secret_sha256 = CASE WHEN $1::bigint IS NULL THEN NULL ELSE secret_sha256 END, \
         old_secret_md5_sha256 = CASE WHEN $1::bigint IS NULL THEN NULL ELSE secret_md5_sha256 END, \
         old_secret_until = $1::bigint, secret_sha256 = $2, secret_md5_sha256 = $3 \
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
    let rotated = rows::load_credentials(&mut tx, CredentialFilter::Id(id)).await?;
    tx.commit().await?;
    Ok(rotated.into_iter().next())
}

/// Deletes the credential.
pub(super) async fn delete(pool: &PgPool, id: CredentialId) -> Result<bool> {
    tx::write_one(
        pool,
        sqlx::query("DELETE FROM credentials WHERE id = $1").bind(id.0),
    )
    .await
}

/// One statement for the whole batch; a time never moves backwards.
pub(super) async fn record_access(pool: &PgPool, accesses: &[(String, i64)]) -> Result<()> {
    if accesses.is_empty() {
        return Ok(());
    }
    let (identifiers, times): (Vec<&str>, Vec<i64>) =
        accesses.iter().map(|(i, t)| (i.as_str(), *t)).unzip();
    let mut tx = tx::begin_quiet(pool).await?;
    sqlx::query(
        "UPDATE credentials c SET last_access = a.at \
         FROM (SELECT identifier, max(at) AS at FROM unnest($1::text[], $2::bigint[]) \
               AS u(identifier, at) GROUP BY identifier) a \
         WHERE c.identifier = a.identifier AND (c.last_access IS NULL OR c.last_access < a.at)",
    )
    .bind(&identifiers)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
