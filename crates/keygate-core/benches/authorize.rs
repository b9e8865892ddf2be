//! Criterion benchmarks of the authorization hot path: `Snapshot::decide`
//! for a hit, a hit on credentials with lifecycle settings (an expiry and a
//! 2-entry IP allowlist), the same with each credential's own rate counted
//! in the local limiter, a wrong secret, an unknown identifier, a denied
//! action and a hit after 100 credentials changed (applied, beside the
//! table), then `Snapshot::build` and `Snapshot::apply` of one changed
//! credential and of one changed role, each at 1k, 100k and 1M credentials.
//!
//! Run with `cargo bench -p keygate-core --bench authorize`; see
//! docs/benchmarks.md for the figures and how to read them.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use keygate_core::{Call, Catalog, Decision, Rate, Snapshot, SnapshotDelta, SnapshotSource};

use common::{fixture, with_lifecycle, Probe, ALLOWED_IP, FAR_EXPIRY, SIZES};

/// The decisions the hot path makes, and how each builds its request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Hit,
    /// A hit on a snapshot where every credential has an expiry (in the
    /// future) and a 2-entry allowlist, called from an allowed address.
    Lifecycle,
    /// `Lifecycle` with every credential's own rate (one no run reaches),
    /// each allowed call counted as the server counts it: the clock read,
    /// then `Authenticated::count_call`.
    Limited,
    WrongSecret,
    UnknownIdentifier,
    NotAllowed,
    /// `Hit` on a snapshot with 100 credentials changed since its build
    /// (kept beside the table, probed first on every lookup).
    AfterChanges,
}

impl Case {
    /// In running order: `Lifecycle` right after `Hit`, so the two are
    /// measured under the same conditions.
    const ALL: [Case; 7] = [
        Case::Hit,
        Case::Lifecycle,
        Case::Limited,
        Case::WrongSecret,
        Case::UnknownIdentifier,
        Case::NotAllowed,
        Case::AfterChanges,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Hit => "hit",
            Case::Lifecycle => "lifecycle",
            Case::Limited => "limited",
            Case::WrongSecret => "wrong_secret",
            Case::UnknownIdentifier => "unknown_identifier",
            Case::NotAllowed => "not_allowed",
            Case::AfterChanges => "hit_after_100_changes",
        }
    }

    /// The call for `probe`; `next` is the following probe, whose secret
    /// is a real one of another credential.
    fn call<'p>(self, probe: &'p Probe, next: &'p Probe) -> Call<'p> {
        let (identifier, secret, action) = self.request(probe, next);
        let ip = matches!(self, Case::Lifecycle | Case::Limited).then_some(ALLOWED_IP);
        Call::new(identifier, secret, action).from_ip(ip)
    }

    /// Identifier, secret and action of the request for `probe` (see
    /// [`Case::call`]).
    fn request<'p>(self, probe: &'p Probe, next: &'p Probe) -> (&'p str, &'p str, &'p str) {
        match self {
            Case::Hit | Case::Lifecycle | Case::Limited | Case::AfterChanges => (
                probe.identifier.as_str(),
                probe.secret.as_str(),
                probe.allowed,
            ),
            Case::WrongSecret => (
                probe.identifier.as_str(),
                next.secret.as_str(),
                probe.allowed,
            ),
            Case::UnknownIdentifier => {
                (probe.unknown.as_str(), probe.secret.as_str(), probe.allowed)
            }
            Case::NotAllowed => (
                probe.identifier.as_str(),
                probe.secret.as_str(),
                probe.denied,
            ),
        }
    }

    fn expected(self, decision: &Decision<'_>) -> bool {
        match self {
            Case::Hit | Case::Lifecycle | Case::Limited | Case::AfterChanges => {
                matches!(decision, Decision::Allowed(_))
            }
            Case::WrongSecret | Case::UnknownIdentifier => {
                matches!(decision, Decision::AuthenticationFailed { .. })
            }
            Case::NotAllowed => matches!(decision, Decision::ActionNotAllowed { .. }),
        }
    }
}

fn benches(c: &mut Criterion) {
    let catalog = Arc::new(Catalog::builtin());
    for n in SIZES {
        let fixture = fixture(n, &catalog);
        let snapshot = Snapshot::build(&fixture.source, catalog.clone());
        assert_eq!(snapshot.len(), n);
        // The same credentials, each with an expiry and an allowlist.
        let lifecycle = Snapshot::build(&with_lifecycle(&fixture.source, None), catalog.clone());
        assert_eq!(lifecycle.len(), n);
        let rate: Rate = "1000000/m".parse().unwrap();
        let limited = Snapshot::build(
            &with_lifecycle(&fixture.source, Some(rate)),
            catalog.clone(),
        );
        let changed = after_changes(&fixture.source, &catalog, 100);
        let probes = &fixture.probes;

        for case in Case::ALL {
            let snapshot = match case {
                Case::Lifecycle => &lifecycle,
                Case::Limited => &limited,
                Case::AfterChanges => &changed,
                _ => &snapshot,
            };
            // A wrong fixture would time the wrong path: check a sample first.
            for i in 0..probes.len().min(1_000) {
                let decision = snapshot.decide(&case.call(&probes[i], &probes[(i + 1) % n]));
                assert!(case.expected(&decision), "{} probe {i}", case.name());
            }
            if matches!(case, Case::Lifecycle | Case::Limited) {
                // From elsewhere the allowlist refuses: it is really checked.
                let (identifier, secret, action) = case.request(&probes[0], &probes[1 % n]);
                let outside =
                    Call::new(identifier, secret, action).from_ip(Some([192, 0, 2, 1].into()));
                assert!(matches!(
                    snapshot.decide(&outside),
                    Decision::IpNotAllowed { .. }
                ));
            }

            let mut group = c.benchmark_group(format!("authorize/{}", case.name()));
            group
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2))
                .sample_size(50);
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                // Walk the shuffled probes so every iteration looks up another
                // credential: at 1M that is a cold slot each time, as in
                // production, instead of one hot cache line.
                let mut i = 0;
                b.iter(|| {
                    let next = if i + 1 == n { 0 } else { i + 1 };
                    let call = case.call(&probes[i], &probes[next]);
                    i = next;
                    let decision = snapshot.decide(black_box(&call));
                    if let (Case::Limited, Decision::Allowed(grant)) = (case, &decision) {
                        let over = grant.credential.count_call(None, now_nanos);
                        assert!(over.is_none(), "the rate is one no run reaches");
                    }
                    decision
                });
            });
            group.finish();
        }

        let mut group = c.benchmark_group("build");
        // One build of 1M takes long enough that criterion's default of 100
        // growing samples would run for minutes; 10 equal samples suffice.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(if n >= 1_000_000 { 10 } else { 3 }));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            // Dropping the previous snapshot happens after the swap, off the
            // request path, so it is not part of the build time.
            b.iter_with_large_drop(|| Snapshot::build(&fixture.source, catalog.clone()));
        });
        group.finish();
        apply_benches(c, &fixture.source, &catalog, n);
    }
}

/// A snapshot of `source` after `changes` deltas, each changing one
/// credential (a far expiry: still allowed) and applied one at a time.
fn after_changes(source: &SnapshotSource, catalog: &Arc<Catalog>, changes: usize) -> Snapshot {
    let mut snapshot = Snapshot::build(source, catalog.clone());
    for credential in source.credentials.iter().take(changes) {
        snapshot = snapshot
            .apply(&one_credential(&snapshot, credential))
            .expect("in sequence");
    }
    assert_eq!(
        snapshot.changed_since_build(),
        changes.min(source.credentials.len())
    );
    snapshot
}

/// The delta changing `credential` (a far expiry) after `snapshot`.
fn one_credential(
    snapshot: &Snapshot,
    credential: &keygate_core::snapshot::CredentialEntry,
) -> SnapshotDelta {
    let mut credential = credential.clone();
    credential.lifecycle.expires_at = Some(FAR_EXPIRY);
    SnapshotDelta {
        since: snapshot.revision(),
        revision: snapshot.revision() + 1,
        credentials: vec![credential],
        ..SnapshotDelta::default()
    }
}

/// `Snapshot::apply` of one changed credential, and of one changed role
/// (every role set holding it recomputed), on a fresh build of `n`.
fn apply_benches(c: &mut Criterion, source: &SnapshotSource, catalog: &Arc<Catalog>, n: usize) {
    let snapshot = Snapshot::build(source, catalog.clone());
    let credential = one_credential(&snapshot, &source.credentials[0]);
    let mut role = source.roles[0].clone();
    role.actions.push("GetTickets".into());
    let role = SnapshotDelta {
        since: snapshot.revision(),
        revision: snapshot.revision() + 1,
        roles: vec![role],
        ..SnapshotDelta::default()
    };
    for (name, delta) in [("one_credential", &credential), ("one_role", &role)] {
        let mut group = c.benchmark_group(format!("apply/{name}"));
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(50);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_with_large_drop(|| snapshot.apply(black_box(delta)).expect("in sequence"));
        });
        group.finish();
    }
}

criterion_group!(authorize, benches);
criterion_main!(authorize);

/// The server's limiter clock: nanoseconds since the Unix epoch.
fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
