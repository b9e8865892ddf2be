//! The shared limiter: GCRA state in Redis, one atomic script per call, and
//! the degraded mode used while Redis cannot be reached.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use keygate_core::Rate;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};

use super::Verdict;

/// The longest one Redis attempt (connecting included) may take before the
/// call is answered locally.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// While degraded, how often Redis is tried again.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// GCRA on Redis' clock, in microseconds (Lua numbers are doubles: exact
/// up to 2^53, which microseconds since 1970 stay far below).
///
/// KEYS[1]: the key. ARGV[1]: emission interval T; ARGV[2]: burst
/// tolerance τ; ARGV[3]: "1" to consume. Returns {1, 0} when allowed,
/// {0, wait} when limited. A TAT in the past is the same as none, so the
/// key expires when its TAT passes.
const GCRA_SCRIPT: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
if tat < now then tat = now end
local allow_at = tat - tolerance
if allow_at > now then
  return {0, allow_at - now}
end
if ARGV[3] == '1' then
  local new_tat = tat + interval
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
    'PX', math.ceil((new_tat - now) / 1000))
end
return {1, 0}
"#;

/// Limits kept in Redis under `prefix` + key.
pub(super) struct SharedLimiter {
    client: Client,
    prefix: String,
    script: Script,
    /// The connection in use; `None` before the first call and after a
    /// failure (the next attempt reconnects).
    connection: Mutex<Option<ConnectionManager>>,
    /// Serialises connecting, so a burst of calls makes one connection.
    connecting: tokio::sync::Mutex<()>,
    health: Health,
}

impl SharedLimiter {
    /// Parses `url`; does not connect.
    pub(super) fn new(url: &str, prefix: String) -> anyhow::Result<SharedLimiter> {
        // The URL may hold a password: the error names the problem, not the URL.
        let client = Client::open(url).context(
            "invalid Redis URL for rate limiting (expected redis://[:PASSWORD@]HOST[:PORT][/DB]; \
             TLS is not supported)",
        )?;
        Ok(SharedLimiter {
            client,
            prefix,
            script: Script::new(GCRA_SCRIPT),
            connection: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            health: Health::new(),
        })
    }

    /// Whether Redis is currently failing.
    pub(super) fn degraded(&self) -> bool {
        self.health.degraded()
    }

    /// The shared verdict, or `None` when the call must be answered locally
    /// (Redis failed now, or recently and is not due for another try).
    pub(super) async fn check(&self, key: &str, rate: Rate, consume: bool) -> Option<Verdict> {
        if !self.health.should_try() {
            return None;
        }
        match tokio::time::timeout(CALL_TIMEOUT, self.eval(key, rate, consume)).await {
            Ok(Ok(verdict)) => {
                self.health.succeeded();
                Some(verdict)
            }
            Ok(Err(error)) => self.failed(&error),
            Err(_) => self.failed(&format_args!("no answer within {CALL_TIMEOUT:?}")),
        }
    }

    fn failed(&self, error: &dyn fmt::Display) -> Option<Verdict> {
        self.set_connection(None);
        self.health.failed(error);
        None
    }

    async fn eval(&self, key: &str, rate: Rate, consume: bool) -> Result<Verdict, RedisError> {
        let mut connection = self.connection().await?;
        let mut full_key = String::with_capacity(self.prefix.len() + key.len());
        full_key.push_str(&self.prefix);
        full_key.push_str(key);
        let (allowed, wait_micros): (i64, i64) = self
            .script
            .key(full_key)
            .arg(rate.emission_interval_micros())
            .arg(rate.burst_tolerance_micros())
            .arg(u8::from(consume))
            .invoke_async(&mut connection)
            .await?;
        Ok(if allowed == 1 {
            Verdict::Allowed
        } else {
            let micros = u64::try_from(wait_micros).unwrap_or(0);
            Verdict::limited(Duration::from_micros(micros))
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        if let Some(connection) = self.current_connection() {
            return Ok(connection);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(connection) = self.current_connection() {
            return Ok(connection);
        }
        let connection =
            ConnectionManager::new_with_config(self.client.clone(), manager_config()).await?;
        self.set_connection(Some(connection.clone()));
        Ok(connection)
    }

    fn current_connection(&self) -> Option<ConnectionManager> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_connection(&self, connection: Option<ConnectionManager>) {
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = connection;
    }
}

/// Short timeouts and a single attempt per (re)connection: a dead Redis
/// must cost a call at most [`CALL_TIMEOUT`], never a backoff loop.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(CALL_TIMEOUT)
        .set_response_timeout(CALL_TIMEOUT)
        .set_number_of_retries(0)
        .set_max_delay(100)
}

/// Degraded-mode bookkeeping: whether Redis is failing and when to try it
/// again. Logs once on entering and once on leaving degraded mode.
struct Health {
    degraded: AtomicBool,
    /// While degraded: when the next try is due, in ms since `epoch`.
    next_try_ms: AtomicU64,
    epoch: Instant,
}

impl Health {
    fn new() -> Health {
        Health {
            degraded: AtomicBool::new(false),
            next_try_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn should_try(&self) -> bool {
        self.should_try_at(self.now_ms())
    }

    /// Healthy: always. Degraded: only the one caller that claims the due
    /// retry; everyone else goes straight to local limits.
    fn should_try_at(&self, now_ms: u64) -> bool {
        if !self.degraded() {
            return true;
        }
        let due = self.next_try_ms.load(Ordering::Acquire);
        now_ms >= due
            && self
                .next_try_ms
                .compare_exchange(due, retry_at(now_ms), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::AcqRel) {
            tracing::info!("rate limiting: Redis is reachable again, limits are shared again");
        }
    }

    fn failed(&self, error: &dyn fmt::Display) {
        self.failed_at(self.now_ms(), error);
    }

    fn failed_at(&self, now_ms: u64, error: &dyn fmt::Display) {
        self.next_try_ms.store(retry_at(now_ms), Ordering::Release);
        if !self.degraded.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = %error,
                "rate limiting: Redis unreachable, using per-instance limits until it is back \
                 (retrying every {PROBE_INTERVAL:?})"
            );
        }
    }
}

fn retry_at(now_ms: u64) -> u64 {
    now_ms.saturating_add(PROBE_INTERVAL.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_always_tries() {
        let health = Health::new();
        assert!((0..10).all(|_| health.should_try_at(5)));
        assert!(!health.degraded());
    }

    #[test]
    fn degraded_tries_once_per_interval() {
        let health = Health::new();
        health.failed_at(1_000, &"connection refused");
        assert!(health.degraded());
        let interval = PROBE_INTERVAL.as_millis() as u64;
        // Before the interval: straight to local.
        assert!(!health.should_try_at(1_000));
        assert!(!health.should_try_at(1_000 + interval - 1));
        // Due: exactly one caller gets to try.
        assert!(health.should_try_at(1_000 + interval));
        assert!(!health.should_try_at(1_000 + interval));
        // That try failed again: the next one is an interval later.
        health.failed_at(1_000 + interval + 5, &"connection refused");
        assert!(!health.should_try_at(1_000 + 2 * interval));
        assert!(health.should_try_at(1_000 + 2 * interval + 5));
        // It worked: healthy again, every call tries.
        health.succeeded();
        assert!(!health.degraded());
        assert!(health.should_try_at(0) && health.should_try_at(0));
    }

    #[test]
    fn bad_urls_are_rejected_without_echoing_them() {
        let Err(error) = SharedLimiter::new("http://:hunter2@example", String::new()) else {
            panic!("an http URL must be rejected");
        };
        assert!(!format!("{error:#}").contains("hunter2"), "{error:#}");
    }
}
