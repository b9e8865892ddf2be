//! Applying what changed: a snapshot and a [`SnapshotDelta`] make the next
//! snapshot, which shares the base's slot table and keeps the changed
//! credentials beside it. A change costs what it touched: nothing is copied
//! per credential held, so a change at a million credentials is as quick,
//! and costs as little memory, as at ten.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::{slot_fields, CredentialEntry, Extra, Hot, Slot, Snapshot, SnapshotDelta, Table};

/// A credential changed since the base was built, as it is now.
pub(super) struct Changed {
    pub(super) slot: Slot,
    pub(super) extra: Option<Extra>,
}

impl std::fmt::Debug for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changed").finish_non_exhaustive()
    }
}

/// One identifier's entry: its new state, or `None` when it was deleted
/// (hiding the base's slot). Shared between successive snapshots, so the
/// local rate limiter's state in the slot carries on.
type Entry = (Arc<str>, Option<Arc<Changed>>);

/// The credentials changed since the base was built, keyed by the hash the
/// base table computes for the identifier anyway, so looking one up here
/// costs no second hash. A bucket holds every identifier of that 64-bit
/// hash (nearly always one).
#[derive(Clone, Debug, Default)]
pub(super) struct Overlay {
    entries: Arc<HashMap<u64, Vec<Entry>, BuildHasherDefault<PassThrough>>>,
    len: usize,
}

impl Overlay {
    /// How many identifiers it names, deleted ones included.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// `None`: not changed since the base (look there); `Some(None)`:
    /// deleted; `Some(Some(_))`: its state now.
    pub(super) fn get(&self, hash: u64, identifier: &str) -> Option<Option<(&str, &Changed)>> {
        // The common case, no change since the last build, costs one test.
        if self.len == 0 {
            return None;
        }
        let (name, changed) = self
            .entries
            .get(&hash)?
            .iter()
            .find(|(name, _)| **name == *identifier)?;
        Some(changed.as_deref().map(|c| (&**name, c)))
    }

    /// Every changed credential that exists, with its identifier.
    pub(super) fn present(&self) -> impl Iterator<Item = (&str, &Changed)> {
        self.entries
            .values()
            .flatten()
            .filter_map(|(name, changed)| Some((&**name, changed.as_deref()?)))
    }
}

/// The overlay being made for the next snapshot.
struct Draft {
    entries: HashMap<u64, Vec<Entry>, BuildHasherDefault<PassThrough>>,
}

impl Draft {
    /// Records `identifier`'s new state (`None`: deleted).
    fn set(&mut self, hash: u64, identifier: &str, changed: Option<Changed>) {
        let bucket = self.entries.entry(hash).or_default();
        bucket.retain(|(name, _)| **name != *identifier);
        bucket.push((identifier.into(), changed.map(Arc::new)));
    }

    /// The slot `identifier` has now: among the changes so far, else in
    /// `base`.
    fn slot<'a>(&'a self, base: &'a Table, hash: u64, identifier: &str) -> Option<&'a Slot> {
        let entry = self
            .entries
            .get(&hash)
            .and_then(|bucket| bucket.iter().find(|(name, _)| **name == *identifier));
        match entry {
            Some((_, changed)) => changed.as_deref().map(|c| &c.slot),
            None => base.get_from(base.home_at(hash), identifier),
        }
    }

    /// Forgets `identifier` (deleted, and not in the base either).
    fn forget(&mut self, hash: u64, identifier: &str) {
        if let Some(bucket) = self.entries.get_mut(&hash) {
            bucket.retain(|(name, _)| **name != *identifier);
            if bucket.is_empty() {
                self.entries.remove(&hash);
            }
        }
    }

    fn finish(self) -> Overlay {
        let len = self.entries.values().map(Vec::len).sum();
        Overlay {
            entries: Arc::new(self.entries),
            len,
        }
    }
}

impl Snapshot {
    /// The snapshot after `delta`, sharing this one's slot table: admins
    /// and role sets are updated in place of their indexes, changed
    /// credentials go beside the table. `None` when `delta` does not start
    /// at this snapshot's revision (the caller then rebuilds in full).
    pub fn apply(&self, delta: &SnapshotDelta) -> Option<Snapshot> {
        if delta.since != self.revision {
            return None;
        }
        let admins = if delta.admins.is_empty() && delta.removed_admins.is_empty() {
            self.admins.clone()
        } else {
            let mut admins = (*self.admins).clone();
            delta.admins.iter().for_each(|a| admins.upsert(a));
            delta
                .removed_admins
                .iter()
                .for_each(|&id| admins.remove(id));
            Arc::new(admins)
        };
        let mut role_sets = if delta.roles.is_empty() && delta.removed_roles.is_empty() {
            self.role_sets.clone()
        } else {
            Arc::new(
                self.role_sets
                    .with_roles(&delta.roles, &delta.removed_roles, &self.catalog),
            )
        };
        let mut draft = Draft {
            entries: (*self.overlay.entries).clone(),
        };
        let mut len = self.len;
        let table = &self.base.credentials;
        for identifier in &delta.removed_credentials {
            let hash = table.hash(identifier);
            len -= usize::from(draft.slot(table, hash, identifier).is_some());
            draft_delete(&mut draft, table, hash, identifier);
        }
        let mut key = Vec::new();
        for cred in &delta.credentials {
            let hash = table.hash(&cred.identifier);
            let existed = draft.slot(table, hash, &cred.identifier).is_some();
            let Some(&admin) = admins.index.get(&cred.admin_id) else {
                // Its admin is gone: the credential goes too.
                len -= usize::from(existed);
                draft_delete(&mut draft, table, hash, &cred.identifier);
                continue;
            };
            let role_set = match role_sets.lookup(&cred.role_ids, &mut key) {
                Some(index) => index,
                None => Arc::make_mut(&mut role_sets).insert(&key),
            };
            let changed = changed(cred, admin, role_set);
            match draft.slot(table, hash, &cred.identifier) {
                Some(old) => changed.slot.hot.carry_from(&old.hot),
                None => len += 1,
            }
            draft.set(hash, &cred.identifier, Some(changed));
        }
        Some(Snapshot {
            revision: delta.revision,
            catalog: self.catalog.clone(),
            base: self.base.clone(),
            overlay: draft.finish(),
            len,
            admins,
            role_sets,
            unmatchable: self.unmatchable,
        })
    }
}

/// Marks `identifier` deleted: hidden when the base holds it, else simply
/// dropped from the changes.
fn draft_delete(draft: &mut Draft, table: &Table, hash: u64, identifier: &str) {
    match table.get_from(table.home_at(hash), identifier) {
        Some(_) => draft.set(hash, identifier, None),
        None => draft.forget(hash, identifier),
    }
}

/// `cred`'s state as a changed credential.
fn changed(cred: &CredentialEntry, admin: u32, role_set: u32) -> Changed {
    let hot = Hot::of(&cred.lifecycle);
    let extra = Extra::of(cred, &hot);
    Changed {
        slot: Slot::detached(slot_fields(cred, admin, role_set, 0, hot)),
        extra,
    }
}

/// The overlay's keys are already keyed hashes (SipHash, from the base
/// table): hashing them again would only cost time.
#[derive(Default)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else anyway.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
