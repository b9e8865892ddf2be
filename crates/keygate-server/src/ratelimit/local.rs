//! The in-process limiter: one GCRA timestamp per key in sharded hash maps
//! of bounded size.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use keygate_core::rate::gcra;
use keygate_core::Rate;

use super::Verdict;

/// How many independently locked maps the keys are spread over.
const SHARDS: usize = 16;

/// How many keys the limiter keeps at most (over all shards).
const DEFAULT_CAPACITY: usize = 100_000;

/// Keys are stored as their 64-bit keyed SipHash: one hash per call, no
/// key allocation. Two keys collide (and share a budget) with probability
/// 2^-64, and the hash key is random per process, so nobody can aim at a
/// collision.
type Shard = HashMap<u64, u64, BuildHasherDefault<Prehashed>>;

/// The map's hasher for keys that already are hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in, to stay correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// GCRA state in memory: key → TAT (nanoseconds since `epoch`).
pub(super) struct LocalLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    shard_capacity: usize,
    epoch: Instant,
}

impl LocalLimiter {
    /// A limiter keeping at most [`DEFAULT_CAPACITY`] keys.
    pub(super) fn new() -> LocalLimiter {
        LocalLimiter::with_capacity(DEFAULT_CAPACITY)
    }

    /// A limiter keeping at most about `capacity` keys.
    pub(super) fn with_capacity(capacity: usize) -> LocalLimiter {
        LocalLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            shard_capacity: (capacity / SHARDS).max(1),
            epoch: Instant::now(),
        }
    }

    /// One decision for `key` now; `consume` counts the call when allowed.
    pub(super) fn check(&self, key: &str, rate: Rate, consume: bool) -> Verdict {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.check_at(key, rate, consume, now)
    }

    /// One decision for `key` at `now` (nanoseconds since `epoch`). No
    /// allocation unless a shard grows.
    pub(super) fn check_at(&self, key: &str, rate: Rate, consume: bool, now: u64) -> Verdict {
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash);
        if let Some(tat) = shard.get_mut(&hash) {
            let outcome = gcra(Some(*tat), now, rate, consume);
            *tat = outcome.new_tat;
            return Verdict::from_outcome(outcome);
        }
        let outcome = gcra(None, now, rate, consume);
        // A TAT that is not in the future is the same as no state.
        if outcome.new_tat > now {
            make_room(&mut shard, self.shard_capacity, now);
            shard.insert(hash, outcome.new_tat);
        }
        Verdict::from_outcome(outcome)
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // The top bits: the map itself uses the low ones.
        let index = (hash >> 60) as usize % SHARDS;
        // A panic while holding the lock cannot leave a TAT half-written.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many keys are held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        (0..SHARDS)
            .map(|i| self.shards[i].lock().map_or(0, |s| s.len()))
            .sum()
    }
}

/// Before inserting into a full shard: drop the keys whose TAT is past
/// (they carry no state); if that frees less than a quarter of the shard,
/// also drop the keys closest to expiry (they lose the least: such a key
/// only gets its burst back a little early). Each cleanup frees at least a
/// quarter of the shard, so its cost is amortised O(1) per insert.
fn make_room(shard: &mut Shard, capacity: usize, now: u64) {
    if shard.len() < capacity {
        return;
    }
    shard.retain(|_, tat| *tat > now);
    let target = capacity - (capacity / 4).max(1);
    if shard.len() <= target {
        return;
    }
    let excess = shard.len() - target;
    let mut tats: Vec<u64> = shard.values().copied().collect();
    let (_, threshold, _) = tats.select_nth_unstable(excess - 1);
    let threshold = *threshold;
    shard.retain(|_, tat| *tat > threshold);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    #[test]
    fn table() {
        let limiter = LocalLimiter::new();
        let r = rate("2/s");
        let half = SEC / 2;
        // (key, offset ns, consume, allowed)
        let steps = [
            ("a", 0, true, true),
            ("a", 0, false, true),
            ("a", 0, true, true),
            ("a", 0, false, false),
            ("a", 0, true, false),
            ("b", 0, true, true),
            ("a", half - 1, true, false),
            ("a", half, true, true),
            ("a", half, true, false),
            ("a", 5 * SEC, true, true),
            ("a", 5 * SEC, true, true),
            ("a", 5 * SEC, true, false),
        ];
        for (i, (key, at, consume, allowed)) in steps.into_iter().enumerate() {
            let verdict = limiter.check_at(key, r, consume, 1000 + at);
            assert_eq!(verdict.is_allowed(), allowed, "step {i}: {verdict:?}");
        }
    }

    #[test]
    fn limited_verdicts_say_how_long_to_wait() {
        let limiter = LocalLimiter::new();
        let r = rate("10/s");
        for _ in 0..10 {
            assert!(limiter.check_at("k", r, true, 0).is_allowed());
        }
        let verdict = limiter.check_at("k", r, true, SEC / 40);
        assert_eq!(
            verdict,
            Verdict::Limited {
                retry_after: std::time::Duration::from_nanos(SEC / 10 - SEC / 40)
            }
        );
    }

    #[test]
    fn peeks_and_refusals_store_nothing_new() {
        let limiter = LocalLimiter::new();
        let r = rate("1/m");
        for i in 0..100 {
            limiter.check_at(&format!("k{i}"), r, false, 0);
        }
        assert_eq!(limiter.len(), 0);
        limiter.check_at("k", r, true, 0);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn memory_stays_bounded_and_expired_keys_go_first() {
        let limiter = LocalLimiter::with_capacity(SHARDS * 100);
        let r = rate("1/s");
        for i in 0..10_000u64 {
            // Each key's TAT is 1 s after its call: the older ones expire.
            limiter.check_at(&format!("k{i}"), r, true, i * SEC / 1000);
            assert!(limiter.len() <= SHARDS * 100, "after {i}");
        }
        // All 10 000 keys are active at the same moment: still bounded.
        for i in 0..10_000u64 {
            limiter.check_at(&format!("burst{i}"), r, true, 20 * SEC);
        }
        assert!(limiter.len() <= SHARDS * 100);
    }

    #[test]
    fn eviction_keeps_the_keys_furthest_from_expiry() {
        let limiter = LocalLimiter::with_capacity(SHARDS * 100);
        let r = rate("1/s");
        // The key made last in time has the latest TAT (11 s) ...
        limiter.check_at("keep", r, true, 10 * SEC);
        for i in 0..10_000u64 {
            limiter.check_at(&format!("k{i}"), r, true, i * SEC / 1000);
        }
        // ... so it survived every cleanup and is still limited.
        assert!(!limiter.check_at("keep", r, false, 10 * SEC).is_allowed());
    }

    #[test]
    fn make_room_drops_expired_keys_then_the_soonest_expiring() {
        let mut shard: Shard = (0..8u64).map(|i| (i, i)).collect();
        make_room(&mut shard, 8, 3);
        // Keys with TAT 0..=3 are past; 4 remain, under the 6 target.
        assert_eq!(shard.len(), 4);
        let mut shard: Shard = (0..8u64).map(|i| (i, 100 + i)).collect();
        make_room(&mut shard, 8, 3);
        assert_eq!(shard.len(), 6);
        assert!(!shard.contains_key(&0) && !shard.contains_key(&1));
        let mut shard: Shard = (0..3u64).map(|i| (i, 100)).collect();
        make_room(&mut shard, 8, 3);
        assert_eq!(shard.len(), 3, "not full: untouched");
    }

    #[test]
    fn concurrent_hits_share_one_exact_budget() {
        let limiter = Arc::new(LocalLimiter::new());
        let r = rate("1000/h");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .filter(|_| limiter.check("shared", r, true).is_allowed())
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(allowed, 1000);
    }
}
