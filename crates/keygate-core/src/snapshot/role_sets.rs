//! Every distinct combination of roles a credential holds, as one bitset.

use std::collections::HashMap;
use std::sync::Arc;

use super::{prefetch, to_u32, RoleEntry};
use crate::action_set::ActionSet;
use crate::catalog::{ActionId, Catalog};
use crate::model::RoleId;

/// A role as the sets need it: its name and allowed actions.
type RoleBits = (Arc<str>, ActionSet);

/// Every distinct combination of roles, shared by every credential holding
/// it, laid out flat: one array of bitset words and one of names, rather
/// than two small allocations per set, so the check after authentication
/// reads one word from a compact block.
///
/// A set keeps its index for the life of the snapshot and of every snapshot
/// applied on top of it ([`RoleSets::with_roles`] recomputes sets in place),
/// so a role change never touches the credentials' slots.
#[derive(Clone, Debug)]
pub(super) struct RoleSets {
    /// Words per set: enough for every action of the catalog.
    stride: usize,
    /// Allowed actions of set `i`: `words[i * stride..(i + 1) * stride]`.
    words: Vec<u64>,
    /// Names of set `i`: `names[name_ends[i - 1]..name_ends[i]]`.
    name_ends: Vec<u32>,
    names: Vec<Arc<str>>,
    /// The roles set `i` unites, sorted and without duplicates.
    keys: Vec<Arc<[RoleId]>>,
    /// Set index by its roles.
    index: HashMap<Arc<[RoleId]>, u32>,
    /// Every role known, by id.
    roles: HashMap<RoleId, RoleBits>,
}

impl RoleSets {
    /// No sets yet, over `roles`.
    pub(super) fn new(roles: &[RoleEntry], catalog: &Catalog) -> Self {
        Self {
            stride: catalog.len().div_ceil(64),
            words: Vec::new(),
            name_ends: Vec::new(),
            names: Vec::new(),
            keys: Vec::new(),
            index: HashMap::new(),
            roles: roles
                .iter()
                .map(|r| (r.id, role_bits(r, catalog)))
                .collect(),
        }
    }

    /// How many sets there are.
    pub(super) fn len(&self) -> usize {
        self.name_ends.len()
    }

    /// The index of the set uniting `role_ids` (roles not known are left
    /// out), added if no credential held that combination yet. `key` is
    /// scratch space, reused across calls so a known combination costs no
    /// allocation.
    pub(super) fn intern(&mut self, role_ids: &[RoleId], key: &mut Vec<RoleId>) -> u32 {
        match self.lookup(role_ids, key) {
            Some(index) => index,
            None => self.insert(key),
        }
    }

    /// The index of the set uniting `role_ids`, if there is one yet; leaves
    /// the combination's key in `key` for [`RoleSets::insert`].
    pub(super) fn lookup(&self, role_ids: &[RoleId], key: &mut Vec<RoleId>) -> Option<u32> {
        key.clear();
        key.extend(
            role_ids
                .iter()
                .copied()
                .filter(|id| self.roles.contains_key(id)),
        );
        key.sort_unstable();
        key.dedup();
        self.index.get(key.as_slice()).copied()
    }

    /// Adds the set for `key` (as [`RoleSets::lookup`] left it, not found).
    pub(super) fn insert(&mut self, key: &[RoleId]) -> u32 {
        let key: Arc<[RoleId]> = key.into();
        self.push(&key);
        let index = to_u32(self.len() - 1);
        self.keys.push(key.clone());
        self.index.insert(key, index);
        index
    }

    /// These sets with `changed` roles added or replaced and `removed`
    /// dropped: every set recomputed at its index.
    pub(super) fn with_roles(
        &self,
        changed: &[RoleEntry],
        removed: &[RoleId],
        catalog: &Catalog,
    ) -> Self {
        let mut roles = self.roles.clone();
        for id in removed {
            roles.remove(id);
        }
        for role in changed {
            roles.insert(role.id, role_bits(role, catalog));
        }
        let mut sets = Self {
            stride: self.stride,
            words: Vec::with_capacity(self.words.len()),
            name_ends: Vec::with_capacity(self.name_ends.len()),
            names: Vec::with_capacity(self.names.len()),
            keys: self.keys.clone(),
            index: self.index.clone(),
            roles,
        };
        for key in &self.keys {
            sets.push(key);
        }
        sets
    }

    /// Drops the spare capacity left by growing while building.
    pub(super) fn shrink_to_fit(&mut self) {
        self.words.shrink_to_fit();
        self.name_ends.shrink_to_fit();
        self.names.shrink_to_fit();
        self.keys.shrink_to_fit();
    }

    /// Appends the union of the roles `key` names (those still known).
    fn push(&mut self, key: &[RoleId]) {
        let mut allowed = ActionSet::with_capacity(self.stride * 64);
        for (name, role_actions) in key.iter().filter_map(|id| self.roles.get(id)) {
            allowed.union_with(role_actions);
            self.names.push(name.clone());
        }
        // Exactly `stride` words: the capacity is `stride * 64` actions.
        self.words.extend_from_slice(allowed.words());
        self.name_ends.push(to_u32(self.names.len()));
    }

    /// The role names of set `set`.
    pub(super) fn names(&self, set: u32) -> &[Arc<str>] {
        let set = set as usize;
        let start = set
            .checked_sub(1)
            .map_or(0, |prev| self.name_ends[prev] as usize);
        &self.names[start..self.name_ends[set] as usize]
    }

    /// Starts loading the word [`RoleSets::allows`] will read.
    pub(super) fn prefetch(&self, set: u32, id: ActionId) {
        if let Some(word) = self.word(set, id) {
            prefetch(word);
        }
    }

    fn word(&self, set: u32, id: ActionId) -> Option<&u64> {
        let (word, _) = ActionSet::position(id);
        // Ids beyond the stride cannot come from this snapshot's catalog.
        (word < self.stride).then(|| &self.words[set as usize * self.stride + word])
    }

    /// Whether set `set` allows action `id`.
    pub(super) fn allows(&self, set: u32, id: ActionId) -> bool {
        let (_, bit) = ActionSet::position(id);
        self.word(set, id)
            .is_some_and(|word| word & (1 << bit) != 0)
    }
}

/// A role's name and its allowed actions as a bitset; names the catalog
/// no longer knows are ignored.
fn role_bits(role: &RoleEntry, catalog: &Catalog) -> RoleBits {
    let mut set = ActionSet::with_capacity(catalog.len());
    for id in role.actions.iter().filter_map(|a| catalog.resolve(a)) {
        set.insert(id);
    }
    (Arc::from(role.name.as_str()), set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: i64, name: &str, actions: &[&str]) -> RoleEntry {
        RoleEntry {
            id: RoleId(id),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn role_sets_keep_their_names_and_bits_apart() {
        let catalog = Catalog::builtin();
        let roles = [
            role(1, "A", &["GetClients"]),
            role(2, "B", &["UpdateClientAddon"]),
        ];
        let mut sets = RoleSets::new(&roles, &catalog);
        let mut key = Vec::new();
        let empty = sets.intern(&[], &mut key);
        let both = sets.intern(&[RoleId(2), RoleId(1), RoleId(2)], &mut key);
        let b = sets.intern(&[RoleId(2), RoleId(99)], &mut key);
        assert_eq!(sets.intern(&[RoleId(1), RoleId(2)], &mut key), both);
        let id = |name| catalog.resolve(name).unwrap();
        assert!(sets.names(empty).is_empty());
        assert_eq!(sets.names(both).len(), 2);
        assert_eq!(&*sets.names(b)[0], "B");
        assert!(!sets.allows(empty, id("GetClients")));
        assert!(sets.allows(both, id("GetClients")) && sets.allows(both, id("UpdateClientAddon")));
        assert!(!sets.allows(b, id("GetClients")) && sets.allows(b, id("UpdateClientAddon")));
        assert!(!sets.allows(b, ActionId::from_index(60_000)));
    }

    #[test]
    fn changed_roles_are_recomputed_in_place() {
        let catalog = Catalog::builtin();
        let mut sets = RoleSets::new(&[role(1, "A", &["GetClients"])], &catalog);
        let mut key = Vec::new();
        let a = sets.intern(&[RoleId(1)], &mut key);
        let id = |name| catalog.resolve(name).unwrap();

        let renamed = sets.with_roles(&[role(1, "A2", &["GetInvoices"])], &[], &catalog);
        assert_eq!(&*renamed.names(a)[0], "A2");
        assert!(!renamed.allows(a, id("GetClients")) && renamed.allows(a, id("GetInvoices")));
        // The original is untouched: snapshots in flight keep their view.
        assert!(sets.allows(a, id("GetClients")));

        let gone = renamed.with_roles(&[], &[RoleId(1)], &catalog);
        assert!(gone.names(a).is_empty());
        assert!(!gone.allows(a, id("GetInvoices")));
    }
}
