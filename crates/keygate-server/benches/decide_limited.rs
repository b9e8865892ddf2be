//! Criterion benchmarks of the decision with a local rate limit, as the
//! gateway and the sidecar make it: `Snapshot::decide` and then
//! `Limits::check_in_snapshot` and `Limits::finish` (the server's own calls:
//! a local limit is counted in the credential's slot), at 1k, 100k and 1M
//! credentials.
//!
//! Three groups, on keygate-core's bench data (`benches/common/mod.rs`
//! there, the same seeded credentials and shuffled probes):
//!
//! - `decide_limited/plain`: a hit on credentials without lifecycle
//!   settings, the same as keygate-core's `authorize/hit`, measured again in
//!   this run so the ratios below compare figures from one run;
//! - `decide_limited/decide`: a hit on the same credentials, each with an
//!   expiry in the future, a 2-entry IP allowlist and its own rate limit,
//!   called from an allowed address; no limiter;
//! - `decide_limited/limited`: the same decision plus the rate-limit check.
//!
//! `limited / decide` is what the local limiter adds; `limited / plain` is
//! the lifecycle hot path against the plain one. The rate is one no
//! credential reaches here, so every call is allowed (the common case).
//!
//! Run with `cargo bench -p keygate-server --bench decide_limited`; see
//! docs/benchmarks.md.

#[allow(dead_code)] // Not every case of keygate-core's bench is used here.
#[path = "../../keygate-core/benches/common/mod.rs"]
mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use keygate_core::{Call, Catalog, Decision, Rate, Snapshot};
use keygate_server::config::RateLimitConfig;
use keygate_server::limits::Limits;

use common::{fixture, with_lifecycle, Probe, ALLOWED_IP, SIZES};

/// Every credential's own rate: far above what one key gets in a run.
const RATE: &str = "1000000/m";

/// The value of a future that is ready at its first poll, as a local
/// limiter's always is; polled in place, so no executor's cost is timed.
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut context = Context::from_waker(futures::task::noop_waker_ref());
    match pin!(future).poll(&mut context) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a local rate limit never waits"),
    }
}

/// The call the lifecycle cases make for `probe`.
fn call(probe: &Probe) -> Call<'_> {
    Call::new(
        probe.identifier.as_str(),
        probe.secret.as_str(),
        probe.allowed,
    )
    .from_ip(Some(ALLOWED_IP))
}

/// Decides `call` and, as the server does for an allowed call, counts it
/// against the credential's rate; `Some(seconds)` when over it.
fn decide_limited(snapshot: &Snapshot, limits: &Limits, call: &Call<'_>) -> Option<u64> {
    let decision = snapshot.decide(call);
    let Decision::Allowed(grant) = &decision else {
        panic!("expected Allowed, got {decision:?}")
    };
    let check = limits.check_in_snapshot(&decision);
    ready(limits.finish(check, grant.credential.identifier()))
}

/// A group measured as keygate-core's `authorize` groups are.
fn configured<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(format!("decide_limited/{name}"));
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    group
}

fn benches(c: &mut Criterion) {
    let catalog = Arc::new(Catalog::builtin());
    let rate: Rate = RATE.parse().unwrap();
    for n in SIZES {
        let fixture = fixture(n, &catalog);
        let plain = Snapshot::build(&fixture.source, catalog.clone());
        let lifecycle = Snapshot::build(
            &with_lifecycle(&fixture.source, Some(rate)),
            catalog.clone(),
        );
        assert_eq!((plain.len(), lifecycle.len()), (n, n));
        let probes = &fixture.probes;

        // A wrong fixture would time the wrong path: check a sample first
        // (on a limiter of its own, so the timed one starts empty).
        let check = Limits::new(&RateLimitConfig::default()).unwrap();
        for probe in &probes[..n.min(1_000)] {
            let plain_call = Call::new(
                probe.identifier.as_str(),
                probe.secret.as_str(),
                probe.allowed,
            );
            assert!(matches!(plain.decide(&plain_call), Decision::Allowed(_)));
            assert_eq!(decide_limited(&lifecycle, &check, &call(probe)), None);
            let outside = call(probe).from_ip(Some([192, 0, 2, 1].into()));
            assert!(matches!(
                lifecycle.decide(&outside),
                Decision::IpNotAllowed { .. }
            ));
        }
        drop(check);

        // Each loop walks the shuffled probes, one credential per iteration,
        // as keygate-core's `authorize` bench does.
        let next = |i: usize| if i + 1 == n { 0 } else { i + 1 };

        let mut group = configured(c, "plain");
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let mut i = 0;
            b.iter(|| {
                let probe = &probes[i];
                i = next(i);
                let call = Call::new(
                    probe.identifier.as_str(),
                    probe.secret.as_str(),
                    probe.allowed,
                );
                plain.decide(black_box(&call))
            });
        });
        group.finish();

        let mut group = configured(c, "decide");
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let mut i = 0;
            b.iter(|| {
                let probe = &probes[i];
                i = next(i);
                lifecycle.decide(black_box(&call(probe)))
            });
        });
        group.finish();

        let limits = Limits::new(&RateLimitConfig::default()).unwrap();
        let mut group = configured(c, "limited");
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let mut i = 0;
            b.iter(|| {
                let probe = &probes[i];
                i = next(i);
                decide_limited(&lifecycle, &limits, black_box(&call(probe)))
            });
        });
        group.finish();
    }
}

criterion_group!(decide_limited_benches, benches);
criterion_main!(decide_limited_benches);
