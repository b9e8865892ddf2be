//! keygate's storage: one [`Store`] trait with a backend module (and
//! `migrations/`) per database, and the [`Manager`] that applies keygate's
//! rules on top of it for the CLI and the web UI alike.

mod audit_sql;
pub mod backup;
mod changes_sql;
mod columns;
mod error;
mod list_sql;
mod manager;
pub mod postgres;
mod rows_sql;
mod sessions_sql;
pub mod sqlite;
mod store;
mod tokens_sql;
mod writes_sql;

use std::sync::Arc;

pub use backup::{Backup, BackupCounts};
pub use error::{Error, Result};
pub use list_sql::{
    CredentialPage, CredentialQuery, CredentialSort, CredentialState, RolePage, RoleQuery, MAX_PAGE,
};
pub use manager::sessions::{
    LiveSession, NewSecret, SecretKind, SECRET_TTL, SESSION_IDLE, SESSION_LIFETIME,
};
pub use manager::{
    AuditVerification, ChangeHook, CredentialEdit, CredentialUsage, Manager, RoleEdit, RoleInput,
    Tightened, TokenRefusal, MAX_ALLOW_IPS, MAX_CLIENT_IDS,
};
pub use store::{
    now_secs, AuditPage, AuditQuery, CredentialPatch, NewCredential, RoleAssignment, RoleDraft,
    RolePatch, SessionStore, Store, StoredSession, UsageCount,
};

/// Default database when none is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keygate.db";

/// Opens the database a URL names: `sqlite:` (the default, created if
/// missing) or `postgres://`. Migrations are applied.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::open(url).await?))
    } else {
        Err(Error::Unavailable(format!(
            "unsupported database URL {url:?}: use sqlite://FILE or postgres://…"
        )))
    }
}
