//! PostgreSQL backend: for several gateway instances behind a load balancer
//! sharing one database. Writers are serialized on the revision row and
//! notify `keygate_changes` at commit (see [`tx`]); servers LISTEN through a
//! lazily started [`feed`] and keep polling the revision as a fallback.

mod admins;
mod audit;
mod backup;
mod changes;
mod credentials;
mod feed;
mod lists;
mod roles;
mod rows;
mod sessions;
mod tokens;
mod tx;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use keygate_core::audit::{AuditEvent, NewAuditEvent};
use keygate_core::model::{Admin, AdminId, Credential, CredentialId, Role, RoleId};
use keygate_core::model::{ApiToken, TokenId};
use keygate_core::token::TokenHash;
use keygate_core::usage::UsageBucket;
use keygate_core::{Catalog, SecretHashes, SnapshotBuilder, SnapshotDelta, SnapshotSource};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::backup::Backup;
use crate::list_sql::{CredentialPage, CredentialQuery, RolePage, RoleQuery};
use crate::store::{
    AuditPage, AuditQuery, CredentialPatch, NewCredential, RoleAssignment, RoleDraft, RolePatch,
    Store, UsageCount,
};
use crate::{Error, Result};
use rows::CredentialFilter;

pub use tx::CHANNEL;

/// Migrations compiled into the binary and applied on open (sqlx takes an
/// advisory lock, so instances starting together migrate once).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long an operation waits for a connection before the database counts
/// as unreachable: short, so servers notice an outage quickly and
/// management writes fail fast instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A keygate database on a PostgreSQL server.
pub struct PostgresStore {
    pool: PgPool,
    /// `host:port/database`, for messages (never the password).
    label: String,
    feed: OnceLock<feed::Feed>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.label)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` and migrates it.
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Unavailable(format!("invalid database URL: {e}")))?
            .application_name("keygate");
        let label = label(&options);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Unavailable(m) => Error::Unavailable(format!("PostgreSQL at {label}: {m}")),
                other => {
                    Error::Unavailable(format!("cannot connect to PostgreSQL at {label}: {other}"))
                }
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            Error::Unavailable(format!("cannot migrate PostgreSQL database {label}: {e}"))
        })?;
        lists::fill_keys(&pool).await.map_err(|e| {
            Error::Unavailable(format!("cannot fill list keys in PostgreSQL {label}: {e}"))
        })?;
        Ok(Self {
            pool,
            label,
            feed: OnceLock::new(),
        })
    }

    /// Names the server in "unavailable" errors, so an operator reading
    /// `error: …` knows which database to look at.
    fn explain<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| match e {
            Error::Unavailable(m) => {
                Error::Unavailable(format!("PostgreSQL at {}: {m}", self.label))
            }
            other => other,
        })
    }
}

fn label(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_admin(&self, username: &str, password_hash: &str) -> Result<Admin> {
        self.explain(admins::create(&self.pool, username, password_hash).await)
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        self.explain(async { rows::list_admins(&mut *self.pool.acquire().await?).await }.await)
    }

    async fn find_admin(&self, username: &str) -> Result<Option<(Admin, String)>> {
        self.explain(
            async { rows::find_admin(&mut *self.pool.acquire().await?, username).await }.await,
        )
    }

    async fn set_admin_password(&self, id: AdminId, password_hash: &str) -> Result<bool> {
        self.explain(admins::set_password(&self.pool, id, password_hash).await)
    }

    async fn set_admin_enabled(&self, id: AdminId, enabled: bool) -> Result<bool> {
        self.explain(admins::set_enabled(&self.pool, id, enabled).await)
    }

    async fn remove_admin(&self, id: AdminId) -> Result<bool> {
        self.explain(admins::remove(&self.pool, id).await)
    }

    async fn create_role(&self, draft: &RoleDraft) -> Result<Role> {
        self.explain(roles::create(&self.pool, draft).await)
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        self.explain(async { rows::load_roles(&mut *self.pool.acquire().await?, None).await }.await)
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        self.explain(async { rows::find_role(&mut *self.pool.acquire().await?, name).await }.await)
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>> {
        self.explain(async { rows::load_role(&mut *self.pool.acquire().await?, id).await }.await)
    }

    async fn update_role(&self, id: RoleId, patch: &RolePatch) -> Result<Option<Role>> {
        self.explain(roles::update(&self.pool, id, patch).await)
    }

    async fn delete_role(&self, id: RoleId) -> Result<bool> {
        self.explain(roles::delete(&self.pool, id).await)
    }

    async fn credentials_per_admin(&self) -> Result<HashMap<AdminId, usize>> {
        self.explain(
            async { rows::credentials_per_admin(&mut *self.pool.acquire().await?).await }.await,
        )
    }

    async fn stranded_holders(&self, role: RoleId, allowing: &[RoleId]) -> Result<u64> {
        self.explain(
            async {
                rows::stranded_holders(&mut *self.pool.acquire().await?, role, allowing).await
            }
            .await,
        )
    }

    async fn role_usage(&self) -> Result<HashMap<RoleId, usize>> {
        self.explain(async { rows::role_usage(&mut *self.pool.acquire().await?).await }.await)
    }

    async fn roles_page(&self, query: &RoleQuery) -> Result<RolePage> {
        self.explain(lists::roles_page(&self.pool, query).await)
    }

    async fn credentials_page(&self, query: &CredentialQuery) -> Result<CredentialPage> {
        self.explain(lists::credentials_page(&self.pool, query).await)
    }

    async fn credential_position(
        &self,
        query: &CredentialQuery,
        identifier: &str,
    ) -> Result<Option<u64>> {
        self.explain(lists::credential_position(&self.pool, query, identifier).await)
    }

    async fn create_credential(
        &self,
        credential: &NewCredential,
        roles: &RoleAssignment,
    ) -> Result<Credential> {
        self.explain(credentials::create(&self.pool, credential, roles).await)
    }

    async fn list_credentials(&self, admin: Option<AdminId>) -> Result<Vec<Credential>> {
        let filter = admin.map_or(CredentialFilter::All, CredentialFilter::Admin);
        self.explain(
            async { rows::load_credentials(&mut *self.pool.acquire().await?, filter).await }.await,
        )
    }

    async fn find_credential(&self, identifier: &str) -> Result<Option<Credential>> {
        let filter = CredentialFilter::Identifier(identifier);
        let found =
            async { rows::load_credentials(&mut *self.pool.acquire().await?, filter).await }.await;
        self.explain(found.map(|c| c.into_iter().next()))
    }

    async fn get_credential(&self, id: CredentialId) -> Result<Option<Credential>> {
        let filter = CredentialFilter::Id(id);
        let found =
            async { rows::load_credentials(&mut *self.pool.acquire().await?, filter).await }.await;
        self.explain(found.map(|c| c.into_iter().next()))
    }

    async fn role_holders(&self, id: RoleId) -> Result<Vec<Credential>> {
        let filter = CredentialFilter::Role(id);
        self.explain(
            async { rows::load_credentials(&mut *self.pool.acquire().await?, filter).await }.await,
        )
    }

    async fn update_credential(
        &self,
        id: CredentialId,
        patch: &CredentialPatch,
    ) -> Result<Option<Credential>> {
        self.explain(credentials::update(&self.pool, id, patch).await)
    }

    async fn rotate_credential(
        &self,
        id: CredentialId,
        new_hashes: &SecretHashes,
        old_until: Option<i64>,
    ) -> Result<Option<Credential>> {
        self.explain(credentials::rotate(&self.pool, id, new_hashes, old_until).await)
    }

    async fn delete_credential(&self, id: CredentialId) -> Result<bool> {
        self.explain(credentials::delete(&self.pool, id).await)
    }

    async fn record_access(&self, accesses: &[(String, i64)]) -> Result<()> {
        self.explain(credentials::record_access(&self.pool, accesses).await)
    }

    async fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent> {
        self.explain(audit::append(&self.pool, event).await)
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<AuditPage> {
        self.explain(audit::list(&self.pool, query).await)
    }

    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        self.explain(audit::chain(&self.pool, after_id, limit).await)
    }

    async fn audit_head(&self) -> Result<(i64, String)> {
        self.explain(audit::head(&self.pool).await)
    }

    async fn record_usage(&self, counts: &[UsageCount]) -> Result<()> {
        self.explain(audit::record_usage(&self.pool, counts).await)
    }

    async fn usage(&self, credential: CredentialId, since: i64) -> Result<Vec<UsageBucket>> {
        self.explain(audit::usage(&self.pool, credential, since).await)
    }

    async fn prune_usage(&self, before: i64) -> Result<u64> {
        self.explain(audit::prune_usage(&self.pool, before).await)
    }

    async fn create_token(
        &self,
        admin: AdminId,
        hash: &TokenHash,
        prefix: &str,
        description: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiToken> {
        self.explain(tokens::create(&self.pool, admin, hash, prefix, description, expires_at).await)
    }

    async fn list_tokens(&self, admin: Option<AdminId>) -> Result<Vec<ApiToken>> {
        self.explain(tokens::list(&self.pool, admin).await)
    }

    async fn delete_token(&self, id: TokenId) -> Result<Option<ApiToken>> {
        self.explain(tokens::delete(&self.pool, id).await)
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiToken, bool)>> {
        self.explain(tokens::by_hash(&self.pool, hash).await)
    }

    async fn touch_token(&self, id: TokenId, at: i64) -> Result<()> {
        self.explain(tokens::touch(&self.pool, id, at).await)
    }

    async fn revision(&self) -> Result<i64> {
        self.explain(async { rows::revision(&mut *self.pool.acquire().await?).await }.await)
    }

    async fn snapshot_source(&self) -> Result<SnapshotSource> {
        self.explain(snapshot_source(&self.pool).await)
    }

    async fn snapshot_builder(&self, catalog: Arc<Catalog>) -> Result<SnapshotBuilder> {
        self.explain(snapshot_builder(&self.pool, catalog).await)
    }

    async fn snapshot_delta(&self, since: i64, limit: usize) -> Result<Option<SnapshotDelta>> {
        self.explain(snapshot_delta(&self.pool, since, limit).await)
    }

    async fn prune_changes(&self, before: i64) -> Result<u64> {
        self.explain(changes::prune(&self.pool, before).await)
    }

    async fn export_backup(&self) -> Result<Backup> {
        self.explain(backup::export(&self.pool).await)
    }

    async fn import_backup(&self, backup: &Backup) -> Result<()> {
        self.explain(backup::import(&self.pool, backup).await)
    }

    fn change_feed(&self) -> Option<tokio::sync::watch::Receiver<()>> {
        // Outside a runtime there is nothing to run the listener on: poll.
        tokio::runtime::Handle::try_current().ok()?;
        let feed = self
            .feed
            .get_or_init(|| feed::Feed::start(self.pool.clone(), self.label.clone()));
        Some(feed.subscribe())
    }
}

/// One consistent read: a repeatable-read snapshot of the whole database.
async fn snapshot_source(pool: &PgPool) -> Result<SnapshotSource> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let source = rows::snapshot_source(&mut tx).await?;
    tx.commit().await?;
    Ok(source)
}

/// Everything a snapshot needs, streamed into a builder from one
/// repeatable-read transaction.
async fn snapshot_builder(pool: &PgPool, catalog: Arc<Catalog>) -> Result<SnapshotBuilder> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let mut builder = rows::snapshot_builder_start(&mut tx, catalog).await?;
    stream_credentials(&mut tx, &mut builder).await?;
    tx.commit().await?;
    Ok(builder)
}

/// Every credential streamed into `builder` row by row: never all held as
/// rows or entries at once, which at a million would take several times
/// the snapshot's memory.
async fn stream_credentials(
    conn: &mut sqlx::PgConnection,
    builder: &mut SnapshotBuilder,
) -> Result<()> {
    use futures::TryStreamExt;
    use sqlx::Row;

    let now = crate::store::now_secs();
    let sql = format!("{} ORDER BY id", rows::CREDENTIAL_ENTRIES);
    let mut rows = sqlx::query(&sql).fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let role_ids = crate::columns::role_id_list(row.try_get("role_ids")?)?;
        builder.push(&rows::credential_entry(&row, role_ids, now)?);
    }
    Ok(())
}

/// What changed after `since`, from one repeatable-read snapshot: the
/// revision, the log and the rows it names are one state.
async fn snapshot_delta(pool: &PgPool, since: i64, limit: usize) -> Result<Option<SnapshotDelta>> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let delta = changes::delta(&mut tx, since, limit).await?;
    tx.commit().await?;
    Ok(delta)
}
