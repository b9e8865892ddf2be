//! Prometheus metrics from atomic counters: decisions by endpoint, allowed
//! and denied calls by action, a latency histogram, upstream failures, and
//! the snapshot's revision and size.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use keygate_core::{ActionId, Catalog, Snapshot};

/// Which API answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/includes/api.php`
    Gateway,
    /// `/v1/authorize`
    Authorize,
}

/// What was decided for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Authenticated and allowed.
    Allowed,
    /// Unknown, wrong or invalidated credential.
    AuthenticationFailed,
    /// Authenticated, action not allowed.
    ActionNotAllowed,
    /// Malformed request (missing action, bad body, too large).
    BadRequest,
    /// Right secret, disabled credential.
    Disabled,
    /// Right secret, expired credential.
    Expired,
    /// Called from an address outside the credential's allowlist.
    IpNotAllowed,
    /// Over the credential's rate limit.
    RateLimited,
    /// Too many failed authentications from the client's address.
    Throttled,
    /// Client-scoped credential: the action or a parameter is outside the
    /// scope.
    OutsideScope,
    /// Client-scoped credential: the upstream's answer held another
    /// client's record and was withheld.
    ResponseBlocked,
}

impl Endpoint {
    /// Every endpoint; a variant's position is its counter index.
    const ALL: [Endpoint; 2] = [Endpoint::Gateway, Endpoint::Authorize];

    /// The `endpoint` label in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Gateway => "gateway",
            Endpoint::Authorize => "authorize",
        }
    }
}

impl Outcome {
    /// Every outcome; a variant's position is its counter index.
    const ALL: [Outcome; 11] = [
        Outcome::Allowed,
        Outcome::AuthenticationFailed,
        Outcome::ActionNotAllowed,
        Outcome::BadRequest,
        Outcome::Disabled,
        Outcome::Expired,
        Outcome::IpNotAllowed,
        Outcome::RateLimited,
        Outcome::Throttled,
        Outcome::OutsideScope,
        Outcome::ResponseBlocked,
    ];

    /// The `decision` label in metrics.
    fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::AuthenticationFailed => "authentication_failed",
            Outcome::ActionNotAllowed => "action_not_allowed",
            Outcome::BadRequest => "bad_request",
            Outcome::Disabled => "disabled",
            Outcome::Expired => "expired",
            Outcome::IpNotAllowed => "ip_not_allowed",
            Outcome::RateLimited => "rate_limited",
            Outcome::Throttled => "too_many_failed_attempts",
            Outcome::OutsideScope => "client_scope",
            Outcome::ResponseBlocked => "response_outside_client_scope",
        }
    }
}

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }
}

/// Action counters beyond the starting catalog's, for custom actions a
/// configuration reload adds; actions past them are counted only in the
/// totals.
const RELOAD_HEADROOM: usize = 256;

/// All counters; shared by every request.
pub struct Metrics {
    decisions: [[AtomicU64; Outcome::ALL.len()]; Endpoint::ALL.len()],
    /// Per catalog action: [allowed, denied].
    actions: Vec<[AtomicU64; 2]>,
    latency: [Histogram; Endpoint::ALL.len()],
    upstream_errors: AtomicU64,
}

impl Metrics {
    /// Counters sized for `catalog`, with room for the custom actions a
    /// configuration reload may add.
    pub fn new(catalog: &Catalog) -> Self {
        Self {
            decisions: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            actions: (0..catalog.len() + RELOAD_HEADROOM)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
            latency: std::array::from_fn(|_| Histogram::new()),
            upstream_errors: AtomicU64::new(0),
        }
    }

    /// Counts one request. `action` is the catalog action, when the request named a known one.
    pub fn record(
        &self,
        endpoint: Endpoint,
        outcome: Outcome,
        action: Option<ActionId>,
        elapsed: Duration,
    ) {
        let e = endpoint as usize;
        self.decisions[e][outcome as usize].fetch_add(1, Relaxed);
        self.latency[e].observe(elapsed);
        if let Some(counters) = action.and_then(|a| self.actions.get(a.index())) {
            let slot = usize::from(outcome != Outcome::Allowed);
            counters[slot].fetch_add(1, Relaxed);
        }
    }

    /// Restarts the counters of actions that `new` defines differently
    /// from `old` (custom actions a configuration reload changed), so no
    /// action inherits another's counts.
    pub fn reset_changed(&self, old: &Catalog, new: &Catalog) {
        for (index, counters) in self.actions.iter().enumerate() {
            let id = ActionId::from_index(index);
            let before = (index < old.len()).then(|| old.action(id));
            let after = (index < new.len()).then(|| new.action(id));
            if before != after {
                counters[0].store(0, Relaxed);
                counters[1].store(0, Relaxed);
            }
        }
    }

    /// Counts an upstream that could not be reached.
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, snapshot: &Snapshot, degraded: bool) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP keygate_requests_total API requests by endpoint and decision.\n");
        out.push_str("# TYPE keygate_requests_total counter\n");
        for endpoint in Endpoint::ALL {
            for outcome in Outcome::ALL {
                let n = self.decisions[endpoint as usize][outcome as usize].load(Relaxed);
                let (endpoint, outcome) = (endpoint.label(), outcome.label());
                let _ = writeln!(
                    out,
                    "keygate_requests_total{{endpoint=\"{endpoint}\",decision=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP keygate_action_requests_total Requests naming a catalog action, by action and result.\n");
        out.push_str("# TYPE keygate_action_requests_total counter\n");
        let catalog = snapshot.catalog();
        for ((_, def), counters) in catalog.actions().zip(&self.actions) {
            for (slot, result) in ["allowed", "denied"].iter().enumerate() {
                let n = counters[slot].load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "keygate_action_requests_total{{action=\"{}\",result=\"{result}\"}} {n}",
                        def.name
                    );
                }
            }
        }
        out.push_str("# HELP keygate_request_duration_seconds Time to answer, by endpoint.\n");
        out.push_str("# TYPE keygate_request_duration_seconds histogram\n");
        for endpoint in Endpoint::ALL {
            let h = &self.latency[endpoint as usize];
            let endpoint = endpoint.label();
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Relaxed);
                let _ = writeln!(out, "keygate_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {cumulative}");
            }
            let count = h.count.load(Relaxed);
            let _ = writeln!(out, "keygate_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {count}");
            let sum = h.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "keygate_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "keygate_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {count}"
            );
        }
        let gauges = [
            (
                "keygate_upstream_errors_total",
                "counter",
                "Forwarded calls whose upstream was unreachable or timed out.",
                self.upstream_errors.load(Relaxed) as i64,
            ),
            (
                "keygate_snapshot_revision",
                "gauge",
                "Store revision of the snapshot in force.",
                snapshot.revision(),
            ),
            (
                "keygate_snapshot_credentials",
                "gauge",
                "Credentials in the snapshot in force.",
                snapshot.len() as i64,
            ),
            (
                "keygate_store_degraded",
                "gauge",
                "1 while the store is unreachable and the last snapshot is served.",
                i64::from(degraded),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}
