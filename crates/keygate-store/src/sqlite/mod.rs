//! SQLite backend: the embedded default. WAL journal so the CLI and a
//! running server share one file; `BEGIN IMMEDIATE` for writes so concurrent
//! writers queue on the busy timeout instead of failing (see `tx`). The
//! modules mirror the PostgreSQL backend's, and the portable SQL is the same
//! code on both (`crate::rows_sql`, `crate::writes_sql`).

mod admins;
mod audit;
mod backup;
mod bulk;
mod changes;
mod credentials;
mod lists;
mod roles;
mod rows;
mod sessions;
mod tokens;
mod tx;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keygate_core::audit::{AuditEvent, NewAuditEvent};
use keygate_core::model::{Admin, AdminId, Credential, CredentialId, Role, RoleId};
use keygate_core::model::{ApiToken, TokenId};
use keygate_core::token::TokenHash;
use keygate_core::usage::UsageBucket;
use keygate_core::{Catalog, SecretHashes, SnapshotBuilder, SnapshotDelta, SnapshotSource};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::backup::Backup;
use crate::list_sql::{CredentialPage, CredentialQuery, RolePage, RoleQuery};
use crate::store::{
    AuditPage, AuditQuery, CredentialPatch, NewCredential, RoleAssignment, RoleDraft, RolePatch,
    Store, UsageCount,
};
use crate::{Error, Result};
use rows::CredentialFilter;

/// Rows a query's worker thread may read ahead of the caller.
const ROW_BUFFER: usize = 4096;

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
            .busy_timeout(Duration::from_secs(10))
            // Rows reach the caller through a channel from the connection's
            // worker thread; the default of 50 wakes the reader almost per
            // row, which dominated a full snapshot read of a million.
            .row_buffer_size(ROW_BUFFER);
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
        lists::fill_keys(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_admin(&self, username: &str, password_hash: &str) -> Result<Admin> {
        admins::create(&self.pool, username, password_hash).await
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        rows::list_admins(&mut *self.pool.acquire().await?).await
    }

    async fn find_admin(&self, username: &str) -> Result<Option<(Admin, String)>> {
        rows::find_admin(&mut *self.pool.acquire().await?, username).await
    }

    async fn set_admin_password(&self, id: AdminId, password_hash: &str) -> Result<bool> {
        admins::set_password(&self.pool, id, password_hash).await
    }

    async fn set_admin_enabled(&self, id: AdminId, enabled: bool) -> Result<bool> {
        admins::set_enabled(&self.pool, id, enabled).await
    }

    async fn remove_admin(&self, id: AdminId) -> Result<bool> {
        admins::remove(&self.pool, id).await
    }

    async fn create_role(&self, draft: &RoleDraft) -> Result<Role> {
        roles::create(&self.pool, draft).await
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        rows::load_roles(&mut *self.pool.acquire().await?, None).await
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        rows::find_role(&mut *self.pool.acquire().await?, name).await
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>> {
        rows::load_role(&mut *self.pool.acquire().await?, id).await
    }

    async fn update_role(&self, id: RoleId, patch: &RolePatch) -> Result<Option<Role>> {
        roles::update(&self.pool, id, patch).await
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool> {
        roles::delete(&self.pool, id).await
    }

    async fn credentials_per_admin(&self) -> Result<HashMap<AdminId, usize>> {
        rows::credentials_per_admin(&mut *self.pool.acquire().await?).await
    }

    async fn stranded_holders(&self, role: RoleId, allowing: &[RoleId]) -> Result<u64> {
        rows::stranded_holders(&mut *self.pool.acquire().await?, role, allowing).await
    }

    async fn role_usage(&self) -> Result<HashMap<RoleId, usize>> {
        rows::role_usage(&mut *self.pool.acquire().await?).await
    }

    async fn roles_page(&self, query: &RoleQuery) -> Result<RolePage> {
        lists::roles_page(&self.pool, query).await
    }

    async fn credentials_page(&self, query: &CredentialQuery) -> Result<CredentialPage> {
        lists::credentials_page(&self.pool, query).await
    }

    async fn credential_position(
        &self,
        query: &CredentialQuery,
        identifier: &str,
    ) -> Result<Option<u64>> {
        lists::credential_position(&self.pool, query, identifier).await
    }

    async fn create_credential(
        &self,
        credential: &NewCredential,
        roles: &RoleAssignment,
    ) -> Result<Credential> {
        credentials::create(&self.pool, credential, roles).await
    }

    async fn list_credentials(&self, admin: Option<AdminId>) -> Result<Vec<Credential>> {
        let filter = admin.map_or(CredentialFilter::All, CredentialFilter::Admin);
        rows::load_credentials(&mut *self.pool.acquire().await?, filter).await
    }

    async fn find_credential(&self, identifier: &str) -> Result<Option<Credential>> {
        let filter = CredentialFilter::Identifier(identifier);
        let found = rows::load_credentials(&mut *self.pool.acquire().await?, filter).await?;
        Ok(found.into_iter().next())
    }

    async fn get_credential(&self, id: CredentialId) -> Result<Option<Credential>> {
        let filter = CredentialFilter::Id(id);
        let found = rows::load_credentials(&mut *self.pool.acquire().await?, filter).await?;
        Ok(found.into_iter().next())
    }

    async fn role_holders(&self, id: RoleId) -> Result<Vec<Credential>> {
        let filter = CredentialFilter::Role(id);
        rows::load_credentials(&mut *self.pool.acquire().await?, filter).await
    }

    async fn update_credential(
        &self,
        id: CredentialId,
        patch: &CredentialPatch,
    ) -> Result<Option<Credential>> {
        credentials::update(&self.pool, id, patch).await
    }

    async fn rotate_credential(
        &self,
        id: CredentialId,
        new_hashes: &SecretHashes,
        old_until: Option<i64>,
    ) -> Result<Option<Credential>> {
        credentials::rotate(&self.pool, id, new_hashes, old_until).await
    }

    async fn delete_credential(&self, id: CredentialId) -> Result<bool> {
        credentials::delete(&self.pool, id).await
    }

    async fn record_access(&self, accesses: &[(String, i64)]) -> Result<()> {
        credentials::record_access(&self.pool, accesses).await
    }

    async fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent> {
        audit::append(&self.pool, event).await
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<AuditPage> {
        audit::list(&self.pool, query).await
    }

    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        audit::chain(&self.pool, after_id, limit).await
    }

    async fn audit_head(&self) -> Result<(i64, String)> {
        audit::head(&self.pool).await
    }

    async fn record_usage(&self, counts: &[UsageCount]) -> Result<()> {
        audit::record_usage(&self.pool, counts).await
    }

    async fn usage(&self, credential: CredentialId, since: i64) -> Result<Vec<UsageBucket>> {
        audit::usage(&self.pool, credential, since).await
    }

    async fn prune_usage(&self, before: i64) -> Result<u64> {
        audit::prune_usage(&self.pool, before).await
    }

    async fn create_token(
        &self,
        admin: AdminId,
        hash: &TokenHash,
        prefix: &str,
        description: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiToken> {
        tokens::create(&self.pool, admin, hash, prefix, description, expires_at).await
    }

    async fn list_tokens(&self, admin: Option<AdminId>) -> Result<Vec<ApiToken>> {
        tokens::list(&self.pool, admin).await
    }

    async fn delete_token(&self, id: TokenId) -> Result<Option<ApiToken>> {
        tokens::delete(&self.pool, id).await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiToken, bool)>> {
        tokens::by_hash(&self.pool, hash).await
    }

    async fn touch_token(&self, id: TokenId, at: i64) -> Result<()> {
        tokens::touch(&self.pool, id, at).await
    }

    async fn revision(&self) -> Result<i64> {
        rows::revision(&mut *self.pool.acquire().await?).await
    }

    async fn snapshot_source(&self) -> Result<SnapshotSource> {
        // A deferred transaction gives one consistent WAL read snapshot.
        let mut tx = self.pool.begin().await?;
        let source = rows::snapshot_source(&mut tx).await?;
        tx.commit().await?;
        Ok(source)
    }

    async fn snapshot_builder(&self, catalog: Arc<Catalog>) -> Result<SnapshotBuilder> {
        // A deferred transaction gives one consistent WAL read snapshot.
        let mut tx = self.pool.begin().await?;
        let builder = rows::snapshot_builder_start(&mut tx, catalog).await?;
        let (tx, builder) = bulk::read_credentials(tx, builder).await?;
        tx.commit().await?;
        Ok(builder)
    }

    async fn snapshot_delta(&self, since: i64, limit: usize) -> Result<Option<SnapshotDelta>> {
        // One deferred transaction: the revision, the log and the rows are
        // read from one WAL snapshot.
        let mut tx = self.pool.begin().await?;
        let delta = changes::delta(&mut tx, since, limit).await?;
        tx.commit().await?;
        Ok(delta)
    }

    async fn prune_changes(&self, before: i64) -> Result<u64> {
        changes::prune(&self.pool, before).await
    }

    async fn export_backup(&self) -> Result<Backup> {
        // One deferred transaction: one consistent WAL read snapshot.
        let mut tx = self.pool.begin().await?;
        let backup = backup::export(&mut tx).await?;
        tx.commit().await?;
        Ok(backup)
    }

    async fn import_backup(&self, backup: &Backup) -> Result<()> {
        backup::import(&self.pool, backup).await
    }
}
