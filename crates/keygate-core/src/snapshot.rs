//! The immutable, in-memory picture of every credential that the hot path
//! reads: identifier -> secret hashes, owning admin's state, and the union of
//! the credential's roles as a bitset. Built from a [`SnapshotSource`] after
//! every change and swapped in whole, so deciding touches no database and
//! takes no lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use crate::action_set::ActionSet;
use crate::catalog::{ActionDef, ActionId, Catalog};
use crate::model::{AdminId, RoleId};
use crate::secret::SecretHashes;

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

/// The outcome of [`Snapshot::authorize`].
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Valid credential and a role allows the action.
    Allowed(Grant<'a>),
    /// No such identifier, wrong secret, or the owning admin is disabled.
    AuthenticationFailed,
    /// Valid credential, but no role allows the action (or it is unknown).
    ActionNotAllowed,
}

/// Who was allowed what.
#[derive(Debug, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The credential's identifier.
    pub identifier: &'a str,
    /// The owning admin's username.
    pub admin: &'a str,
    /// Names of the credential's roles.
    pub roles: &'a [Arc<str>],
    /// The action, canonical spelling (aliases resolved).
    pub action: &'a ActionDef,
}

/// A credential whose identifier and secret checked out.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated<'a> {
    snapshot: &'a Snapshot,
    identifier: &'a str,
    admin: u32,
    role_set: u32,
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

    /// The catalog action `action` names, if one of the roles allows it.
    pub fn allows(&self, action: &str) -> Option<&'a ActionDef> {
        let catalog = &self.snapshot.catalog;
        let id = catalog.resolve(action)?;
        let allowed = self.snapshot.role_sets.allows(self.role_set, id);
        allowed.then(|| catalog.action(id))
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
    unmatchable: SecretHashes,
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
            .map(|r| (r.id, (Arc::from(r.name.as_str()), role_actions(r, &catalog))))
            .collect();

        let mut role_sets = RoleSets::new(catalog.len());
        let mut role_set_index: HashMap<Box<[RoleId]>, u32> = HashMap::new();
        // Reused for every credential: looking a combination up by slice
        // allocates only for combinations not seen yet.
        let mut key: Vec<RoleId> = Vec::new();
        let mut credentials = Table::with_capacity(source.credentials.len());
        for cred in &source.credentials {
            let Some(&admin) = admin_index.get(&cred.admin_id) else {
                continue;
            };
            key.clear();
            key.extend(cred.role_ids.iter().copied().filter(|id| roles.contains_key(id)));
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
            credentials.insert(&cred.identifier, &cred.hashes, admin, role_set);
        }
        Self {
            revision: source.revision,
            catalog,
            credentials,
            admins,
            role_sets,
            unmatchable: SecretHashes::unmatchable(),
        }
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
    pub fn authenticate<'a>(
        &'a self,
        identifier: &str,
        secret: &str,
    ) -> Option<Authenticated<'a>> {
        let found = self.credentials.get(identifier);
        let hashes = found.map_or(&self.unmatchable, |slot| &slot.hashes);
        let secret_ok = hashes.verify(secret);
        let slot = found?;
        let admin_enabled = self.admins[slot.admin as usize].enabled;
        (secret_ok && admin_enabled).then(|| Authenticated {
            snapshot: self,
            identifier: self.credentials.identifier(slot),
            admin: slot.admin,
            role_set: slot.role_set,
        })
    }

    /// The whole decision: authenticate, then check the action.
    pub fn authorize<'a>(&'a self, identifier: &str, secret: &str, action: &str) -> Decision<'a> {
        let Some(auth) = self.authenticate(identifier, secret) else {
            return Decision::AuthenticationFailed;
        };
        match auth.allows(action) {
            Some(action) => Decision::Allowed(Grant {
                identifier: auth.identifier(),
                admin: auth.admin(),
                roles: auth.roles(),
                action,
            }),
            None => Decision::ActionNotAllowed,
        }
    }
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
        let start = set.checked_sub(1).map_or(0, |prev| self.name_ends[prev] as usize);
        &self.names[start..self.name_ends[set] as usize]
    }

    fn allows(&self, set: u32, id: ActionId) -> bool {
        let (word, bit) = ActionSet::position(id);
        // Ids beyond the stride cannot come from this snapshot's catalog.
        word < self.stride && self.words[set as usize * self.stride + word] & (1 << bit) != 0
    }
}

/// Identifiers up to this many bytes (all generated ones: 32) are stored in
/// their slot; longer imported ones also live in [`Table::long_ids`].
const INLINE_ID: usize = 32;

/// `Slot::id_len` of a slot holding no credential.
const EMPTY: u32 = u32::MAX;

/// One credential, with everything authentication reads about it in one
/// 128-byte, 64-aligned block: the secret hashes in the first cache line,
/// the identifier and indexes in the second.
#[derive(Clone)]
#[repr(C, align(64))]
struct Slot {
    hashes: SecretHashes,
    id: [u8; INLINE_ID],
    id_len: u32,
    long_id: u32,
    admin: u32,
    role_set: u32,
}

impl Slot {
    fn empty() -> Self {
        Self {
            hashes: SecretHashes::unmatchable(),
            id: [0; INLINE_ID],
            id_len: EMPTY,
            long_id: 0,
            admin: 0,
            role_set: 0,
        }
    }
}

/// Credentials by identifier: open addressing with linear probing, the
/// credential stored in its slot. A `HashMap<Box<str>, Entry>` costs a chain
/// of dependent cache misses per lookup at a million credentials (control
/// bytes, bucket, boxed key); here a lookup touches one slot and, rarely,
/// its neighbour.
struct Table {
    /// Keyed (SipHash) so identifiers an attacker picks cannot pile up in
    /// one probe run.
    hasher: RandomState,
    /// At most half full, so probe runs stay short; never full, so every
    /// probe for an absent identifier ends at an empty slot.
    slots: Box<[Slot]>,
    long_ids: Vec<Box<str>>,
    len: usize,
}

impl Table {
    fn with_capacity(credentials: usize) -> Self {
        let slots = credentials.saturating_mul(2).max(8);
        Self {
            hasher: RandomState::new(),
            slots: vec![Slot::empty(); slots].into_boxed_slice(),
            long_ids: Vec::new(),
            len: 0,
        }
    }

    /// Where the probe for `identifier` starts: the hash scaled to the table
    /// (multiply-shift), which needs no power-of-two size.
    fn home(&self, identifier: &str) -> usize {
        let hash = self.hasher.hash_one(identifier.as_bytes());
        ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize
    }

    fn next(&self, index: usize) -> usize {
        if index + 1 == self.slots.len() {
            0
        } else {
            index + 1
        }
    }

    fn matches(&self, slot: &Slot, identifier: &str) -> bool {
        let bytes = identifier.as_bytes();
        let inline = bytes.len().min(INLINE_ID);
        slot.id_len as usize == bytes.len()
            && slot.id[..inline] == bytes[..inline]
            && (bytes.len() <= INLINE_ID || *self.long_ids[slot.long_id as usize] == *identifier)
    }

    /// Adds a credential; a repeated identifier replaces the earlier one.
    fn insert(&mut self, identifier: &str, hashes: &SecretHashes, admin: u32, role_set: u32) {
        let mut index = self.home(identifier);
        while self.slots[index].id_len != EMPTY && !self.matches(&self.slots[index], identifier) {
            index = self.next(index);
        }
        let bytes = identifier.as_bytes();
        let inline = bytes.len().min(INLINE_ID);
        let mut slot = Slot {
            hashes: hashes.clone(),
            id: [0; INLINE_ID],
            id_len: to_u32(bytes.len()),
            long_id: 0,
            admin,
            role_set,
        };
        slot.id[..inline].copy_from_slice(&bytes[..inline]);
        if bytes.len() > INLINE_ID {
            slot.long_id = to_u32(self.long_ids.len());
            self.long_ids.push(identifier.into());
        }
        if self.slots[index].id_len == EMPTY {
            self.len += 1;
        }
        self.slots[index] = slot;
    }

    fn get(&self, identifier: &str) -> Option<&Slot> {
        let mut index = self.home(identifier);
        loop {
            let slot = &self.slots[index];
            if slot.id_len == EMPTY {
                return None;
            }
            if self.matches(slot, identifier) {
                return Some(slot);
            }
            index = self.next(index);
        }
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

#[cfg(test)]
mod tests;
