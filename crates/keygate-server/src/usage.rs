//! Usage per credential: every authenticated call is counted in memory per
//! (credential, action, hour, outcome) and the counts are added to the
//! store's hourly buckets in one batch with the last-access times
//! ([`crate::access::flush_loop`]), never with a write per request.
//!
//! On the hot path a call costs a thread-local shard index, one uncontended
//! lock, two hash-map lookups (the identifier, then a packed
//! hour/action/outcome key) and an increment: no clock read (the hour comes
//! from the call's start [`Instant`], which the call log has anyway) and no
//! allocation once the credential and key have been seen since the last
//! flush. Actions the
//! catalog knows are kept as their [`ActionId`] and named at the flush;
//! names it does not know are kept per credential, lowercased, cut to
//! [`MAX_ACTION_NAME`] bytes and at most [`MAX_UNKNOWN_ACTIONS`] of them
//! between two flushes, the rest counted under [`OTHER_ACTIONS`], so a
//! client calling made-up actions cannot grow memory without bound.
//! Calls that belong to no credential (failed authentication, the
//! failed-attempt throttle, malformed requests) are not counted.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use keygate_core::usage::{UsageOutcome, HOUR};
use keygate_core::{ActionId, Catalog};
use keygate_store::{now_secs, Manager, UsageCount};

use crate::config::UsageConfig;
use crate::metrics::Outcome;

/// Longest unknown action name kept, in bytes (cut at a character
/// boundary); WHMCS's own names are far shorter.
pub const MAX_ACTION_NAME: usize = 64;

/// Distinct unknown action names counted per credential between two
/// flushes; further ones are counted under [`OTHER_ACTIONS`].
pub const MAX_UNKNOWN_ACTIONS: usize = 16;

/// Where unknown actions beyond [`MAX_UNKNOWN_ACTIONS`] are counted.
pub const OTHER_ACTIONS: &str = "(other unknown actions)";

/// Counts kept for the next flush while the store cannot be written: past
/// this many (credential, hour, action, outcome) rows the oldest batch is
/// dropped, with an error in the log.
const MAX_PENDING: usize = 200_000;

/// How often buckets past the retention are deleted (also once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How many independently locked maps calls are spread over.
const SHARDS: usize = 16;

/// Packed action slots: catalog ids below [`UNKNOWN_SLOT`], then a
/// credential's unknown names, then [`OTHER_SLOT`].
const UNKNOWN_SLOT: u32 = 1 << 31;
const OTHER_SLOT: u32 = u32::MAX;

/// The calls of one credential since the last flush.
#[derive(Default)]
struct Tally {
    /// Packed (hour index, action slot, outcome) → calls.
    counts: HashMap<u64, u64, BuildHasherDefault<Mix>>,
    /// Unknown action names, lowercased, by slot.
    unknown: Vec<Box<str>>,
}

type Shard = HashMap<Box<str>, Tally, IdentifierHasher>;

/// Hashes credential identifiers (authenticated ones only) quickly.
pub(crate) type IdentifierHasher = BuildHasherDefault<Fold>;

/// A shard on its own cache lines, so two threads' locks do not share one.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

/// The in-memory counters every call goes through; shared by the handlers
/// and the flusher.
pub struct UsageCounter {
    enabled: bool,
    shards: Box<[Padded]>,
    /// A monotonic instant, and the wall clock (unix seconds) at it,
    /// re-read at every flush so a wall-clock step is followed.
    epoch: Instant,
    wall_at_epoch: AtomicI64,
    /// Counts named before a catalog change, waiting for the next flush.
    settled: Mutex<Vec<UsageCount>>,
}

impl UsageCounter {
    /// Counters; with `enabled` false every call is ignored (the
    /// benchmark's "without").
    pub fn new(enabled: bool) -> Self {
        let counter = Self {
            enabled,
            shards: (0..SHARDS)
                .map(|_| Padded(Mutex::new(Shard::default())))
                .collect(),
            epoch: Instant::now(),
            wall_at_epoch: AtomicI64::new(0),
            settled: Mutex::new(Vec::new()),
        };
        counter.resync();
        counter
    }

    /// Re-reads the wall clock against the monotonic one.
    fn resync(&self) {
        let since_epoch = i64::try_from(self.epoch.elapsed().as_secs()).unwrap_or(0);
        self.wall_at_epoch
            .store(now_secs() - since_epoch, Ordering::Relaxed);
    }

    /// Unix seconds at `at` (a call's start).
    fn wall_secs(&self, at: Instant) -> i64 {
        let since_epoch = at.saturating_duration_since(self.epoch).as_secs();
        self.wall_at_epoch.load(Ordering::Relaxed) + i64::try_from(since_epoch).unwrap_or(0)
    }

    /// Whether calls are counted.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts one call, started at `started`, that ended with `outcome`;
    /// ignored unless it belongs to a credential. `action_id` is the
    /// catalog's id of `action`, when it knows it.
    pub fn record(
        &self,
        identifier: &str,
        action: &str,
        action_id: Option<ActionId>,
        outcome: Outcome,
        started: Instant,
    ) {
        if !self.enabled {
            return;
        }
        let Some(outcome) = usage_outcome(outcome) else {
            return;
        };
        let at = self.wall_secs(started);
        self.record_at(identifier, action, action_id, outcome, at);
    }

    fn record_at(
        &self,
        identifier: &str,
        action: &str,
        action_id: Option<ActionId>,
        outcome: UsageOutcome,
        at: i64,
    ) {
        let hour = u64::try_from(at.div_euclid(HOUR)).unwrap_or(0);
        let mut shard = self.shard();
        match shard.get_mut(identifier) {
            Some(tally) => tally.add(hour, action, action_id, outcome),
            None => {
                let mut tally = Tally::default();
                tally.add(hour, action, action_id, outcome);
                shard.insert(identifier.into(), tally);
            }
        }
    }

    /// This thread's shard: tokio's workers each get their own, so the
    /// lock is almost never contended.
    fn shard(&self) -> MutexGuard<'_, Shard> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        let index = INDEX.with(|index| {
            if index.get() == usize::MAX {
                index.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
            }
            index.get()
        });
        // A panic while holding the lock cannot leave a count half-added.
        self.shards[index]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes every count so far, naming catalog actions with `catalog`.
    pub fn take(&self, catalog: &Catalog) -> Vec<UsageCount> {
        self.resync();
        let mut counts = std::mem::take(&mut *lock(&self.settled));
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *lock(&shard.0));
            for (identifier, tally) in taken {
                for (&key, &count) in &tally.counts {
                    let (hour, slot, outcome) = unpack(key);
                    counts.push(UsageCount {
                        identifier: identifier.to_string(),
                        hour,
                        action: tally.action_name(slot, catalog),
                        outcome,
                        count,
                    });
                }
            }
        }
        counts
    }

    /// Names the counts so far with `old`, before a configuration reload
    /// puts another catalog in force (whose ids may mean other actions);
    /// the next flush writes them.
    pub fn settle(&self, old: &Catalog) {
        let counts = self.take(old);
        lock(&self.settled).extend(counts);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tally {
    fn add(&mut self, hour: u64, action: &str, action_id: Option<ActionId>, outcome: UsageOutcome) {
        let slot = match action_id {
            Some(id) if id.index() < UNKNOWN_SLOT as usize => id.index() as u32,
            _ => self.unknown_slot(action),
        };
        *self.counts.entry(pack(hour, slot, outcome)).or_insert(0) += 1;
    }

    fn unknown_slot(&mut self, action: &str) -> u32 {
        let name = cut(action, MAX_ACTION_NAME);
        if let Some(i) = self
            .unknown
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
        {
            return UNKNOWN_SLOT + i as u32;
        }
        if self.unknown.len() < MAX_UNKNOWN_ACTIONS {
            self.unknown.push(name.to_ascii_lowercase().into());
            return UNKNOWN_SLOT + (self.unknown.len() - 1) as u32;
        }
        OTHER_SLOT
    }

    fn action_name(&self, slot: u32, catalog: &Catalog) -> String {
        if slot < UNKNOWN_SLOT {
            let id = ActionId::from_index(slot as usize);
            if id.index() < catalog.len() {
                return catalog.action(id).name.clone();
            }
            return OTHER_ACTIONS.into();
        }
        match self.unknown.get((slot - UNKNOWN_SLOT) as usize) {
            Some(name) if slot != OTHER_SLOT => name.to_string(),
            _ => OTHER_ACTIONS.into(),
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Hour index (24 bits are ~1900 years), action slot, outcome in one key.
fn pack(hour: u64, slot: u32, outcome: UsageOutcome) -> u64 {
    (hour << 40) | (u64::from(slot) << 8) | outcome as u64
}

fn unpack(key: u64) -> (i64, u32, UsageOutcome) {
    let hour = i64::try_from(key >> 40).unwrap_or(0) * HOUR;
    let slot = ((key >> 8) & u64::from(u32::MAX)) as u32;
    let index = (key & 0xff) as u8;
    let outcome = UsageOutcome::ALL
        .into_iter()
        .find(|o| *o as u8 == index)
        .unwrap_or(UsageOutcome::Allowed);
    (hour, slot, outcome)
}

/// How a call ended, as usage counts it; `None` for calls that belong to
/// no credential.
pub fn usage_outcome(outcome: Outcome) -> Option<UsageOutcome> {
    Some(match outcome {
        Outcome::Allowed => UsageOutcome::Allowed,
        Outcome::ActionNotAllowed => UsageOutcome::ActionNotAllowed,
        Outcome::Disabled => UsageOutcome::Disabled,
        Outcome::Expired => UsageOutcome::Expired,
        Outcome::IpNotAllowed => UsageOutcome::IpNotAllowed,
        Outcome::RateLimited => UsageOutcome::RateLimited,
        Outcome::OutsideScope => UsageOutcome::OutsideScope,
        Outcome::ResponseBlocked => UsageOutcome::ResponseBlocked,
        Outcome::AuthenticationFailed | Outcome::BadRequest | Outcome::Throttled => return None,
    })
}

/// What a count adds to: one bucket row.
type BucketKey = (String, i64, String, UsageOutcome);

/// The flusher's side: counts waiting to be written (kept across a failed
/// write) and the retention to prune to.
pub struct UsageFlusher {
    counter: Arc<UsageCounter>,
    retention_days: u32,
    pending: HashMap<BucketKey, u64>,
}

impl UsageFlusher {
    /// Flushes `counter` and prunes buckets older than the retention.
    pub fn new(counter: Arc<UsageCounter>, config: &UsageConfig) -> Self {
        Self {
            counter,
            retention_days: config.retention_days,
            pending: HashMap::new(),
        }
    }

    /// How often [`UsageFlusher::prune`] should run.
    pub fn prune_every(&self) -> Duration {
        PRUNE_EVERY
    }

    /// Adds everything counted so far to the store in one batch; on
    /// failure keeps it for the next flush.
    pub async fn flush(&mut self, manager: &Manager) {
        for count in self.counter.take(&manager.catalog()) {
            let key = (count.identifier, count.hour, count.action, count.outcome);
            *self.pending.entry(key).or_insert(0) += count.count;
        }
        if self.pending.is_empty() {
            return;
        }
        let batch: Vec<UsageCount> = self
            .pending
            .drain()
            .map(|((identifier, hour, action, outcome), count)| UsageCount {
                identifier,
                hour,
                action,
                outcome,
                count,
            })
            .collect();
        if let Err(e) = manager.store().record_usage(&batch).await {
            if batch.len() > MAX_PENDING {
                let calls: u64 = batch.iter().map(|c| c.count).sum();
                tracing::error!(error = %e, rows = batch.len(), calls, "cannot record usage counts; too many waiting, dropping them");
                return;
            }
            tracing::warn!(error = %e, rows = batch.len(), "cannot record usage counts; retrying later");
            for count in batch {
                let key = (count.identifier, count.hour, count.action, count.outcome);
                *self.pending.entry(key).or_insert(0) += count.count;
            }
        }
    }

    /// Deletes the buckets of hours that ended before the retention.
    pub async fn prune(&self, manager: &Manager) {
        let before =
            keygate_core::usage::hour_of(now_secs() - i64::from(self.retention_days) * 86_400);
        match manager.store().prune_usage(before).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, days = self.retention_days, "pruned old usage counts"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot prune old usage counts; trying again in an hour")
            }
        }
    }
}

/// FxHash-style hasher for identifiers: a few cycles per 8 bytes. Only
/// authenticated identifiers become keys, so nobody picks them to collide.
#[derive(Default)]
pub(crate) struct Fold(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for Fold {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(SEED);
    }
}

/// Hasher for the packed keys: one finaliser over the `u64`.
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = mix(n);
    }
}

/// MurmurHash3's 64-bit finaliser: every input bit moves every output bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn totals(counts: &[UsageCount]) -> BTreeMap<(String, i64, String, UsageOutcome), u64> {
        let mut out = BTreeMap::new();
        for c in counts {
            *out.entry((c.identifier.clone(), c.hour, c.action.clone(), c.outcome))
                .or_insert(0) += c.count;
        }
        out
    }

    #[test]
    fn counts_per_credential_action_hour_and_outcome() {
        let catalog = Catalog::builtin();
        let get_clients = catalog.resolve("getclients").unwrap();
        let counter = UsageCounter::new(true);
        let t0 = 1_800_000_000;
        for _ in 0..3 {
            counter.record_at(
                "a",
                "getclients",
                Some(get_clients),
                UsageOutcome::Allowed,
                t0,
            );
        }
        counter.record_at(
            "a",
            "GetClients",
            Some(get_clients),
            UsageOutcome::RateLimited,
            t0,
        );
        counter.record_at(
            "a",
            "GetClients",
            Some(get_clients),
            UsageOutcome::Allowed,
            t0 + HOUR,
        );
        counter.record_at("b", "MadeUp", None, UsageOutcome::ActionNotAllowed, t0);
        counter.record_at("b", "madeup", None, UsageOutcome::ActionNotAllowed, t0);
        let got = totals(&counter.take(&catalog));
        let hour = keygate_core::usage::hour_of(t0);
        let key = |id: &str, h: i64, a: &str, o| (id.to_string(), h, a.to_string(), o);
        let want = BTreeMap::from([
            (key("a", hour, "GetClients", UsageOutcome::Allowed), 3),
            (key("a", hour, "GetClients", UsageOutcome::RateLimited), 1),
            (
                key("a", hour + HOUR, "GetClients", UsageOutcome::Allowed),
                1,
            ),
            (key("b", hour, "madeup", UsageOutcome::ActionNotAllowed), 2),
        ]);
        assert_eq!(got, want);
        assert!(counter.take(&catalog).is_empty(), "taken once");
    }

    #[test]
    fn unknown_names_are_cut_and_capped() {
        let catalog = Catalog::builtin();
        let counter = UsageCounter::new(true);
        for i in 0..100 {
            let name = format!("Unknown{i}");
            counter.record_at("a", &name, None, UsageOutcome::ActionNotAllowed, 0);
        }
        let long = "é".repeat(100);
        counter.record_at("b", &long, None, UsageOutcome::ActionNotAllowed, 0);
        let got = totals(&counter.take(&catalog));
        let named = got
            .keys()
            .filter(|k| k.0 == "a" && k.2 != OTHER_ACTIONS)
            .count();
        assert_eq!(named, MAX_UNKNOWN_ACTIONS);
        let other = (
            "a".to_string(),
            0,
            OTHER_ACTIONS.to_string(),
            UsageOutcome::ActionNotAllowed,
        );
        assert_eq!(got[&other], 100 - MAX_UNKNOWN_ACTIONS as u64);
        assert_eq!(got.values().sum::<u64>(), 101, "every call counted");
        let cut_name = got.keys().find(|k| k.0 == "b").unwrap().2.clone();
        assert!(cut_name.len() <= MAX_ACTION_NAME && cut_name.len() >= MAX_ACTION_NAME - 1);
    }

    #[test]
    fn only_calls_of_a_credential_are_counted() {
        let counter = UsageCounter::new(true);
        for outcome in [
            Outcome::AuthenticationFailed,
            Outcome::BadRequest,
            Outcome::Throttled,
        ] {
            counter.record("-", "GetClients", None, outcome, Instant::now());
        }
        assert!(counter.take(&Catalog::builtin()).is_empty());
        let off = UsageCounter::new(false);
        off.record("a", "GetClients", None, Outcome::Allowed, Instant::now());
        assert!(off.take(&Catalog::builtin()).is_empty());
        for outcome in [
            Outcome::Allowed,
            Outcome::ActionNotAllowed,
            Outcome::Disabled,
            Outcome::Expired,
            Outcome::IpNotAllowed,
            Outcome::RateLimited,
            Outcome::OutsideScope,
            Outcome::ResponseBlocked,
        ] {
            let usage = usage_outcome(outcome).unwrap();
            assert_eq!(unpack(pack(490_000, 7, usage)), (490_000 * HOUR, 7, usage));
        }
    }

    #[test]
    fn hours_come_from_the_call_start() {
        let counter = UsageCounter::new(true);
        let started = Instant::now();
        let wall = counter.wall_secs(started);
        assert!((wall - now_secs()).abs() <= 1, "{wall}");
        let later = started + Duration::from_secs(2 * HOUR as u64);
        assert_eq!(counter.wall_secs(later) - wall, 2 * HOUR);
        let catalog = Catalog::builtin();
        let id = catalog.resolve("GetClients").unwrap();
        counter.record("a", "GetClients", Some(id), Outcome::Allowed, started);
        let got = counter.take(&catalog);
        assert_eq!(got[0].hour, keygate_core::usage::hour_of(wall));
    }

    #[test]
    fn settled_counts_keep_the_old_names() {
        let custom = keygate_core::CustomAction {
            category: "Addons".into(),
            action: "AddonSync".into(),
            scope: None,
        };
        let old = Catalog::with_custom(&[custom]).unwrap();
        let counter = UsageCounter::new(true);
        let id = old.resolve("addonsync").unwrap();
        counter.record_at("a", "addonsync", Some(id), UsageOutcome::Allowed, 0);
        counter.settle(&old);
        // The reload removed the custom action: its id means nothing now.
        let got = counter.take(&Catalog::builtin());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].action, "AddonSync");
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let catalog = Arc::new(Catalog::builtin());
        let counter = Arc::new(UsageCounter::new(true));
        let id = catalog.resolve("GetClients").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let now = Instant::now();
                        counter.record("cred", "GetClients", Some(id), Outcome::Allowed, now);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let total: u64 = counter.take(&catalog).iter().map(|c| c.count).sum();
        assert_eq!(total, 80_000);
    }
}
