//! Criterion benchmark of what counting usage adds to every call:
//! `UsageCounter::record` as `CallLog::finish` makes it (the call's start
//! `Instant` already taken, a catalog action id), for one credential, for
//! calls spread over 10,000 credentials, for an action the catalog does not
//! know, and with counting switched off (`[usage] enabled = false`).
//!
//! Run with `cargo bench -p keygate-server --bench usage_record`; see
//! docs/benchmarks.md ("What counting usage costs").

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use keygate_core::Catalog;
use keygate_server::metrics::Outcome;
use keygate_server::usage::UsageCounter;

fn record(c: &mut Criterion) {
    let catalog = Catalog::builtin();
    let action = catalog.resolve("GetClients").unwrap();
    let identifiers: Vec<String> = (0..10_000).map(|i| format!("{i:032}")).collect();
    let started = Instant::now();
    let mut group = c.benchmark_group("usage_record");

    let counter = UsageCounter::new(true);
    group.bench_function("one_credential", |b| {
        b.iter(|| {
            counter.record(
                black_box(&identifiers[0]),
                "GetClients",
                Some(action),
                Outcome::Allowed,
                started,
            )
        })
    });
    let counter = UsageCounter::new(true);
    let mut i = 0;
    group.bench_function("10k_credentials", |b| {
        b.iter(|| {
            i = (i + 1) % identifiers.len();
            counter.record(
                black_box(&identifiers[i]),
                "GetClients",
                Some(action),
                Outcome::Allowed,
                started,
            )
        })
    });
    let counter = UsageCounter::new(true);
    group.bench_function("unknown_action", |b| {
        b.iter(|| {
            counter.record(
                black_box(&identifiers[0]),
                black_box("MadeUpAction"),
                None,
                Outcome::ActionNotAllowed,
                started,
            )
        })
    });
    let counter = UsageCounter::new(false);
    group.bench_function("off", |b| {
        b.iter(|| {
            counter.record(
                black_box(&identifiers[0]),
                "GetClients",
                Some(action),
                Outcome::Allowed,
                started,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
