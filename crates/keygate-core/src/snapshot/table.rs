//! The slot table: credentials by identifier, one 128-byte slot each.

use std::hash::{BuildHasher, RandomState};

use super::hot::Hot;
use super::{prefetch, to_u32};
use crate::secret::{SecretHashes, ShortHashes};

/// Identifiers up to this many bytes (all generated ones: 32) are stored in
/// their slot; longer imported ones also live in [`Table::long_ids`].
pub(super) const INLINE_ID: usize = 32;

/// `Slot::home` of a slot holding no credential: above every real home, so
/// a probe stops there as it does at any slot past the identifier's home.
pub(super) const EMPTY: u32 = u32::MAX;

/// One credential, with everything authentication reads about it in one
/// 128-byte, 64-aligned block: the secret hashes in the first cache line,
/// the identifier, expiry and indexes in the second.
#[derive(Clone)]
#[repr(C, align(64))]
pub(super) struct Slot {
    pub(super) hashes: ShortHashes,
    pub(super) id: [u8; INLINE_ID],
    /// Unix seconds from which the credential is expired; `i64::MAX`: never.
    pub(super) expires_at: i64,
    /// Where the probe for this identifier starts; [`EMPTY`] if unused.
    pub(super) home: u32,
    pub(super) id_len: u32,
    pub(super) long_id: u32,
    pub(super) admin: u32,
    pub(super) role_set: u32,
    /// Index + 1 into the base's extras; 0: none (and in overlay slots).
    pub(super) extra: u32,
    /// Enabled state, inline allowlist, own rate and local limiter state.
    pub(super) hot: Hot,
}

impl Slot {
    pub(super) fn empty() -> Self {
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

impl Slot {
    /// A slot for `fields` outside any table (a credential changed since
    /// the table was built): its identifier is kept beside it.
    pub(super) fn detached(fields: SlotFields) -> Self {
        Self {
            hashes: fields.hashes,
            admin: fields.admin,
            role_set: fields.role_set,
            expires_at: fields.expires_at,
            extra: fields.extra,
            hot: fields.hot,
            ..Self::empty()
        }
    }

    /// Takes over everything but the identifier and home from `other`.
    fn take_fields(&mut self, other: Slot) {
        self.hashes = other.hashes;
        self.admin = other.admin;
        self.role_set = other.role_set;
        self.expires_at = other.expires_at;
        self.extra = other.extra;
        self.hot = other.hot;
    }
}

/// What a slot holds about a credential besides its identifier.
pub(super) struct SlotFields {
    pub(super) hashes: ShortHashes,
    pub(super) admin: u32,
    pub(super) role_set: u32,
    pub(super) expires_at: i64,
    pub(super) extra: u32,
    pub(super) hot: Hot,
}

/// Credentials on their way into a [`Table`]: their slots, identifiers
/// included, in the order added (homes are known only once all are in).
/// At a million credentials this is what a full build holds besides the
/// table, so it is the slots themselves, not a copy of every row.
#[derive(Default)]
pub(super) struct Pending {
    slots: Vec<Slot>,
    long_ids: Vec<Box<str>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("len", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// Room for `additional` more.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.slots.reserve_exact(additional);
    }

    /// How many were added.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds the credential `identifier` with `fields`; a repeated
    /// identifier replaces the earlier one, as with a map insert.
    pub(super) fn push(&mut self, identifier: &str, fields: SlotFields) {
        let bytes = identifier.as_bytes();
        let inline = bytes.len().min(INLINE_ID);
        let mut slot = Slot {
            id_len: to_u32(bytes.len()),
            ..Slot::detached(fields)
        };
        slot.id[..inline].copy_from_slice(&bytes[..inline]);
        if bytes.len() > INLINE_ID {
            slot.long_id = to_u32(self.long_ids.len());
            self.long_ids.push(identifier.into());
        }
        self.slots.push(slot);
    }
}

/// The slots a table of the sorted `order` takes: each credential at its
/// home or right after the previous one, plus the empty slot that ends the
/// last run, and never fewer than `homes + 1` (a repeated identifier takes
/// no slot, so this is an upper bound).
fn table_len(order: &[(u32, u32)], homes: usize) -> usize {
    let used = order
        .iter()
        .fold(0, |next, &(home, _)| next.max(home as usize) + 1);
    (used + 1).max(homes + 1)
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
pub(super) struct Table {
    /// Keyed (SipHash) so identifiers an attacker picks cannot pile up in
    /// one run.
    hasher: RandomState,
    /// Number of possible homes: twice the credentials, so runs stay short.
    homes: usize,
    pub(super) slots: Box<[Slot]>,
    long_ids: Vec<Box<str>>,
    pub(super) len: usize,
}

impl Table {
    /// The table of every credential in `pending`.
    pub(super) fn build(pending: Pending) -> Self {
        let Pending {
            slots: mut pending,
            long_ids,
        } = pending;
        let homes = pending.len().saturating_mul(2).max(8);
        // Homes are stored as `u32`, below the EMPTY marker.
        assert!(
            homes < EMPTY as usize,
            "too many credentials for one snapshot"
        );
        let mut table = Self {
            hasher: RandomState::new(),
            homes,
            slots: Box::default(),
            long_ids,
            len: 0,
        };
        // Sorting (home, position) pairs rather than the 128-byte slots
        // moves little, and the position keeps a repeated identifier in
        // the order added, so the last one wins below.
        let mut order: Vec<(u32, u32)> = pending
            .iter()
            .enumerate()
            .map(|(i, slot)| (to_u32(table.home(table.identifier(slot))), to_u32(i)))
            .collect();
        order.sort_unstable();

        let blank = Slot::empty();
        // Exactly the room the slots will take, spill past the last home
        // included: growing a table of 256 MB when its last run spilled
        // copied all of it (a fifth of start-up at a million credentials).
        let mut slots: Vec<Slot> = Vec::with_capacity(table_len(&order, homes));
        for (home, i) in order {
            let new = std::mem::replace(&mut pending[i as usize], blank.clone());
            if let Some(existing) = slots
                .iter_mut()
                .rev()
                .take_while(|s| s.home == home)
                .find(|s| same_identifier(&table.long_ids, s, &new))
            {
                existing.take_fields(new);
                continue;
            }
            if slots.len() < home as usize {
                slots.resize(home as usize, blank.clone());
            }
            slots.push(Slot { home, ..new });
            table.len += 1;
        }
        drop(pending);
        let end = (slots.len() + 1).max(homes + 1);
        slots.resize(end, blank);
        table.slots = slots.into_boxed_slice();
        table.long_ids.shrink_to_fit();
        table
    }

    /// Where the probe for `identifier` starts.
    pub(super) fn home(&self, identifier: &str) -> usize {
        self.home_at(self.hash(identifier))
    }

    /// The keyed hash of `identifier`: where its probe starts
    /// ([`Table::home_at`]) and its key among changed credentials, so a
    /// lookup hashes the identifier once.
    pub(super) fn hash(&self, identifier: &str) -> u64 {
        self.hasher.hash_one(identifier.as_bytes())
    }

    /// Where the probe for an identifier of hash `hash` starts.
    pub(super) fn home_at(&self, hash: u64) -> usize {
        scale(hash, self.homes)
    }

    /// Every credential held, with its identifier.
    pub(super) fn occupied(&self) -> impl Iterator<Item = (&str, &Slot)> {
        self.slots
            .iter()
            .filter(|slot| slot.home != EMPTY)
            .map(|slot| (self.identifier(slot), slot))
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
    pub(super) fn prefetch(&self, home: usize) {
        // `home + 1` exists: there is always one more slot than homes.
        for slot in &self.slots[home..home + 2] {
            prefetch(&slot.hashes);
            prefetch(&slot.home);
        }
    }

    /// The slot holding `identifier`, whose home is `home`.
    pub(super) fn get_from(&self, home: usize, identifier: &str) -> Option<&Slot> {
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
    pub(super) fn identifier<'a>(&'a self, slot: &'a Slot) -> &'a str {
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
/// Whether two slots of one table (sharing `long_ids`) hold the same
/// identifier.
fn same_identifier(long_ids: &[Box<str>], a: &Slot, b: &Slot) -> bool {
    a.id_len == b.id_len
        && a.id == b.id
        && (a.id_len as usize <= INLINE_ID
            || long_ids[a.long_id as usize] == long_ids[b.long_id as usize])
}

/// `hash` scaled to `0..homes`.
fn scale(hash: u64, homes: usize) -> usize {
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

/// The slot is two cache lines: a lookup touches at most those two.
const _: () = assert!(std::mem::size_of::<Slot>() == 128);
/// The slot table, beyond what the rule table in the snapshot's
/// `tests.rs` covers: long and similar identifiers, probing, replacement.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::PresentedSecret;

    /// A table of `(identifier, secret, admin)` triples.
    fn table(credentials: &[(&str, &str, u32)]) -> Table {
        let hashes: Vec<SecretHashes> = credentials.iter().map(|c| SecretHashes::of(c.1)).collect();
        let mut pending = Pending::default();
        for (&(identifier, _, admin), hashes) in credentials.iter().zip(&hashes) {
            let fields = SlotFields {
                hashes: hashes.short(),
                admin,
                role_set: 0,
                expires_at: i64::MAX,
                extra: 0,
                hot: Hot::plain(),
            };
            pending.push(identifier, fields);
        }
        Table::build(pending)
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
    fn the_table_is_allocated_at_its_final_length() {
        // (homes, sorted homes) -> slots: at least homes + 1, and a last
        // run that spills past the homes still ends in an empty slot.
        for (homes, order, expected) in [
            (8, vec![], 9),
            (8, vec![0, 3], 9),
            (8, vec![7, 7, 7], 11),
            (8, vec![5, 5, 6, 6, 7], 11),
            (4, vec![0, 0, 0, 0, 0, 0], 7),
        ] {
            let order: Vec<(u32, u32)> = order.into_iter().zip(0..).collect();
            assert_eq!(table_len(&order, homes), expected, "{order:?}");
        }
        // A full build never grows (or shrinks) its slots after the fact.
        let identifiers: Vec<String> = (0..3_000).map(|i| format!("k{i}")).collect();
        let triples: Vec<(&str, &str, u32)> =
            identifiers.iter().map(|id| (id.as_str(), "s", 0)).collect();
        let table = table(&triples);
        assert_eq!(table.slots.last().unwrap().home, EMPTY);
        assert!(table.slots.len() > 2 * identifiers.len());
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
}
