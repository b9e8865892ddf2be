//! Criterion benchmarks of the canonical parameter model on the gateway's
//! hot path: parsing a form body, making it canonical (PHP's name rules,
//! ambiguity checks) and writing the form forwarded upstream.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keygate_core::params::urlencoded;
use keygate_core::CanonicalParams;

/// The benchmark client's call (bench/load.py): four plain pairs.
const TYPICAL: &str = "identifier=kgid0123456789abcdefghijklmnopqr&secret=0123456789abcdefghijklmnopqrstuv&action=GetClients&responsetype=json";

fn larger() -> String {
    let mut body = String::from(TYPICAL);
    for i in 0..20 {
        body.push_str(&format!(
            "&pid[]={i}&customfields[{i}]=value+{i}%21&note{i}=a.b"
        ));
    }
    body
}

fn benches(c: &mut Criterion) {
    let master: [(&str, &[u8]); 2] = [("identifier", b"master"), ("secret", b"master-secret")];
    let larger = larger();
    let mut group = c.benchmark_group("params");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, body) in [("typical", TYPICAL), ("64 pairs", larger.as_str())] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let pairs = urlencoded::parse(black_box(body.as_bytes()));
                let params = CanonicalParams::from_sources(&[], &pairs).expect("valid form");
                params.forward_form(&master)
            })
        });
    }
    group.finish();
}

criterion_group!(params, benches);
criterion_main!(params);
