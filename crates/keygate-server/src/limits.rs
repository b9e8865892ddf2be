//! The limits around a decision: failed-authentication throttling per
//! client address, and each credential's rate limit (its own, else the
//! configured default), counted in one [`RateLimiter`] (local, or shared
//! through Redis).
//!
//! An ordinary call costs one limiter check (one Redis round trip when
//! shared): its credential's rate. Failed authentications are counted in
//! the limiter too, but whether an address is cooling down is answered
//! from this instance's memory, filled when one of its own failures comes
//! back over the limit, so that checking costs no round trip. With several
//! instances, an address over the shared limit is stopped by each instance
//! at its next failure there: at most one more guess per instance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use keygate_core::rate::Period;
use keygate_core::{Authenticated, ConfigSecret, Decision, Rate};

use crate::config::RateLimitConfig;
use crate::ratelimit::{RateLimiter, Verdict};

/// See the module documentation.
pub struct Limits {
    limiter: RateLimiter,
    /// The rates in force; a configuration reload swaps them.
    rates: ArcSwap<Rates>,
    /// The Redis URL and key prefix the limiter was built with, if
    /// shared: a reload cannot move it.
    shared_by: Option<(ConfigSecret, String)>,
    /// Addresses cooling down, and until when.
    cooling: Mutex<HashMap<IpAddr, Instant>>,
}

/// Beyond this many addresses cooling down, finished cool-downs are dropped.
const COOLING_PRUNE_AT: usize = 10_000;

impl Limits {
    /// The limits `config` asks for; fails only on an unusable Redis URL
    /// (a Redis that is down is not an error: see [`RateLimiter::redis`]).
    pub fn new(config: &RateLimitConfig) -> anyhow::Result<Self> {
        let limiter = match &config.redis_url {
            Some(url) => RateLimiter::redis(url.expose(), config.redis_prefix.as_str())
                .context("invalid [rate_limit] redis_url")?,
            None => RateLimiter::local(),
        };
        Ok(Self {
            limiter,
            rates: ArcSwap::from_pointee(Rates::of(config)?),
            shared_by: config
                .redis_url
                .clone()
                .map(|url| (url, config.redis_prefix.clone())),
            cooling: Mutex::new(HashMap::new()),
        })
    }

    /// Checks `config` for [`Limits::apply`]: the new rates, or why they
    /// cannot be used. Redis settings cannot change without a restart.
    pub fn prepare(&self, config: &RateLimitConfig) -> anyhow::Result<Rates> {
        if !self.same_redis(config) {
            anyhow::bail!("[rate_limit] redis_url changes need a restart");
        }
        Rates::of(config)
    }

    fn same_redis(&self, config: &RateLimitConfig) -> bool {
        match (&self.shared_by, &config.redis_url) {
            (None, None) => true,
            (Some((url, prefix)), Some(new_url)) => {
                url.expose() == new_url.expose() && *prefix == config.redis_prefix
            }
            _ => false,
        }
    }

    /// Puts rates checked by [`Limits::prepare`] in force; counts so far
    /// and cool-downs are kept.
    pub fn apply(&self, rates: Rates) {
        self.rates.store(Arc::new(rates));
    }

    /// Seconds until `ip` may try again, when it failed to authenticate too
    /// often: checked before deciding, so a cooling-down address cannot go
    /// on guessing.
    pub fn throttled(&self, ip: Option<IpAddr>) -> Option<u64> {
        let ip = ip.filter(|_| self.rates.load().failed_auth.is_some())?;
        let cooling = self.cooling.lock().unwrap_or_else(|e| e.into_inner());
        let left = cooling.get(&ip)?.checked_duration_since(Instant::now())?;
        Some(crate::ratelimit::retry_after_secs(left))
    }

    /// Counts a failed authentication from `ip`; one over the limit starts
    /// the address's cool-down, and its seconds are returned.
    pub async fn failed(&self, ip: Option<IpAddr>) -> Option<u64> {
        let (Some(rate), Some(ip)) = (self.rates.load().failed_auth, ip) else {
            return None;
        };
        match self.limiter.hit(&failure_key(ip), rate).await {
            Verdict::Allowed => None,
            Verdict::Limited { retry_after } => {
                self.cool_down(ip, retry_after);
                Some(crate::ratelimit::retry_after_secs(retry_after))
            }
        }
    }

    fn cool_down(&self, ip: IpAddr, length: Duration) {
        let now = Instant::now();
        let mut cooling = self.cooling.lock().unwrap_or_else(|e| e.into_inner());
        if cooling.len() >= COOLING_PRUNE_AT {
            cooling.retain(|_, until| *until > now);
        }
        cooling.insert(ip, now + length);
    }

    /// Counts one call of `identifier` against its rate (`own`, else the
    /// default); seconds to wait when it is over.
    pub async fn over_rate(&self, identifier: &str, own: Option<Rate>) -> Option<u64> {
        let rate = own.or(self.rates.load().default)?;
        // The rate is part of the key: a changed limit starts a fresh
        // budget instead of inheriting a schedule computed for another.
        // Built by hand: `format!` showed in the hot path's profile.
        let mut key = String::with_capacity(identifier.len() + 20);
        key.push_str("cred:");
        key.push_str(identifier);
        key.push(':');
        key.push_str(&rate.count().to_string());
        key.push('/');
        key.push_str(rate.period().suffix());
        match self.limiter.hit(&key, rate).await {
            Verdict::Allowed => None,
            limited => limited.retry_after_secs(),
        }
    }

    /// Counts the call `decision` is about. Local limits are counted here,
    /// in the credential's slot (no map, no key, no lock); shared ones are
    /// left to [`Limits::over_rate`], which awaits Redis.
    pub fn check_in_snapshot(&self, decision: &Decision<'_>) -> RateCheck {
        let Some(credential) = counted_credential(decision) else {
            return RateCheck::NotCounted;
        };
        if self.limiter.is_shared() {
            return RateCheck::Shared(credential.rate_limit());
        }
        match credential.count_call(self.rates.load().default, now_nanos) {
            None => RateCheck::Fits,
            Some(wait) => RateCheck::Over(crate::ratelimit::retry_after_secs(wait)),
        }
    }

    /// Seconds to wait, once a [`RateCheck`] is complete: a shared one is
    /// counted in Redis now.
    pub async fn finish(&self, check: RateCheck, identifier: &str) -> Option<u64> {
        match check {
            RateCheck::NotCounted | RateCheck::Fits => None,
            RateCheck::Over(retry) => Some(retry),
            RateCheck::Shared(own) => self.over_rate(identifier, own).await,
        }
    }

    /// Whether shared limits are being answered locally (Redis is down).
    pub fn degraded(&self) -> bool {
        self.limiter.degraded()
    }
}

/// The rates [`Limits`] applies, swapped whole by a configuration reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    /// The limit of credentials without their own.
    pub default: Option<Rate>,
    /// Failed authentications an address may make; `None`: no throttle.
    pub failed_auth: Option<Rate>,
}

impl Rates {
    fn of(config: &RateLimitConfig) -> anyhow::Result<Self> {
        let failed_auth = match config.failed_auth_per_minute {
            0 => None,
            n => Some(Rate::new(n, Period::Minute).context("invalid failed_auth_per_minute")?),
        };
        Ok(Self {
            default: config.default,
            failed_auth,
        })
    }
}

fn failure_key(ip: IpAddr) -> String {
    format!("fail:{ip}")
}

/// The credential a call counts against (authenticated and from an
/// allowed address), if it counts.
fn counted_credential<'d, 'a>(decision: &'d Decision<'a>) -> Option<&'d Authenticated<'a>> {
    match decision {
        Decision::Allowed(grant) => Some(&grant.credential),
        Decision::ActionMissing(credential) | Decision::ActionNotAllowed { credential, .. } => {
            Some(credential)
        }
        Decision::AuthenticationFailed { .. }
        | Decision::Disabled { .. }
        | Decision::Expired { .. }
        | Decision::IpNotAllowed { .. } => None,
    }
}

/// A call's rate limit, as far as it is decided while the snapshot is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateCheck {
    /// The call does not count (it failed before its credential was known
    /// to be usable).
    NotCounted,
    /// Counted locally: within the rate (or no rate applies).
    Fits,
    /// Counted locally: over the rate; seconds to wait.
    Over(u64),
    /// Counted in Redis, after the snapshot is released: the credential's
    /// own rate, if any.
    Shared(Option<Rate>),
}

/// Nanoseconds since the Unix epoch: the local limiter's clock.
fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
