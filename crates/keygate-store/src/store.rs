//! The storage trait every backend implements, and the inputs it takes.
//! Backends do plain persistence in transactions and bump the revision on
//! every change; rules and validation live in [`crate::Manager`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use keygate_core::audit::{AuditEvent, NewAuditEvent};
use keygate_core::model::{
    Admin, AdminId, ClientId, Credential, CredentialId, Lifecycle, Role, RoleId,
};
use keygate_core::model::{ApiToken, TokenId};
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_core::token::TokenHash;
use keygate_core::usage::{UsageBucket, UsageOutcome};
use keygate_core::{Catalog, SecretHashes, SnapshotBuilder, SnapshotDelta, SnapshotSource};

use crate::backup::Backup;
use crate::list_sql::{CredentialPage, CredentialQuery, RolePage, RoleQuery};
use crate::{Error, Result};

/// A new role, or the full new state of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDraft {
    /// Display name (validated, trimmed).
    pub name: String,
    /// Free text (validated, trimmed).
    pub description: String,
    /// Canonical action names.
    pub actions: Vec<String>,
}

/// Changes to a role, applied atomically so concurrent edits never lose one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolePatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Replace the whole action set (applied before `allow` and `revoke`).
    pub set_actions: Option<Vec<String>>,
    /// Actions to add.
    pub allow: Vec<String>,
    /// Actions to remove.
    pub revoke: Vec<String>,
}

/// A new credential: only the secret's hashes are ever stored.
#[derive(Clone, Debug)]
pub struct NewCredential {
    /// Public identifier.
    pub identifier: String,
    /// Hashes of the secret.
    pub hashes: SecretHashes,
    /// Owning admin.
    pub admin_id: AdminId,
    /// Free text.
    pub description: String,
    /// Enabled state, expiry, allowlist, rate limit and client scope.
    pub lifecycle: Lifecycle,
}

/// Changes to a credential, applied in one transaction; `None` leaves a
/// field as it is. For the optional fields `Some(None)` clears them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialPatch {
    /// New description (validated, trimmed).
    pub description: Option<String>,
    /// Replace the roles with these.
    pub roles: Option<Vec<RoleId>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Set (`Some(Some(at))`, unix seconds) or clear (`Some(None)`) the expiry.
    pub expires_at: Option<Option<i64>>,
    /// Replace the allowlist (empty: any address).
    pub allow_ips: Option<Vec<IpNet>>,
    /// Set or clear (back to the configured default) the rate limit.
    pub rate_limit: Option<Option<Rate>>,
    /// Replace the client scope (empty: not scoped); ascending, without
    /// duplicates.
    pub client_ids: Option<Vec<ClientId>>,
}

/// Which roles a new credential gets.
#[derive(Clone, Debug)]
pub enum RoleAssignment {
    /// These existing roles.
    Roles(Vec<RoleId>),
    /// The role with this draft's name (case-insensitively) if one exists,
    /// as it is; otherwise a new role made from the draft. Used by import.
    ExistingOrNew(RoleDraft),
}

/// Which audit events to list: newest first, each filter optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Events at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Events by this actor (`alice`, `cli:root`), ignoring case.
    pub actor: Option<String>,
    /// Events about this target: a credential identifier, a role id or an
    /// admin username, or a role's name or credential's description
    /// (ignoring case).
    pub target: Option<String>,
    /// Events to skip (paging).
    pub offset: u64,
    /// Events to return at most.
    pub limit: u32,
}

/// One page of audit events and how many the query selects in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// The events, newest first.
    pub events: Vec<AuditEvent>,
    /// How many events match, on every page.
    pub total: u64,
}

/// Calls counted in memory, to add to a credential's hourly bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageCount {
    /// The credential's identifier.
    pub identifier: String,
    /// Start of the hour (unix seconds).
    pub hour: i64,
    /// The action as called.
    pub action: String,
    /// How the calls ended.
    pub outcome: UsageOutcome,
    /// How many.
    pub count: u64,
}

/// Persistence for admins, roles and credentials. Every write runs in one
/// transaction and bumps [`Store::revision`]; `Ok(None)` means not found.
#[async_trait]
pub trait Store: SessionStore + Send + Sync + 'static {
    /// Inserts an admin, enabled.
    async fn create_admin(&self, username: &str, password_hash: &str) -> Result<Admin>;
    /// All admins by username.
    async fn list_admins(&self) -> Result<Vec<Admin>>;
    /// The admin and its password hash.
    async fn find_admin(&self, username: &str) -> Result<Option<(Admin, String)>>;
    /// Replaces the password hash; credentials are untouched.
    async fn set_admin_password(&self, id: AdminId, password_hash: &str) -> Result<bool>;
    /// Enables or disables the admin.
    async fn set_admin_enabled(&self, id: AdminId, enabled: bool) -> Result<bool>;
    /// Deletes the admin and its credentials.
    async fn remove_admin(&self, id: AdminId) -> Result<bool>;

    /// Inserts a role.
    async fn create_role(&self, draft: &RoleDraft) -> Result<Role>;
    /// All roles by name.
    async fn list_roles(&self) -> Result<Vec<Role>>;
    /// The role named `name`, case-insensitively.
    async fn find_role(&self, name: &str) -> Result<Option<Role>>;
    /// The role with this id.
    async fn get_role(&self, id: RoleId) -> Result<Option<Role>>;
    /// Applies `patch` in one transaction; `Ok(None)` if the role is gone.
    async fn update_role(&self, id: RoleId, patch: &RolePatch) -> Result<Option<Role>>;
    /// Deletes the role and unassigns it from every credential.
    async fn delete_role(&self, id: RoleId) -> Result<bool>;
    /// How many credentials hold each role, in one query; a role no
    /// credential holds is left out.
    async fn role_usage(&self) -> Result<HashMap<RoleId, usize>>;
    /// How many holders of role `role` hold none of the roles `allowing`
    /// besides it (those a deletion of `role` would leave with no allowed
    /// action, when `allowing` are the roles allowing any), in one query.
    async fn stranded_holders(&self, role: RoleId, allowing: &[RoleId]) -> Result<u64>;
    /// How many credentials each admin owns, in one query; an admin
    /// without credentials is left out.
    async fn credentials_per_admin(&self) -> Result<HashMap<AdminId, usize>>;
    /// One page of the roles `query` selects, in natural order of their
    /// names, and how many it selects in all (see [`crate::list_sql`]).
    async fn roles_page(&self, query: &RoleQuery) -> Result<RolePage>;
    /// One page of the credentials `query` selects, with their roles, and
    /// how many it selects in all.
    async fn credentials_page(&self, query: &CredentialQuery) -> Result<CredentialPage>;
    /// Where the credential `identifier` stands (from 0) among those
    /// `query` selects, in its order; `None` when it is not among them.
    async fn credential_position(
        &self,
        query: &CredentialQuery,
        identifier: &str,
    ) -> Result<Option<u64>>;

    /// Inserts a credential with its roles.
    async fn create_credential(
        &self,
        credential: &NewCredential,
        roles: &RoleAssignment,
    ) -> Result<Credential>;
    /// All credentials, or one admin's, by creation.
    async fn list_credentials(&self, admin: Option<AdminId>) -> Result<Vec<Credential>>;
    /// The credential with this identifier.
    async fn find_credential(&self, identifier: &str) -> Result<Option<Credential>>;
    /// The credential with this id.
    async fn get_credential(&self, id: CredentialId) -> Result<Option<Credential>>;
    /// The credentials holding role `id`, by creation.
    async fn role_holders(&self, id: RoleId) -> Result<Vec<Credential>>;
    /// Applies `patch` in one transaction; `Ok(None)` if the credential
    /// is gone.
    async fn update_credential(
        &self,
        id: CredentialId,
        patch: &CredentialPatch,
    ) -> Result<Option<Credential>>;
    /// Replaces the secret in one transaction: with `old_until` (unix
    /// seconds) the current secret becomes the old one, valid until then
    /// (replacing any earlier old secret); without it any old secret is
    /// cleared. `Ok(None)` if the credential is gone.
    async fn rotate_credential(
        &self,
        id: CredentialId,
        new_hashes: &SecretHashes,
        old_until: Option<i64>,
    ) -> Result<Option<Credential>>;
    /// Deletes the credential.
    async fn delete_credential(&self, id: CredentialId) -> Result<bool>;
    /// Records last-access times (unix seconds) in one batch; does not bump
    /// the revision, since snapshots do not hold access times.
    async fn record_access(&self, accesses: &[(String, i64)]) -> Result<()>;

    /// Appends an event to the audit trail after the chain's head, under
    /// the writers' lock so the chain stays linear with several writers.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent>;
    /// The audit events `query` selects, newest first, and their count.
    async fn audit_events(&self, query: &AuditQuery) -> Result<AuditPage>;
    /// Up to `limit` audit events after id `after_id`, ascending by id.
    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    /// The audit chain's recorded head: the last event's id and hash.
    async fn audit_head(&self) -> Result<(i64, String)>;

    /// Adds counted calls to the hourly usage buckets in one batch (counts
    /// of deleted credentials are dropped); does not bump the revision.
    async fn record_usage(&self, counts: &[UsageCount]) -> Result<()>;
    /// The credential's usage buckets from the hour holding `since` (unix
    /// seconds) on, ascending by hour.
    async fn usage(&self, credential: CredentialId, since: i64) -> Result<Vec<UsageBucket>>;
    /// Deletes usage buckets of hours before `before`; returns how many.
    async fn prune_usage(&self, before: i64) -> Result<u64>;

    /// Stores a new admin API token's hash for `admin` (a missing admin
    /// is `NotFound`); does not bump the revision.
    async fn create_token(
        &self,
        admin: AdminId,
        hash: &TokenHash,
        prefix: &str,
        description: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiToken>;
    /// Every admin API token, or one admin's, by id.
    async fn list_tokens(&self, admin: Option<AdminId>) -> Result<Vec<ApiToken>>;
    /// Deletes the token; what it was, or `None` if there was none.
    async fn delete_token(&self, id: TokenId) -> Result<Option<ApiToken>>;
    /// The token with this hash, and whether its admin is enabled.
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiToken, bool)>>;
    /// Records that the token was used at `at` (written at most once a
    /// minute per token).
    async fn touch_token(&self, id: TokenId, at: i64) -> Result<()>;

    /// The change counter: differs after any change, from any process.
    async fn revision(&self) -> Result<i64>;
    /// Everything a snapshot needs, read in one transaction. An old secret
    /// whose end has passed is left out.
    async fn snapshot_source(&self) -> Result<SnapshotSource>;

    /// Everything a snapshot needs, read in one transaction and streamed
    /// into a builder, for a full build (at start, on resync): unlike
    /// [`Store::snapshot_source`] it never holds every credential's row.
    async fn snapshot_builder(&self, catalog: Arc<Catalog>) -> Result<SnapshotBuilder> {
        let source = self.snapshot_source().await?;
        let mut builder =
            SnapshotBuilder::new(source.revision, &source.admins, &source.roles, catalog);
        for credential in &source.credentials {
            builder.push(credential);
        }
        Ok(builder)
    }

    /// What changed after revision `since`, read in one transaction from
    /// the change log (migration 0009: triggers on every table a snapshot
    /// reads): the touched admins, roles and credentials as they are now.
    /// `Ok(None)` when a full [`Store::snapshot_source`] is needed instead:
    /// the log no longer reaches back to `since` (pruned), or more than
    /// `limit` rows changed (a rebuild is cheaper).
    async fn snapshot_delta(&self, since: i64, limit: usize) -> Result<Option<SnapshotDelta>> {
        let _ = (since, limit);
        Ok(None)
    }

    /// Deletes change-log entries written before `before` (unix seconds);
    /// a snapshot older than what is left is then rebuilt in full.
    /// Returns how many were deleted.
    async fn prune_changes(&self, before: i64) -> Result<u64> {
        let _ = before;
        Ok(0)
    }

    /// Everything stored, for a backup (see [`crate::backup`]), read in one
    /// transaction and sorted; an old secret whose end has passed is left
    /// out. Secrets appear only as their hashes.
    async fn export_backup(&self) -> Result<Backup> {
        Err(Error::Unavailable(
            "this database backend cannot export backups".into(),
        ))
    }

    /// Writes `backup` (checked by [`crate::Manager::import_backup`]) into
    /// this database in one transaction that bumps the revision; a database
    /// holding any admin, role or credential is refused with
    /// [`Error::Conflict`] and nothing is written.
    async fn import_backup(&self, backup: &Backup) -> Result<()> {
        let _ = backup;
        Err(Error::Unavailable(
            "this database backend cannot import backups".into(),
        ))
    }

    /// A push feed of changes made by other processes (PostgreSQL's
    /// LISTEN/NOTIFY): it ticks when the data may have changed. `None` for
    /// backends without push, which are polled through [`Store::revision`].
    fn change_feed(&self) -> Option<tokio::sync::watch::Receiver<()>> {
        None
    }
}

/// An admin UI session as stored, with its admin's current name and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// The logged-in admin.
    pub admin_id: AdminId,
    /// The admin's username.
    pub username: String,
    /// Whether the admin is enabled.
    pub enabled: bool,
    /// Login time (unix seconds).
    pub created_at: i64,
    /// Last request seen, written at most once a minute (unix seconds).
    pub last_seen_at: i64,
}

/// Admin UI sessions, shared by every instance on the database (see
/// `crate::sessions_sql`). A session is named by the SHA-256 of its token
/// (`hash`), never by the token; none of these writes bumps the revision.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session of `admin` made at `at`.
    async fn create_session(&self, hash: &[u8], admin: AdminId, at: i64) -> Result<()>;
    /// The session with this hash.
    async fn session(&self, hash: &[u8]) -> Result<Option<StoredSession>>;
    /// Records a request at `at`, at most once a minute per session.
    async fn touch_session(&self, hash: &[u8], at: i64) -> Result<()>;
    /// Ends the session; whether there was one.
    async fn delete_session(&self, hash: &[u8]) -> Result<bool>;
    /// Ends every session of `admin`; how many.
    async fn delete_admin_sessions(&self, admin: AdminId) -> Result<u64>;
    /// Deletes sessions idle since before `idle_before` or made before
    /// `created_before`, and secrets waiting since before `secrets_before`;
    /// how many sessions.
    async fn prune_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
        secrets_before: i64,
    ) -> Result<u64>;
    /// Sets the one-time notice for the session's next page.
    async fn set_session_flash(&self, hash: &[u8], flash: &str) -> Result<()>;
    /// Takes the notice: whoever gets it, gets it alone.
    async fn take_session_flash(&self, hash: &[u8]) -> Result<Option<String>>;
    /// Keeps a sealed new secret, put there at `at`, for the session.
    async fn set_session_secret(&self, hash: &[u8], sealed: &[u8], at: i64) -> Result<()>;
    /// Takes the sealed secret and when it was put there: once only.
    async fn take_session_secret(&self, hash: &[u8]) -> Result<Option<(Vec<u8>, i64)>>;
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
