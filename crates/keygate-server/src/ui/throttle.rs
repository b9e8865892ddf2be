//! Login throttling: after repeated failures for a username (or from one
//! client address, when the server knows it) further attempts are refused
//! for a while, doubling up to a cap, before any password is checked. Keyed
//! by the name typed, whether or not such an admin exists, so the answer
//! does not reveal which usernames are real.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures for one username before it is locked.
pub const USER_LIMIT: u32 = 5;
/// Failures from one client address before it is locked (higher: several
/// admins may share an address behind a proxy).
pub const ADDRESS_LIMIT: u32 = 20;
/// First lock; each further failure doubles it.
const BASE_LOCK: Duration = Duration::from_secs(30);
/// Longest lock.
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bound on remembered keys, so a flood of names cannot grow memory forever.
const MAX_KEYS: usize = 10_000;

struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed-login bookkeeping.
#[derive(Default)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Failures>>,
}

/// The keys a login attempt counts against.
pub fn keys(username: &str, address: Option<std::net::IpAddr>) -> Vec<(String, u32)> {
    let mut keys = vec![(
        // The same key as the lookup's, so look-alikes share one budget.
        format!("user:{}", keygate_core::validate::name_key(username)),
        USER_LIMIT,
    )];
    if let Some(ip) = address {
        keys.push((format!("ip:{ip}"), ADDRESS_LIMIT));
    }
    keys
}

impl LoginThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long until an attempt is allowed; `None`: allowed now.
    pub fn wait(&self, keys: &[(String, u32)], now: Instant) -> Option<Duration> {
        let map = self.lock();
        keys.iter()
            .filter_map(|(key, _)| map.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failed attempt, locking keys over their limit.
    pub fn failed(&self, keys: &[(String, u32)], now: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_KEYS {
            map.retain(|_, f| now.duration_since(f.last) < WINDOW);
        }
        for (key, limit) in keys {
            let entry = map.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(entry.last) >= WINDOW {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= *limit {
                let doublings = (entry.count - limit).min(10);
                let lock = (BASE_LOCK * 2u32.pow(doublings)).min(MAX_LOCK);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    /// Forgets the username's failures after a successful login (the
    /// address keeps its count: one good password must not reset a spray).
    pub fn succeeded(&self, keys: &[(String, u32)]) {
        let mut map = self.lock();
        for (key, _) in keys.iter().filter(|(k, _)| k.starts_with("user:")) {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_doubles() {
        let throttle = LoginThrottle::default();
        let keys = keys("Alice", None);
        let now = Instant::now();
        for _ in 0..USER_LIMIT - 1 {
            throttle.failed(&keys, now);
            assert_eq!(throttle.wait(&keys, now), None);
        }
        throttle.failed(&keys, now);
        assert_eq!(throttle.wait(&keys, now), Some(BASE_LOCK));
        assert_eq!(
            throttle.wait(&super::keys(" alice ", None), now),
            Some(BASE_LOCK)
        );
        throttle.failed(&keys, now);
        assert_eq!(throttle.wait(&keys, now), Some(BASE_LOCK * 2));
        assert_eq!(throttle.wait(&keys, now + BASE_LOCK * 3), None);
        throttle.succeeded(&keys);
        throttle.failed(&keys, now);
        assert_eq!(throttle.wait(&keys, now), None, "success resets");
    }

    #[test]
    fn lock_is_capped_and_failures_age_out() {
        let throttle = LoginThrottle::default();
        let keys = keys("bob", None);
        let now = Instant::now();
        for _ in 0..40 {
            throttle.failed(&keys, now);
        }
        assert_eq!(throttle.wait(&keys, now), Some(MAX_LOCK));
        let later = now + WINDOW + MAX_LOCK;
        throttle.failed(&keys, later);
        assert_eq!(throttle.wait(&keys, later), None, "count restarted");
    }

    #[test]
    fn address_limit_spans_usernames() {
        let throttle = LoginThrottle::default();
        let ip = Some(std::net::IpAddr::from([192, 0, 2, 1]));
        let now = Instant::now();
        for i in 0..ADDRESS_LIMIT {
            throttle.failed(&keys(&format!("user{i}"), ip), now);
        }
        assert!(throttle.wait(&keys("someone-else", ip), now).is_some());
        assert!(throttle.wait(&keys("someone-else", None), now).is_none());
    }
}
