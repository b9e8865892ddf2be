//! The shared rate limiter against a real Redis at 127.0.0.1:6379
//! (`scripts/install-test-deps.sh` installs and starts one). Without it the
//! Redis tests print `SKIPPED: redis not reachable`, unless
//! `KEYGATE_TEST_REDIS_REQUIRED=1` (CI), where they fail.
//!
//! Each test uses its own key prefix and deletes its keys at the end. The
//! degraded-mode tests use a dead port, or a small TCP proxy in front of
//! Redis that the test can cut or turn into a black hole.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keygate_core::Rate;
use keygate_server::ratelimit::{RateLimiter, Verdict};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

const REDIS_ADDR: &str = "127.0.0.1:6379";
const REDIS_URL: &str = "redis://127.0.0.1:6379";

fn rate(text: &str) -> Rate {
    text.parse().unwrap()
}

/// A unique key prefix for one test; its keys are deleted when dropped.
struct Prefix(String);

impl Prefix {
    fn new(test: &str) -> Prefix {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Prefix(format!(
            "keygate-test-{}-{nanos}-{test}:",
            std::process::id()
        ))
    }

    fn keys(&self) -> Vec<String> {
        let client = redis::Client::open(REDIS_URL).unwrap();
        let mut connection = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .unwrap();
        redis::cmd("KEYS")
            .arg(format!("{}*", self.0))
            .query(&mut connection)
            .unwrap()
    }

    fn pttl(&self, key: &str) -> i64 {
        let client = redis::Client::open(REDIS_URL).unwrap();
        let mut connection = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .unwrap();
        redis::cmd("PTTL")
            .arg(format!("{}{key}", self.0))
            .query(&mut connection)
            .unwrap()
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(REDIS_URL) else {
            return;
        };
        let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.0))
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// Whether the Redis tests can run; prints SKIPPED (or panics in CI) when not.
fn redis_ready() -> bool {
    let address: SocketAddr = REDIS_ADDR.parse().unwrap();
    if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
        return true;
    }
    if std::env::var("KEYGATE_TEST_REDIS_REQUIRED").as_deref() == Ok("1") {
        panic!("redis not reachable at {REDIS_ADDR} and KEYGATE_TEST_REDIS_REQUIRED=1");
    }
    println!("SKIPPED: redis not reachable");
    false
}

/// A shared limiter on the real Redis, its connection already made.
async fn shared_limiter(prefix: &Prefix) -> RateLimiter {
    let limiter = RateLimiter::redis(REDIS_URL, prefix.0.clone()).unwrap();
    assert!(limiter.peek("warm-up", rate("1/s")).await.is_allowed());
    assert!(!limiter.degraded());
    limiter
}

#[tokio::test]
async fn five_per_second_allows_five_then_limits() {
    if !redis_ready() {
        return;
    }
    let prefix = Prefix::new("five");
    let limiter = shared_limiter(&prefix).await;
    let r = rate("5/s");
    for i in 0..5 {
        assert_eq!(limiter.hit("cred", r).await, Verdict::Allowed, "call {i}");
    }
    let Verdict::Limited { retry_after } = limiter.hit("cred", r).await else {
        panic!("the 6th call within a second must be limited");
    };
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
    assert_eq!(
        limiter.hit("cred", r).await.retry_after_secs(),
        Some(1),
        "Retry-After rounds up to one second"
    );
    assert!(!limiter.degraded());
    // The key vanishes once its TAT is past: at most one period from now.
    let pttl = prefix.pttl("cred");
    assert!(pttl > 0 && pttl <= 1000, "PTTL {pttl}");
    assert_eq!(
        prefix.keys().len(),
        1,
        "peeks store nothing: {:?}",
        prefix.keys()
    );
}

#[tokio::test]
async fn the_budget_recovers_one_interval_at_a_time() {
    if !redis_ready() {
        return;
    }
    let prefix = Prefix::new("recover");
    let limiter = shared_limiter(&prefix).await;
    let r = rate("10/s");
    for _ in 0..10 {
        assert!(limiter.hit("cred", r).await.is_allowed());
    }
    let Verdict::Limited { retry_after } = limiter.hit("cred", r).await else {
        panic!("the 11th call must be limited");
    };
    tokio::time::sleep(retry_after + Duration::from_millis(5)).await;
    assert!(limiter.hit("cred", r).await.is_allowed());
    assert!(!limiter.hit("cred", r).await.is_allowed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_budget() {
    if !redis_ready() {
        return;
    }
    let prefix = Prefix::new("shared");
    let first = Arc::new(shared_limiter(&prefix).await);
    let second = Arc::new(shared_limiter(&prefix).await);
    let r = rate("100/m");
    let mut tasks = Vec::new();
    for task in 0..8 {
        let limiter = if task % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut allowed = 0;
            for _ in 0..40 {
                if limiter.hit("cred", r).await.is_allowed() {
                    allowed += 1;
                }
            }
            allowed
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        allowed += task.await.unwrap();
    }
    assert_eq!(allowed, 100, "320 calls from two instances under 100/m");
    assert!(!first.degraded() && !second.degraded());
}

#[tokio::test]
async fn peek_does_not_consume() {
    if !redis_ready() {
        return;
    }
    let prefix = Prefix::new("peek");
    let limiter = shared_limiter(&prefix).await;
    let r = rate("2/m");
    for _ in 0..20 {
        assert_eq!(limiter.peek("10.0.0.7", r).await, Verdict::Allowed);
    }
    assert!(prefix.keys().iter().all(|k| !k.ends_with("10.0.0.7")));
    assert!(limiter.hit("10.0.0.7", r).await.is_allowed());
    assert!(limiter.peek("10.0.0.7", r).await.is_allowed());
    assert!(limiter.hit("10.0.0.7", r).await.is_allowed());
    let Verdict::Limited { retry_after } = limiter.peek("10.0.0.7", r).await else {
        panic!("a spent budget must show in a peek");
    };
    assert!(retry_after > Duration::from_secs(29) && retry_after <= Duration::from_secs(30));
    assert!(!limiter.hit("10.0.0.7", r).await.is_allowed());
}

#[tokio::test]
async fn a_dead_port_answers_from_local_limits_quickly() {
    let limiter = RateLimiter::redis("redis://127.0.0.1:1", "keygate-test-dead:").unwrap();
    assert!(
        !limiter.degraded(),
        "not connecting up front is not an error"
    );
    let r = rate("3/s");
    let mut verdicts = Vec::new();
    for _ in 0..6 {
        let started = Instant::now();
        verdicts.push(limiter.hit("cred", r).await.is_allowed());
        let took = started.elapsed();
        assert!(took <= Duration::from_millis(300), "a call took {took:?}");
    }
    assert_eq!(verdicts, [true, true, true, false, false, false]);
    assert!(limiter.degraded());
}

/// How the proxy in front of Redis behaves.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// Forwards to Redis.
    Up,
    /// Closes every connection at once.
    Cut,
    /// Accepts connections and never answers.
    BlackHole,
}

/// A TCP proxy to Redis whose behaviour the test switches.
struct Proxy {
    url: String,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let (mode, _) = watch::channel(Mode::Up);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(proxy_connection(client, modes.subscribe()));
            }
        });
        Proxy { url, mode }
    }

    /// Switches the mode; a cut returns once every connection is closed
    /// (each connection task holds one receiver), so no request sent after
    /// it can still reach Redis.
    async fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
        if mode == Mode::Cut {
            let deadline = Instant::now() + Duration::from_secs(2);
            while self.mode.receiver_count() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn proxy_connection(mut client: tokio::net::TcpStream, mut mode: watch::Receiver<Mode>) {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Cut => {}
        Mode::BlackHole => {
            // Hold the connection, answer nothing, until the mode changes.
            let _ = mode.changed().await;
        }
        Mode::Up => {
            let Ok(mut redis) = tokio::net::TcpStream::connect(REDIS_ADDR).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut redis) => {}
                _ = mode.changed() => {}
            }
        }
    }
}

/// Records the levels of the rate limiter's log events with the thread
/// that logged them. Installed once as the global subscriber: a scoped
/// (thread-local) one can miss events whose call site another test's
/// thread registers first.
#[derive(Clone, Default)]
struct LogLevels(Arc<Mutex<Vec<(ThreadId, Level)>>>);

impl<S: tracing::Subscriber> Layer<S> for LogLevels {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        if metadata.target().starts_with("keygate_server::ratelimit") {
            let entry = (std::thread::current().id(), *metadata.level());
            self.0.lock().unwrap().push(entry);
        }
    }
}

impl LogLevels {
    /// The recorder, installed on first use.
    fn global() -> &'static LogLevels {
        static LOGS: OnceLock<LogLevels> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = LogLevels::default();
            let subscriber = tracing_subscriber::registry().with(logs.clone());
            tracing::subscriber::set_global_default(subscriber).unwrap();
            logs
        })
    }

    /// Removes and returns the levels logged so far by this thread.
    fn take(&self) -> Vec<Level> {
        let me = std::thread::current().id();
        let mut all = self.0.lock().unwrap();
        let (mine, others) = all.drain(..).partition(|(thread, _)| *thread == me);
        *all = others;
        mine.into_iter().map(|(_, level)| level).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degrades_while_redis_fails_and_recovers_by_itself() {
    if !redis_ready() {
        return;
    }
    // The limiter runs on this thread (the test's own future).
    let logs = LogLevels::global();
    let prefix = Prefix::new("degraded");
    let proxy = Proxy::start().await;
    let limiter = RateLimiter::redis(&proxy.url, prefix.0.clone()).unwrap();
    let r = rate("2/h");
    assert!(limiter.hit("cred", r).await.is_allowed());
    assert!(!limiter.degraded());

    // Redis goes away: answers come from fresh local limits, fast.
    proxy.set(Mode::Cut).await;
    let started = Instant::now();
    let verdicts = [
        limiter.hit("cred", r).await.is_allowed(),
        limiter.hit("cred", r).await.is_allowed(),
        limiter.hit("cred", r).await.is_allowed(),
    ];
    assert_eq!(verdicts, [true, true, false], "local budget of 2/h");
    assert!(limiter.degraded());
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(logs.take(), [Level::WARN], "one warning, not one per call");

    // A Redis that hangs costs the one due retry at most ~250 ms, and the
    // calls in between go straight to local limits.
    proxy.set(Mode::BlackHole).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        limiter.peek("other", r).await;
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest >= Duration::from_millis(200),
        "the retry ran: {slowest:?}"
    );
    assert!(slowest <= Duration::from_millis(350), "{slowest:?}");
    assert!(limiter.degraded());
    assert_eq!(
        logs.take(),
        Vec::<Level>::new(),
        "still degraded: nothing more logged"
    );

    // Redis is back: within a retry interval the shared state is used
    // again (one call was counted there before the outage).
    proxy.set(Mode::Up).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(limiter.hit("cred", r).await.is_allowed());
    assert!(!limiter.degraded(), "recovered by itself");
    assert!(
        !limiter.hit("cred", r).await.is_allowed(),
        "shared budget of 2/h"
    );
    assert_eq!(logs.take(), [Level::INFO], "one line when Redis is back");
}
