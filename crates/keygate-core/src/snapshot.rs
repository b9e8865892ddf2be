//! The immutable, in-memory picture of every credential that the hot path
//! reads: identifier -> secret hashes, owning admin's state, and the union of
//! the credential's roles as a bitset. Built from a [`SnapshotSource`] after
//! every change and swapped in whole, so deciding touches no database and
//! takes no lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;

use crate::action_set::ActionSet;
use crate::catalog::{ActionDef, ActionId, Catalog};
use crate::model::{AdminId, ClientId, Lifecycle, RoleId};
use crate::net::IpNet;
use crate::params::{CanonicalParams, Special};
use crate::rate::Rate;
use crate::secret::{PresentedSecret, SecretHashes, ShortHashes};

mod hot;
use hot::Hot;

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

#[derive(Debug)]
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
    extra: u32,
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
        &self.snapshot.admins[self.admin as usize].username
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
    /// how long until one would. `now`: nanoseconds since the Unix epoch.
    pub fn count_call(&self, default: Option<Rate>, now: u64) -> Option<std::time::Duration> {
        let rate = self.hot.rate().or(default)?;
        self.hot.count_call(rate, now)
    }

    /// The WHMCS clients the credential is bound to, sorted; empty: not
    /// client-scoped.
    pub fn client_ids(&self) -> &'a [ClientId] {
        match self.snapshot.extra(self.extra) {
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
#[derive(Debug)]
pub struct Snapshot {
    revision: i64,
    catalog: Arc<Catalog>,
    credentials: Table,
    admins: Vec<AdminView>,
    role_sets: RoleSets,
    /// Lifecycle settings of the credentials that have any (most have
    /// none): a slot's `extra` is an index + 1 here, 0 for none.
    extras: Vec<Extra>,
    unmatchable: ShortHashes,
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

impl Snapshot {
    /// A snapshot with no credentials, for a server that has not loaded yet.
    pub fn empty(catalog: Arc<Catalog>) -> Self {
        Self::build(&SnapshotSource::default(), catalog)
    }

    /// Builds the lookup structures from `source`.
    pub fn build(source: &SnapshotSource, catalog: Arc<Catalog>) -> Self {
        let admin_index: HashMap<AdminId, u32> = source
            .admins
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id, i as u32))
            .collect();
        let admins = source
            .admins
            .iter()
            .map(|a| AdminView {
                username: a.username.as_str().into(),
                enabled: a.enabled,
            })
            .collect();
        let roles: HashMap<RoleId, (Arc<str>, ActionSet)> = source
            .roles
            .iter()
            .map(|r| {
                (
                    r.id,
                    (Arc::from(r.name.as_str()), role_actions(r, &catalog)),
                )
            })
            .collect();

        let mut role_sets = RoleSets::new(catalog.len());
        let mut role_set_index: HashMap<Box<[RoleId]>, u32> = HashMap::new();
        // Reused for every credential: looking a combination up by slice
        // allocates only for combinations not seen yet.
        let mut key: Vec<RoleId> = Vec::new();
        let mut credentials = Vec::with_capacity(source.credentials.len());
        let mut extras = Vec::new();
        for cred in &source.credentials {
            let Some(&admin) = admin_index.get(&cred.admin_id) else {
                continue;
            };
            key.clear();
            key.extend(
                cred.role_ids
                    .iter()
                    .copied()
                    .filter(|id| roles.contains_key(id)),
            );
            key.sort_unstable();
            key.dedup();
            let role_set = match role_set_index.get(key.as_slice()) {
                Some(&index) => index,
                None => {
                    let index = role_sets.push(&key, &roles, catalog.len());
                    role_set_index.insert(key.as_slice().into(), index);
                    index
                }
            };
            let hot = Hot::of(&cred.lifecycle);
            let extra = match Extra::of(cred, &hot) {
                Some(extra) => {
                    extras.push(extra);
                    to_u32(extras.len())
                }
                None => 0,
            };
            credentials.push(NewSlot {
                identifier: &cred.identifier,
                hashes: cred.hashes.short(),
                admin,
                role_set,
                expires_at: cred.lifecycle.expires_at.unwrap_or(i64::MAX),
                extra,
                hot,
            });
        }
        role_sets.shrink_to_fit();
        Self {
            revision: source.revision,
            catalog,
            credentials: Table::build(credentials),
            admins,
            role_sets,
            extras,
            unmatchable: SecretHashes::unmatchable().short(),
        }
    }

    /// Takes over `previous`'s local rate-limit state for every credential
    /// in both that kept its rate: a rebuild must not hand out a fresh
    /// budget. Calls decided on `previous` between this and the swap are
    /// not carried over (a few calls at most, at a change).
    pub fn carry_limits_from(&self, previous: &Snapshot) {
        for slot in self.credentials.slots.iter().filter(|s| s.home != EMPTY) {
            let identifier = self.credentials.identifier(slot);
            let home = previous.credentials.home(identifier);
            if let Some(old) = previous.credentials.get_from(home, identifier) {
                slot.hot.carry_from(&old.hot);
            }
        }
    }

    /// The extra at a slot's `extra` index (0: none).
    fn extra(&self, index: u32) -> Option<&Extra> {
        index.checked_sub(1).map(|i| &self.extras[i as usize])
    }

    /// Store revision this snapshot reflects.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Number of credentials held.
    pub fn len(&self) -> usize {
        self.credentials.len
    }

    /// Whether no credential is held.
    pub fn is_empty(&self) -> bool {
        self.credentials.len == 0
    }

    /// The catalog actions are resolved against.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
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
            true => self
                .extra(credential.extra)
                .is_some_and(|e| e.admits(call.ip)),
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
        let home = self.credentials.home(call.identifier);
        self.credentials.prefetch(home);
        let digest = PresentedSecret::of(call.secret);
        let action = action.and_then(|a| self.catalog.resolve(a));

        let found = self.credentials.get_from(home, call.identifier);
        if let (Some(slot), Some(id)) = (found, action) {
            self.role_sets.prefetch(slot.role_set, id);
        }
        // Likewise the extra, for the few credentials whose allowlist is
        // there (a rotation's old secret is read only on a mismatch).
        if let Some(slot) = found.filter(|slot| slot.hot.allowlist_in_extra()) {
            if let Some(extra) = self.extra(slot.extra) {
                prefetch(extra);
            }
        }
        let hashes = found.map_or(&self.unmatchable, |slot| &slot.hashes);
        let secret_ok = digest.matches_short(hashes);
        let Some(slot) = found else {
            return (Verdict::Failed, action);
        };
        let extra = self.extra(slot.extra);
        // The previous secret of a rotation counts until its end; checked
        // only when the current one did not match, and only for the few
        // credentials in a rotation.
        let secret_ok = secret_ok
            || extra
                .and_then(|e| e.old_secret.as_ref())
                .is_some_and(|(old, until)| call.now < *until && digest.matches(old));
        if !secret_ok || !self.admins[slot.admin as usize].enabled {
            return (Verdict::Failed, action);
        }
        let identifier = self.credentials.identifier(slot);
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
            extra: slot.extra,
        };
        (Verdict::Valid(credential), action)
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

fn role_actions(role: &RoleEntry, catalog: &Catalog) -> ActionSet {
    let mut set = ActionSet::with_capacity(catalog.len());
    for id in role.actions.iter().filter_map(|a| catalog.resolve(a)) {
        set.insert(id);
    }
    set
}

/// Every distinct combination of roles, shared by every credential holding
/// it, laid out flat: one array of bitset words and one of names, rather
/// than two small allocations per set, so the check after authentication
/// reads one word from a compact block.
#[derive(Debug)]
struct RoleSets {
    /// Words per set: enough for every action of the catalog.
    stride: usize,
    /// Allowed actions of set `i`: `words[i * stride..(i + 1) * stride]`.
    words: Vec<u64>,
    /// Names of set `i`: `names[name_ends[i - 1]..name_ends[i]]`.
    name_ends: Vec<u32>,
    names: Vec<Arc<str>>,
}

impl RoleSets {
    fn new(actions: usize) -> Self {
        Self {
            stride: actions.div_ceil(64),
            words: Vec::new(),
            name_ends: Vec::new(),
            names: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.name_ends.len()
    }

    /// Drops the spare capacity left by growing while building: a snapshot
    /// is never added to.
    fn shrink_to_fit(&mut self) {
        self.words.shrink_to_fit();
        self.name_ends.shrink_to_fit();
        self.names.shrink_to_fit();
    }

    /// Adds the union of the roles `key` names and returns its index.
    fn push(
        &mut self,
        key: &[RoleId],
        roles: &HashMap<RoleId, (Arc<str>, ActionSet)>,
        actions: usize,
    ) -> u32 {
        let mut allowed = ActionSet::with_capacity(actions);
        for (name, role_actions) in key.iter().filter_map(|id| roles.get(id)) {
            allowed.union_with(role_actions);
            self.names.push(name.clone());
        }
        self.words.extend_from_slice(allowed.words());
        self.name_ends.push(to_u32(self.names.len()));
        to_u32(self.len() - 1)
    }

    fn names(&self, set: u32) -> &[Arc<str>] {
        let set = set as usize;
        let start = set
            .checked_sub(1)
            .map_or(0, |prev| self.name_ends[prev] as usize);
        &self.names[start..self.name_ends[set] as usize]
    }

    /// Starts loading the word [`RoleSets::allows`] will read.
    fn prefetch(&self, set: u32, id: ActionId) {
        if let Some(word) = self.word(set, id) {
            prefetch(word);
        }
    }

    fn word(&self, set: u32, id: ActionId) -> Option<&u64> {
        let (word, _) = ActionSet::position(id);
        // Ids beyond the stride cannot come from this snapshot's catalog.
        (word < self.stride).then(|| &self.words[set as usize * self.stride + word])
    }

    fn allows(&self, set: u32, id: ActionId) -> bool {
        let (_, bit) = ActionSet::position(id);
        self.word(set, id)
            .is_some_and(|word| word & (1 << bit) != 0)
    }
}

/// Identifiers up to this many bytes (all generated ones: 32) are stored in
/// their slot; longer imported ones also live in [`Table::long_ids`].
const INLINE_ID: usize = 32;

/// `Slot::home` of a slot holding no credential: above every real home, so
/// a probe stops there as it does at any slot past the identifier's home.
const EMPTY: u32 = u32::MAX;

/// One credential, with everything authentication reads about it in one
/// 128-byte, 64-aligned block: the secret hashes in the first cache line,
/// the identifier, expiry and indexes in the second.
#[derive(Clone)]
#[repr(C, align(64))]
struct Slot {
    hashes: ShortHashes,
    id: [u8; INLINE_ID],
    /// Unix seconds from which the credential is expired; `i64::MAX`: never.
    expires_at: i64,
    /// Where the probe for this identifier starts; [`EMPTY`] if unused.
    home: u32,
    id_len: u32,
    long_id: u32,
    admin: u32,
    role_set: u32,
    /// Index + 1 into [`Snapshot::extras`]; 0: none.
    extra: u32,
    /// Enabled state, inline allowlist, own rate and local limiter state.
    hot: Hot,
}

impl Slot {
    fn empty() -> Self {
        Self {
            hashes: SecretHashes::unmatchable().short(),
            id: [0; INLINE_ID],
            expires_at: i64::MAX,
            home: EMPTY,
            id_len: 0,
            long_id: 0,
            admin: 0,
            role_set: 0,
            extra: 0,
            hot: Hot::plain(),
        }
    }
}

/// A credential on its way into a [`Table`].
struct NewSlot<'s> {
    identifier: &'s str,
    hashes: ShortHashes,
    admin: u32,
    role_set: u32,
    expires_at: i64,
    extra: u32,
    hot: Hot,
}

/// Credentials by identifier, each stored in its slot.
///
/// A `HashMap<Box<str>, Entry>` costs a chain of dependent cache misses per
/// lookup at a million credentials (control bytes, bucket, boxed key); here
/// a lookup reads one slot and, sometimes, the next.
///
/// Open addressing with linear probing, built in one go with the slots in
/// order of their home (an ordered hash table): a probe passes the slots of
/// earlier homes and stops at the first slot of a later one, so a lookup for
/// an absent identifier ends as soon as one for a present identifier would.
/// Runs do not wrap around: the last run may spill past the homes into the
/// extra slots at the end, the last of which is always empty.
struct Table {
    /// Keyed (SipHash) so identifiers an attacker picks cannot pile up in
    /// one run.
    hasher: RandomState,
    /// Number of possible homes: twice the credentials, so runs stay short.
    homes: usize,
    slots: Box<[Slot]>,
    long_ids: Vec<Box<str>>,
    len: usize,
}

impl Table {
    fn build(credentials: Vec<NewSlot<'_>>) -> Self {
        let hasher = RandomState::new();
        let homes = credentials.len().saturating_mul(2).max(8);
        // Homes are stored as `u32`, below the EMPTY marker.
        assert!(
            homes < EMPTY as usize,
            "too many credentials for one snapshot"
        );
        let mut placed: Vec<(u32, NewSlot<'_>)> = credentials
            .into_iter()
            .map(|c| (to_u32(home_of(&hasher, homes, c.identifier)), c))
            .collect();
        // Stable, so a repeated identifier keeps its source order and the
        // last one wins below, as with a map insert.
        placed.sort_by_key(|(home, _)| *home);

        let mut table = Self {
            hasher,
            homes,
            slots: Box::default(),
            long_ids: Vec::new(),
            len: 0,
        };
        let mut slots: Vec<Slot> = Vec::with_capacity(homes + 1);
        for (home, new) in placed {
            if let Some(existing) = slots
                .iter_mut()
                .rev()
                .take_while(|s| s.home == home)
                .find(|s| table.matches_in(new.identifier, s))
            {
                existing.hashes = new.hashes;
                existing.admin = new.admin;
                existing.role_set = new.role_set;
                existing.expires_at = new.expires_at;
                existing.extra = new.extra;
                existing.hot = new.hot;
                continue;
            }
            if slots.len() < home as usize {
                slots.resize_with(home as usize, Slot::empty);
            }
            slots.push(table.slot_for(home, &new));
            table.len += 1;
        }
        let end = (slots.len() + 1).max(homes + 1);
        slots.resize_with(end, Slot::empty);
        table.slots = slots.into_boxed_slice();
        table.long_ids.shrink_to_fit();
        table
    }

    fn slot_for(&mut self, home: u32, new: &NewSlot<'_>) -> Slot {
        let bytes = new.identifier.as_bytes();
        let inline = bytes.len().min(INLINE_ID);
        let mut slot = Slot {
            hashes: new.hashes,
            id: [0; INLINE_ID],
            expires_at: new.expires_at,
            home,
            id_len: to_u32(bytes.len()),
            long_id: 0,
            admin: new.admin,
            role_set: new.role_set,
            extra: new.extra,
            hot: new.hot.clone(),
        };
        slot.id[..inline].copy_from_slice(&bytes[..inline]);
        if bytes.len() > INLINE_ID {
            slot.long_id = to_u32(self.long_ids.len());
            self.long_ids.push(new.identifier.into());
        }
        slot
    }

    /// Where the probe for `identifier` starts.
    fn home(&self, identifier: &str) -> usize {
        home_of(&self.hasher, self.homes, identifier)
    }

    /// Whether the occupied `slot` holds `identifier`.
    fn matches_in(&self, identifier: &str, slot: &Slot) -> bool {
        let bytes = identifier.as_bytes();
        let inline = bytes.len().min(INLINE_ID);
        slot.id_len as usize == bytes.len()
            && slot.id[..inline] == bytes[..inline]
            && (bytes.len() <= INLINE_ID || *self.long_ids[slot.long_id as usize] == *identifier)
    }

    /// Starts loading the first two slots of the probe from `home`, where
    /// nearly every lookup ends, both cache lines of each.
    fn prefetch(&self, home: usize) {
        // `home + 1` exists: there is always one more slot than homes.
        for slot in &self.slots[home..home + 2] {
            prefetch(&slot.hashes);
            prefetch(&slot.home);
        }
    }

    /// The slot holding `identifier`, whose home is `home`.
    fn get_from(&self, home: usize, identifier: &str) -> Option<&Slot> {
        let wanted = home as u32;
        for slot in &self.slots[home..] {
            if slot.home > wanted {
                return None;
            }
            if slot.home == wanted && self.matches_in(identifier, slot) {
                return Some(slot);
            }
        }
        // Not reached: the last slot is empty, and EMPTY is above any home.
        None
    }

    /// The stored identifier of an occupied slot.
    fn identifier<'a>(&'a self, slot: &'a Slot) -> &'a str {
        let len = slot.id_len as usize;
        if len > INLINE_ID {
            &self.long_ids[slot.long_id as usize]
        } else {
            // The bytes were copied whole from a `&str`, so they are UTF-8.
            std::str::from_utf8(&slot.id[..len]).expect("inline identifiers are whole strings")
        }
    }
}

/// The hash of `identifier` scaled to `0..homes` (multiply-shift), which
/// needs no power-of-two size.
fn home_of(hasher: &RandomState, homes: usize, identifier: &str) -> usize {
    let hash = hasher.hash_one(identifier.as_bytes());
    ((u128::from(hash) * homes as u128) >> 64) as usize
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// Indexes are stored as `u32` to keep slots small; four billion
/// credentials or role combinations is far beyond any deployment.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("at most u32::MAX - 1 entries")
}

/// The slot is two cache lines: a lookup touches at most those two.
const _: () = assert!(std::mem::size_of::<Slot>() == 128);

#[cfg(test)]
mod tests;

/// The slot table, beyond what the rule table in
/// `tests.rs` covers: long and similar identifiers, probing, replacement.
#[cfg(test)]
mod table_tests {
    use super::*;

    /// A table of `(identifier, secret, admin)` triples.
    fn table(credentials: &[(&str, &str, u32)]) -> Table {
        let hashes: Vec<SecretHashes> = credentials.iter().map(|c| SecretHashes::of(c.1)).collect();
        let new = credentials
            .iter()
            .zip(&hashes)
            .map(|(&(identifier, _, admin), hashes)| NewSlot {
                identifier,
                hashes: hashes.short(),
                admin,
                role_set: 0,
                expires_at: i64::MAX,
                extra: 0,
                hot: Hot::plain(),
            })
            .collect();
        Table::build(new)
    }

    fn get<'t>(table: &'t Table, identifier: &str) -> Option<&'t Slot> {
        table.get_from(table.home(identifier), identifier)
    }

    #[test]
    fn finds_every_identifier_and_nothing_else() {
        let long = "L".repeat(INLINE_ID);
        let identifiers: Vec<String> = (0..2_000)
            .map(|i| match i % 4 {
                0 => format!("id{i}"),
                // Longer than the inline part, sharing its first 32 bytes.
                1 => format!("{long}{i}"),
                2 => format!("{i:0>32}"),
                _ => format!("{i}-\u{e9}\u{1f511}-{}", "x".repeat(i % 200)),
            })
            .collect();
        let triples: Vec<(&str, &str, u32)> = identifiers
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), id.as_str(), i as u32))
            .collect();
        let table = table(&triples);
        assert_eq!(table.len, identifiers.len());
        assert_eq!(table.slots.last().unwrap().home, EMPTY);
        for (i, id) in identifiers.iter().enumerate() {
            let slot = get(&table, id).expect(id);
            assert_eq!(slot.admin, i as u32);
            assert_eq!(table.identifier(slot), id);
            assert!(PresentedSecret::of(id).matches_short(&slot.hashes));
        }
        for absent in [
            "",
            "id",
            "id2000",
            &long,
            &format!("{long}x"),
            &"0".repeat(31),
        ] {
            assert!(get(&table, absent).is_none(), "{absent:?}");
        }
    }

    #[test]
    fn runs_are_sorted_by_home_and_start_at_it() {
        let identifiers: Vec<String> = (0..500).map(|i| format!("c{i}")).collect();
        let triples: Vec<(&str, &str, u32)> =
            identifiers.iter().map(|id| (id.as_str(), "s", 0)).collect();
        let table = table(&triples);
        let mut previous = 0;
        for (index, slot) in table.slots.iter().enumerate() {
            if slot.home != EMPTY {
                assert!(slot.home as usize <= index && slot.home >= previous);
                previous = slot.home;
            }
        }
    }

    #[test]
    fn a_repeated_identifier_replaces_the_earlier_one() {
        let table = table(&[("same", "a", 1), ("other", "c", 3), ("same", "b", 2)]);
        assert_eq!(table.len, 2);
        let slot = get(&table, "same").unwrap();
        assert_eq!(slot.admin, 2);
        assert!(PresentedSecret::of("b").matches_short(&slot.hashes));
    }

    #[test]
    fn an_empty_table_and_an_empty_identifier() {
        assert!(get(&table(&[]), "").is_none());
        assert!(get(&table(&[("x", "a", 0)]), "").is_none());
        let table = table(&[("", "a", 0)]);
        assert_eq!(table.identifier(get(&table, "").unwrap()), "");
    }

    #[test]
    fn role_sets_keep_their_names_and_bits_apart() {
        let catalog = Catalog::builtin();
        let role = |id, name: &str, actions: &[&str]| RoleEntry {
            id: RoleId(id),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        };
        let roles: HashMap<RoleId, (Arc<str>, ActionSet)> = [
            role(1, "A", &["GetClients"]),
            role(2, "B", &["UpdateClientAddon"]),
        ]
        .iter()
        .map(|r| {
            (
                r.id,
                (Arc::from(r.name.as_str()), role_actions(r, &catalog)),
            )
        })
        .collect();
        let mut sets = RoleSets::new(catalog.len());
        let empty = sets.push(&[], &roles, catalog.len());
        let both = sets.push(&[RoleId(1), RoleId(2)], &roles, catalog.len());
        let b = sets.push(&[RoleId(2)], &roles, catalog.len());
        let id = |name| catalog.resolve(name).unwrap();
        assert!(sets.names(empty).is_empty());
        assert_eq!(sets.names(both).len(), 2);
        assert_eq!(&*sets.names(b)[0], "B");
        assert!(!sets.allows(empty, id("GetClients")));
        assert!(sets.allows(both, id("GetClients")) && sets.allows(both, id("UpdateClientAddon")));
        assert!(!sets.allows(b, id("GetClients")) && sets.allows(b, id("UpdateClientAddon")));
        assert!(!sets.allows(b, ActionId::from_index(60_000)));
    }
}
