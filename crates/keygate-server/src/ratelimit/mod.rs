//! Rate limiting: per-key GCRA limits ([`keygate_core::rate`]) kept either
//! in this process ([`RateLimiter::local`]) or in Redis, shared by every
//! keygate instance ([`RateLimiter::redis`]).
//!
//! The shared limiter makes one atomic round trip per call (a Lua script
//! that runs the same GCRA on Redis' own clock, so instances with skewed
//! clocks agree). When Redis fails, calls are answered from per-instance
//! limits instead ([`RateLimiter::degraded`] turns true, one warning is
//! logged); Redis is tried again at most once a second and the limiter
//! recovers by itself.
//!
//! Two uses: [`RateLimiter::hit`] per credential call (consumes one), and,
//! for failed-authentication throttling, [`RateLimiter::peek`] before
//! authenticating plus [`RateLimiter::hit`] on each failure.

mod local;
mod shared;

use std::fmt;
use std::time::Duration;

use keygate_core::rate::GcraOutcome;
use keygate_core::Rate;

use self::local::LocalLimiter;
use self::shared::SharedLimiter;

/// The answer to one rate-limit check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate.
    Allowed,
    /// Over the rate: one call will be allowed again after `retry_after`.
    Limited {
        /// How long until one call would be allowed (never zero).
        retry_after: Duration,
    },
}

impl Verdict {
    /// Whether the call is within the rate.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed)
    }

    /// The `Retry-After` header value in whole seconds (rounded up, at
    /// least 1) when limited; `None` when allowed.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Verdict::Allowed => None,
            Verdict::Limited { retry_after } => Some(retry_after_secs(*retry_after)),
        }
    }

    fn from_outcome(outcome: GcraOutcome) -> Verdict {
        if outcome.allowed {
            Verdict::Allowed
        } else {
            Verdict::limited(outcome.retry_after)
        }
    }

    fn limited(retry_after: Duration) -> Verdict {
        Verdict::Limited {
            retry_after: retry_after.max(Duration::from_nanos(1)),
        }
    }
}

/// `retry_after` as a `Retry-After` header value: whole seconds, rounded
/// up, at least 1.
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}

/// Per-key rate limits, local to this process or shared through Redis.
/// Cheap to call from many tasks at once; wrap it in an `Arc` to share.
pub struct RateLimiter {
    local: LocalLimiter,
    shared: Option<SharedLimiter>,
}

impl RateLimiter {
    /// Limits kept in this process only.
    pub fn local() -> RateLimiter {
        RateLimiter {
            local: LocalLimiter::new(),
            shared: None,
        }
    }

    /// Limits shared through the Redis at `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`),
    /// each key stored as `prefix` + key. Fails only on a URL that cannot
    /// be used; the connection is made on first use, so a Redis that is
    /// down now is not an error (calls use per-instance limits until it is
    /// back).
    pub fn redis(url: &str, prefix: impl Into<String>) -> anyhow::Result<RateLimiter> {
        Ok(RateLimiter {
            local: LocalLimiter::new(),
            shared: Some(SharedLimiter::new(url, prefix.into())?),
        })
    }

    /// Counts one call for `key` under `rate`: [`Verdict::Allowed`] when it
    /// is within the rate (and it is then consumed), else how long to wait.
    pub async fn hit(&self, key: &str, rate: Rate) -> Verdict {
        self.check(key, rate, true).await
    }

    /// Whether one call for `key` would be allowed under `rate`, without
    /// counting it.
    pub async fn peek(&self, key: &str, rate: Rate) -> Verdict {
        self.check(key, rate, false).await
    }

    /// True while a shared limiter cannot reach Redis and answers from
    /// per-instance limits. Always false for a local limiter.
    pub fn degraded(&self) -> bool {
        self.shared.as_ref().is_some_and(SharedLimiter::degraded)
    }

    /// Whether limits are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    async fn check(&self, key: &str, rate: Rate, consume: bool) -> Verdict {
        if let Some(shared) = &self.shared {
            if let Some(verdict) = shared.check(key, rate, consume).await {
                return verdict;
            }
        }
        self.local.check(key, rate, consume)
    }
}

impl Default for RateLimiter {
    fn default() -> RateLimiter {
        RateLimiter::local()
    }
}

impl fmt::Debug for RateLimiter {
    /// Never shows the Redis URL (it may hold a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("shared", &self.is_shared())
            .field("degraded", &self.degraded())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let cases = [
            (Duration::ZERO, 1),
            (Duration::from_nanos(1), 1),
            (Duration::from_millis(999), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(59), 59),
            (Duration::from_secs_f64(59.5), 60),
        ];
        for (duration, secs) in cases {
            assert_eq!(retry_after_secs(duration), secs, "{duration:?}");
        }
        assert_eq!(Verdict::Allowed.retry_after_secs(), None);
        let limited = Verdict::Limited {
            retry_after: Duration::from_millis(200),
        };
        assert_eq!(limited.retry_after_secs(), Some(1));
        assert!(!limited.is_allowed());
        assert!(Verdict::Allowed.is_allowed());
    }

    #[tokio::test]
    async fn local_limiter_allows_the_burst_then_limits() {
        let limiter = RateLimiter::local();
        let r = rate("5/s");
        for _ in 0..5 {
            assert_eq!(limiter.hit("cred-a", r).await, Verdict::Allowed);
        }
        let Verdict::Limited { retry_after } = limiter.hit("cred-a", r).await else {
            panic!("the 6th call must be limited");
        };
        assert!(retry_after <= Duration::from_millis(200), "{retry_after:?}");
        assert!(!limiter.peek("cred-a", r).await.is_allowed());
        // Other keys have their own budget.
        assert_eq!(limiter.hit("cred-b", r).await, Verdict::Allowed);
        assert!(!limiter.degraded());
        assert!(!limiter.is_shared());
    }

    #[tokio::test]
    async fn local_peek_does_not_consume() {
        let limiter = RateLimiter::local();
        let r = rate("2/m");
        for _ in 0..10 {
            assert_eq!(limiter.peek("10.0.0.1", r).await, Verdict::Allowed);
        }
        assert!(limiter.hit("10.0.0.1", r).await.is_allowed());
        assert!(limiter.hit("10.0.0.1", r).await.is_allowed());
        assert!(!limiter.peek("10.0.0.1", r).await.is_allowed());
        assert!(!limiter.hit("10.0.0.1", r).await.is_allowed());
    }

    #[test]
    fn bad_redis_urls_fail_up_front() {
        for url in [
            "",
            "not a url",
            "http://127.0.0.1:6379",
            "redis://",
            "rediss://:pw@h",
        ] {
            assert!(RateLimiter::redis(url, "p:").is_err(), "{url:?}");
        }
    }

    #[test]
    fn a_good_redis_url_does_not_connect_up_front() {
        // No runtime here: building must not touch the network.
        let limiter = RateLimiter::redis("redis://127.0.0.1:1/0", "p:").unwrap();
        assert!(limiter.is_shared());
        assert!(!limiter.degraded());
        let shown = format!("{limiter:?}");
        assert!(shown.contains("shared: true"), "{shown}");
        let with_password = RateLimiter::redis("redis://:hunter2@127.0.0.1:1", "p:").unwrap();
        assert!(!format!("{with_password:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_dead_redis_degrades_to_local_limits() {
        let limiter = RateLimiter::redis("redis://127.0.0.1:1", "p:").unwrap();
        let r = rate("3/s");
        let started = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.hit("k", r).await, Verdict::Allowed);
        }
        assert!(!limiter.hit("k", r).await.is_allowed());
        assert!(limiter.degraded());
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
