//! The immutable, in-memory picture of every credential that the hot path
//! reads: identifier -> secret hashes, owning admin's state, and the union of
//! the credential's roles as a bitset. Built in full from a
//! [`SnapshotSource`] at start, then brought up to date by applying each
//! [`SnapshotDelta`] (only what changed), and swapped in whole, so deciding
//! touches no database and takes no lock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::catalog::{ActionDef, ActionId, Catalog};
use crate::model::{AdminId, ClientId, Lifecycle, RoleId};
use crate::net::IpNet;
use crate::params::{CanonicalParams, Special};
use crate::rate::Rate;
use crate::secret::{PresentedSecret, SecretHashes, ShortHashes};

mod delta;
mod hot;
mod role_sets;
mod table;
use delta::Overlay;
use hot::Hot;
use role_sets::RoleSets;
use table::{Pending, Slot, SlotFields, Table};

/// An admin as the snapshot needs it.
#[derive(Clone, Debug)]
pub struct AdminEntry {
    /// Database id.
    pub id: AdminId,
    /// Login name, reported by `/v1/authorize`.
    pub username: String,
    /// Disabled admins' credentials are invalid.
    pub enabled: bool,
}

/// A role as the snapshot needs it.
#[derive(Clone, Debug)]
pub struct RoleEntry {
    /// Database id.
    pub id: RoleId,
    /// Current name, reported by `/v1/authorize`.
    pub name: String,
    /// Allowed action names; names the catalog no longer knows are ignored.
    pub actions: Vec<String>,
}

/// A credential as the snapshot needs it.
#[derive(Clone, Debug)]
pub struct CredentialEntry {
    /// Public identifier.
    pub identifier: String,
    /// Stored secret hashes.
    pub hashes: SecretHashes,
    /// Owning admin.
    pub admin_id: AdminId,
    /// Assigned roles.
    pub role_ids: Vec<RoleId>,
    /// Enabled state, expiry, allowlist and rate limit.
    pub lifecycle: Lifecycle,
    /// During a rotation: the previous secret's hashes and the unix second
    /// they stop working.
    pub old_secret: Option<(SecretHashes, i64)>,
}

/// Everything a snapshot is built from, read in one consistent transaction.
#[derive(Clone, Debug, Default)]
pub struct SnapshotSource {
    /// Store revision the data was read at.
    pub revision: i64,
    /// All admins.
    pub admins: Vec<AdminEntry>,
    /// All roles.
    pub roles: Vec<RoleEntry>,
    /// All credentials.
    pub credentials: Vec<CredentialEntry>,
}

/// What changed in the store after one revision, up to another: the new
/// state of every admin, role and credential a write touched in between,
/// and what was deleted. Applied with [`Snapshot::apply`], so a change costs
/// what it touched, not a rebuild of every credential.
#[derive(Clone, Debug, Default)]
pub struct SnapshotDelta {
    /// The revision the delta starts after (the snapshot's own).
    pub since: i64,
    /// The store revision the delta brings the snapshot to.
    pub revision: i64,
    /// Admins added or changed, as they are now.
    pub admins: Vec<AdminEntry>,
    /// Admins deleted.
    pub removed_admins: Vec<AdminId>,
    /// Roles added or changed, as they are now (actions included).
    pub roles: Vec<RoleEntry>,
    /// Roles deleted.
    pub removed_roles: Vec<RoleId>,
    /// Credentials added or changed, as they are now.
    pub credentials: Vec<CredentialEntry>,
    /// Identifiers of credentials deleted.
    pub removed_credentials: Vec<String>,
}

impl SnapshotDelta {
    /// How many admins, roles and credentials it names.
    pub fn len(&self) -> usize {
        self.admins.len()
            + self.removed_admins.len()
            + self.roles.len()
            + self.removed_roles.len()
            + self.credentials.len()
            + self.removed_credentials.len()
    }

    /// Whether it changes nothing but the revision.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug)]
struct AdminView {
    username: Box<str>,
    enabled: bool,
}

/// What a call asks for: a credential and an action, read from the
/// canonical parameters (gateway, [`Call::from_params`]) or from the
/// sidecar's request ([`Call::new`]). Later rules (client scope) read the
/// parameters themselves, which is why they travel with the call.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The presented identifier.
    pub identifier: &'a str,
    /// The presented secret (or its md5 hex).
    pub secret: &'a str,
    /// The requested action as sent; empty when missing.
    pub action: &'a str,
    /// The call's canonical parameters, when it came through the gateway.
    pub params: Option<&'a CanonicalParams>,
    /// When the call is decided, unix seconds: expiry and a rotation's
    /// overlap are checked against it, so they end without a reload.
    pub now: i64,
    /// The client's address, checked against the credential's allowlist;
    /// `None` (unknown) passes only credentials without one.
    pub ip: Option<IpAddr>,
}

impl<'a> Call<'a> {
    /// A call named by its three fields (the sidecar, tests, benches).
    pub fn new(identifier: &'a str, secret: &'a str, action: &'a str) -> Self {
        Self {
            identifier,
            secret,
            action,
            params: None,
            now: now_secs(),
            ip: None,
        }
    }

    /// The same call from `ip`.
    pub fn from_ip(self, ip: Option<IpAddr>) -> Self {
        Self { ip, ..self }
    }

    /// The same call decided at `now` (unix seconds).
    pub fn at(self, now: i64) -> Self {
        Self { now, ..self }
    }

    /// The call a gateway request makes: `identifier` + `secret` (else
    /// `username` + `password`) and `action`, all canonical.
    pub fn from_params(params: &'a CanonicalParams) -> Self {
        let (identifier, secret) = params.credential();
        Self {
            identifier,
            secret,
            action: params.text(Special::Action),
            params: Some(params),
            now: now_secs(),
            ip: None,
        }
    }
}

/// Seconds since the Unix epoch (the clock is the one input of a decision
/// that is not in the call; callers and tests may set [`Call::now`]).
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The outcome of [`Snapshot::decide`]: every case a caller must answer.
#[derive(Debug)]
pub enum Decision<'a> {
    /// Valid credential and a role allows the action.
    Allowed(Grant<'a>),
    /// No such identifier, wrong secret, or the owning admin is disabled.
    /// The action is resolved anyway, for metrics.
    AuthenticationFailed {
        /// The requested action, if the catalog knows it.
        action: Option<ActionId>,
    },
    /// Right secret, but the credential is disabled. Answered like an
    /// authentication failure; only the log and the sidecar tell.
    Disabled {
        /// The credential's identifier.
        identifier: &'a str,
        /// The requested action, if the catalog knows it.
        action: Option<ActionId>,
    },
    /// Right secret, but the credential has expired. Answered like an
    /// authentication failure; only the log and the sidecar tell.
    Expired {
        /// The credential's identifier.
        identifier: &'a str,
        /// The requested action, if the catalog knows it.
        action: Option<ActionId>,
    },
    /// Valid credential, called from an address outside its allowlist
    /// (or from an unknown address while it has one).
    IpNotAllowed {
        /// Who asked.
        credential: Authenticated<'a>,
        /// The requested action, if the catalog knows it.
        action: Option<ActionId>,
    },
    /// Valid credential, but the call names no action.
    ActionMissing(Authenticated<'a>),
    /// Valid credential, but no role allows the action (or it is unknown).
    ActionNotAllowed {
        /// Who asked.
        credential: Authenticated<'a>,
        /// The requested action, if the catalog knows it.
        action: Option<ActionId>,
    },
}

impl<'a> Decision<'a> {
    /// The requested action's catalog id, when known.
    pub fn action_id(&self) -> Option<ActionId> {
        match self {
            Decision::Allowed(grant) => Some(grant.action_id),
            Decision::AuthenticationFailed { action }
            | Decision::Disabled { action, .. }
            | Decision::Expired { action, .. }
            | Decision::IpNotAllowed { action, .. }
            | Decision::ActionNotAllowed { action, .. } => *action,
            Decision::ActionMissing(_) => None,
        }
    }

    /// The authenticated credential, unless authentication failed.
    pub fn credential(&self) -> Option<&Authenticated<'a>> {
        match self {
            Decision::Allowed(grant) => Some(&grant.credential),
            Decision::ActionMissing(credential)
            | Decision::IpNotAllowed { credential, .. }
            | Decision::ActionNotAllowed { credential, .. } => Some(credential),
            Decision::AuthenticationFailed { .. }
            | Decision::Disabled { .. }
            | Decision::Expired { .. } => None,
        }
    }
}

/// Who was allowed what.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// The credential.
    pub credential: Authenticated<'a>,
    /// The action, canonical spelling (aliases resolved).
    pub action: &'a ActionDef,
    /// The action's catalog id.
    pub action_id: ActionId,
}

/// A credential whose identifier and secret checked out.
#[derive(Clone, Copy)]
pub struct Authenticated<'a> {
    snapshot: &'a Snapshot,
    identifier: &'a str,
    hot: &'a Hot,
    admin: u32,
    role_set: u32,
    extra: Option<&'a Extra>,
}

impl std::fmt::Debug for Authenticated<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticated")
            .field("identifier", &self.identifier)
            .field("admin", &self.admin())
            .finish_non_exhaustive()
    }
}

impl<'a> Authenticated<'a> {
    /// The credential's identifier.
    pub fn identifier(&self) -> &'a str {
        self.identifier
    }

    /// The owning admin's username.
    pub fn admin(&self) -> &'a str {
        &self.snapshot.admins.views[self.admin as usize].username
    }

    /// Names of the credential's roles.
    pub fn roles(&self) -> &'a [Arc<str>] {
        self.snapshot.role_sets.names(self.role_set)
    }

    /// The credential's own rate limit, if it has one.
    pub fn rate_limit(&self) -> Option<Rate> {
        self.hot.rate()
    }

    /// Counts one call against the credential's rate (its own, else
    /// `default`) in this process's limiter, whose state lives in the
    /// credential's slot: `None` when it fits (or there is no rate), else
    /// how long until one would. `now` gives nanoseconds since the Unix
    /// epoch, and is called only when there is a rate to count against.
    pub fn count_call(
        &self,
        default: Option<Rate>,
        now: impl FnOnce() -> u64,
    ) -> Option<std::time::Duration> {
        let rate = self.hot.rate().or(default)?;
        self.hot.count_call(rate, now())
    }

    /// The WHMCS clients the credential is bound to, sorted; empty: not
    /// client-scoped.
    pub fn client_ids(&self) -> &'a [ClientId] {
        match self.extra {
            Some(extra) if self.hot.scoped() => &extra.client_ids,
            _ => &[],
        }
    }

    /// The catalog this credential was decided against (for the action's
    /// client-scope rule).
    pub fn catalog(&self) -> &'a Catalog {
        &self.snapshot.catalog
    }

    /// The catalog action `action` names, if one of the roles allows it.
    pub fn allows(&self, action: &str) -> Option<&'a ActionDef> {
        self.allows_id(self.snapshot.catalog.resolve(action)?)
    }

    /// [`Authenticated::allows`] for an action already resolved against
    /// this snapshot's catalog (callers that resolved it for their own use).
    pub fn allows_id(&self, id: ActionId) -> Option<&'a ActionDef> {
        let allowed = self.snapshot.role_sets.allows(self.role_set, id);
        allowed.then(|| self.snapshot.catalog.action(id))
    }
}

/// See the module documentation.
///
/// A snapshot is a base built in full (at start, on a catalog change, and
/// when changes have piled up) plus the credentials changed since, each
/// shared with the snapshots applied before it; see [`Snapshot::apply`].
#[derive(Debug)]
pub struct Snapshot {
    revision: i64,
    catalog: Arc<Catalog>,
    /// The credentials as of the last full build, shared by every snapshot
    /// applied on top of it.
    base: Arc<Base>,
    /// Credentials changed or deleted since the base was built.
    overlay: Overlay,
    /// Credentials held, base and overlay together.
    len: usize,
    admins: Arc<Admins>,
    role_sets: Arc<RoleSets>,
    unmatchable: ShortHashes,
}

/// The part of a snapshot built in full: the slot table and the extras its
/// slots point at.
#[derive(Debug)]
struct Base {
    credentials: Table,
    /// Lifecycle settings of the credentials that have any (most have
    /// none): a slot's `extra` is an index + 1 here, 0 for none.
    extras: Vec<Extra>,
}

impl Base {
    /// The extra at a slot's `extra` index (0: none).
    fn extra(&self, index: u32) -> Option<&Extra> {
        index.checked_sub(1).map(|i| &self.extras[i as usize])
    }
}

/// The admins, at indexes that never change while snapshots are applied
/// on top of one another (slots store the index).
#[derive(Clone, Debug, Default)]
struct Admins {
    views: Vec<AdminView>,
    index: HashMap<AdminId, u32>,
}

impl Admins {
    fn of(entries: &[AdminEntry]) -> Self {
        let mut admins = Self::default();
        for entry in entries {
            admins.upsert(entry);
        }
        admins
    }

    /// Adds `entry`, or updates the admin at its index.
    fn upsert(&mut self, entry: &AdminEntry) {
        let view = AdminView {
            username: entry.username.as_str().into(),
            enabled: entry.enabled,
        };
        match self.index.get(&entry.id) {
            Some(&i) => self.views[i as usize] = view,
            None => {
                self.index.insert(entry.id, to_u32(self.views.len()));
                self.views.push(view);
            }
        }
    }

    /// Forgets a deleted admin; its index stays taken, disabled, since
    /// slots of an older base may still point at it.
    fn remove(&mut self, id: AdminId) {
        if let Some(i) = self.index.remove(&id) {
            self.views[i as usize].enabled = false;
        }
    }
}

/// What few credentials carry beyond the common case, kept out of the slot
/// so the slot stays two cache lines: read only by the calls that need it.
#[derive(Debug)]
struct Extra {
    /// An allowlist that does not fit the slot (IPv6, or long).
    allow: Box<[IpNet]>,
    /// A rotation's previous secret and the unix second it stops.
    old_secret: Option<(SecretHashes, i64)>,
    /// The client scope, sorted; empty: not scoped.
    client_ids: Box<[ClientId]>,
}

impl Extra {
    /// The extra `credential` needs beside its slot's `hot` part, if any.
    fn of(credential: &CredentialEntry, hot: &Hot) -> Option<Extra> {
        let lifecycle = &credential.lifecycle;
        let needed = hot.allowlist_in_extra()
            || !lifecycle.client_ids.is_empty()
            || credential.old_secret.is_some();
        needed.then(|| {
            let mut client_ids = lifecycle.client_ids.clone();
            client_ids.sort_unstable();
            client_ids.dedup();
            Extra {
                allow: match hot.allowlist_in_extra() {
                    true => lifecycle.allow_ips.as_slice().into(),
                    false => Box::default(),
                },
                old_secret: credential.old_secret.clone(),
                client_ids: client_ids.into(),
            }
        })
    }

    /// Whether the extra's allowlist admits `ip`.
    fn admits(&self, ip: Option<IpAddr>) -> bool {
        ip.is_some_and(|ip| self.allow.iter().any(|net| net.contains(ip)))
    }
}

/// A credential found by identifier, in the base or among the changes.
#[derive(Clone, Copy)]
struct Found<'a> {
    slot: &'a Slot,
    identifier: &'a str,
    extra: Option<&'a Extra>,
}

impl Snapshot {
    /// A snapshot with no credentials, for a server that has not loaded yet.
    pub fn empty(catalog: Arc<Catalog>) -> Self {
        Self::build(&SnapshotSource::default(), catalog)
    }

    /// Builds the lookup structures from `source`.
    pub fn build(source: &SnapshotSource, catalog: Arc<Catalog>) -> Self {
        let mut builder =
            SnapshotBuilder::new(source.revision, &source.admins, &source.roles, catalog);
        builder.reserve(source.credentials.len());
        for credential in &source.credentials {
            builder.push(credential);
        }
        builder.finish()
    }

    /// Takes over `previous`'s local rate-limit state for every credential
    /// in both that kept its rate: a rebuild must not hand out a fresh
    /// budget. Calls decided on `previous` between this and the swap are
    /// not carried over (a few calls at most, at a change).
    pub fn carry_limits_from(&self, previous: &Snapshot) {
        for (identifier, slot) in self.base.credentials.occupied() {
            if let Some(old) = previous.find(identifier) {
                slot.hot.carry_from(&old.slot.hot);
            }
        }
        for (identifier, changed) in self.overlay.present() {
            if let Some(old) = previous.find(identifier) {
                changed.slot.hot.carry_from(&old.slot.hot);
            }
        }
    }

    /// Store revision this snapshot reflects.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Number of credentials held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no credential is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many credentials changed since the last full build: a caller
    /// rebuilds in full once they pile up (each costs a little memory and,
    /// while any exist, one probe of the changes per lookup).
    pub fn changed_since_build(&self) -> usize {
        self.overlay.len()
    }

    /// The catalog actions are resolved against.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The credential `identifier`, wherever it is.
    fn find(&self, identifier: &str) -> Option<Found<'_>> {
        let table = &self.base.credentials;
        let hash = table.hash(identifier);
        self.find_hashed(hash, table.home_at(hash), identifier)
    }

    /// [`Snapshot::find`] with the identifier's hash and home already
    /// computed: the changes first (when there are any), then the base.
    fn find_hashed(&self, hash: u64, home: usize, identifier: &str) -> Option<Found<'_>> {
        if let Some(changed) = self.overlay.get(hash, identifier) {
            return changed.map(|(identifier, c)| Found {
                slot: &c.slot,
                identifier,
                extra: c.extra.as_ref(),
            });
        }
        let table = &self.base.credentials;
        let slot = table.get_from(home, identifier)?;
        Some(Found {
            slot,
            identifier: table.identifier(slot),
            extra: self.base.extra(slot.extra),
        })
    }

    /// Checks identifier and secret (or its md5 hex). Unknown identifiers
    /// verify against unmatchable hashes, so they do the same work.
    pub fn authenticate<'a>(&'a self, identifier: &str, secret: &str) -> Option<Authenticated<'a>> {
        match self
            .authenticate_for(&Call::new(identifier, secret, ""), None)
            .0
        {
            Verdict::Valid(credential) => Some(credential),
            Verdict::Failed | Verdict::Disabled(_) | Verdict::Expired(_) => None,
        }
    }

    /// The one decision every caller uses (gateway, sidecar, tests,
    /// benches): authenticate, then check the action.
    pub fn decide<'a>(&'a self, call: &Call<'_>) -> Decision<'a> {
        let (verdict, action) = self.authenticate_for(call, Some(call.action));
        let credential = match verdict {
            Verdict::Valid(credential) => credential,
            Verdict::Failed => return Decision::AuthenticationFailed { action },
            Verdict::Disabled(identifier) => return Decision::Disabled { identifier, action },
            Verdict::Expired(identifier) => return Decision::Expired { identifier, action },
        };
        let admitted = match credential.hot.allowlist_in_extra() {
            true => credential.extra.is_some_and(|e| e.admits(call.ip)),
            false => credential.hot.admits(call.ip),
        };
        if !admitted {
            return Decision::IpNotAllowed { credential, action };
        }
        if call.action.is_empty() {
            return Decision::ActionMissing(credential);
        }
        match action.and_then(|id| Some((id, credential.allows_id(id)?))) {
            Some((action_id, action)) => Decision::Allowed(Grant {
                credential,
                action,
                action_id,
            }),
            None => Decision::ActionNotAllowed { credential, action },
        }
    }

    /// Authenticates, resolving `action` along the way.
    ///
    /// Ordered around memory latency: with a million credentials the slot is
    /// in no cache and fetching it costs about as much as the rest of the
    /// decision. So the fetch is started first, and the work that does not
    /// need the slot (hashing the presented secret, resolving the action)
    /// runs while it is in flight; likewise the role set's bitset word is
    /// fetched while the hashes are compared.
    fn authenticate_for<'a>(
        &'a self,
        call: &Call<'_>,
        action: Option<&str>,
    ) -> (Verdict<'a>, Option<ActionId>) {
        let table = &self.base.credentials;
        let hash = table.hash(call.identifier);
        let home = table.home_at(hash);
        table.prefetch(home);
        let digest = PresentedSecret::of(call.secret);
        let action = action.and_then(|a| self.catalog.resolve(a));

        let found = self.find_hashed(hash, home, call.identifier);
        if let (Some(found), Some(id)) = (found, action) {
            self.role_sets.prefetch(found.slot.role_set, id);
        }
        // Likewise the extra, for the few credentials whose allowlist is
        // there (a rotation's old secret is read only on a mismatch).
        if let Some(extra) = found
            .filter(|f| f.slot.hot.allowlist_in_extra())
            .and_then(|f| f.extra)
        {
            prefetch(extra);
        }
        let hashes = found.map_or(&self.unmatchable, |f| &f.slot.hashes);
        let secret_ok = digest.matches_short(hashes);
        let Some(Found {
            slot,
            identifier,
            extra,
        }) = found
        else {
            return (Verdict::Failed, action);
        };
        // The previous secret of a rotation counts until its end; checked
        // only when the current one did not match, and only for the few
        // credentials in a rotation.
        let secret_ok = secret_ok
            || extra
                .and_then(|e| e.old_secret.as_ref())
                .is_some_and(|(old, until)| call.now < *until && digest.matches(old));
        if !secret_ok || !self.admins.views[slot.admin as usize].enabled {
            return (Verdict::Failed, action);
        }
        if slot.hot.disabled() {
            return (Verdict::Disabled(identifier), action);
        }
        if call.now >= slot.expires_at {
            return (Verdict::Expired(identifier), action);
        }
        let credential = Authenticated {
            snapshot: self,
            identifier,
            hot: &slot.hot,
            admin: slot.admin,
            role_set: slot.role_set,
            extra,
        };
        (Verdict::Valid(credential), action)
    }
}

/// What the slot of `cred` holds besides its identifier.
fn slot_fields(
    cred: &CredentialEntry,
    admin: u32,
    role_set: u32,
    extra: u32,
    hot: Hot,
) -> SlotFields {
    SlotFields {
        hashes: cred.hashes.short(),
        admin,
        role_set,
        expires_at: cred.lifecycle.expires_at.unwrap_or(i64::MAX),
        extra,
        hot,
    }
}

/// Builds a [`Snapshot`] one credential at a time, so a store can stream
/// its rows in rather than hold them all: at a million credentials the
/// rows as read would take several times the snapshot's own memory.
#[derive(Debug)]
pub struct SnapshotBuilder {
    revision: i64,
    catalog: Arc<Catalog>,
    admins: Admins,
    role_sets: RoleSets,
    /// Scratch space for role combinations (see [`RoleSets::intern`]).
    key: Vec<RoleId>,
    pending: Pending,
    extras: Vec<Extra>,
}

impl SnapshotBuilder {
    /// A builder for the store at `revision` with these admins and roles.
    pub fn new(
        revision: i64,
        admins: &[AdminEntry],
        roles: &[RoleEntry],
        catalog: Arc<Catalog>,
    ) -> Self {
        Self {
            revision,
            admins: Admins::of(admins),
            role_sets: RoleSets::new(roles, &catalog),
            catalog,
            key: Vec::new(),
            pending: Pending::default(),
            extras: Vec::new(),
        }
    }

    /// Makes room for `additional` more credentials.
    pub fn reserve(&mut self, additional: usize) {
        self.pending.reserve(additional);
    }

    /// How many credentials were added (those of unknown admins too).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none was added.
    pub fn is_empty(&self) -> bool {
        self.pending.len() == 0
    }

    /// Adds `credential`; one whose admin is unknown is left out, and a
    /// repeated identifier replaces the earlier one.
    pub fn push(&mut self, credential: &CredentialEntry) {
        let Some(&admin) = self.admins.index.get(&credential.admin_id) else {
            return;
        };
        let role_set = self.role_sets.intern(&credential.role_ids, &mut self.key);
        let hot = Hot::of(&credential.lifecycle);
        let extra = match Extra::of(credential, &hot) {
            Some(extra) => {
                self.extras.push(extra);
                to_u32(self.extras.len())
            }
            None => 0,
        };
        let fields = slot_fields(credential, admin, role_set, extra, hot);
        self.pending.push(&credential.identifier, fields);
    }

    /// The snapshot of everything added.
    pub fn finish(self) -> Snapshot {
        let mut role_sets = self.role_sets;
        role_sets.shrink_to_fit();
        let mut extras = self.extras;
        extras.shrink_to_fit();
        let credentials = Table::build(self.pending);
        Snapshot {
            revision: self.revision,
            catalog: self.catalog,
            len: credentials.len,
            base: Arc::new(Base {
                credentials,
                extras,
            }),
            overlay: Overlay::default(),
            admins: Arc::new(self.admins),
            role_sets: Arc::new(role_sets),
            unmatchable: SecretHashes::unmatchable().short(),
        }
    }
}

/// What checking a credential's secret and state found.
enum Verdict<'a> {
    /// Unknown identifier, wrong secret, or a disabled admin.
    Failed,
    /// Right secret, disabled credential.
    Disabled(&'a str),
    /// Right secret, expired credential.
    Expired(&'a str),
    /// Good to go on to the action.
    Valid(Authenticated<'a>),
}

/// Asks the CPU to start loading the cache line holding `value` and returns
/// once the address is translated, without waiting for the data. A plain
/// read would not do: it cannot retire before its data arrives, which stalls
/// the core after a few dozen nanoseconds of work; a prefetch lets the whole
/// hash of the secret run under the fetch.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults, reads nothing the
    // program can observe and writes nothing, and the address comes from a
    // live reference anyway. SSE is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    // Other targets have no stable prefetch; they just wait for the load.
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Indexes are stored as `u32` to keep slots small; four billion
/// credentials or role combinations is far beyond any deployment.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("at most u32::MAX - 1 entries")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod delta_tests;
