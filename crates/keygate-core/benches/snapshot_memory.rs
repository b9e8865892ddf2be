//! Heap bytes a built `Snapshot` holds per credential, at 1k, 100k and 1M
//! credentials. Not a criterion benchmark: a counting global allocator
//! measures live bytes, and `main` prints one line per size.
//!
//! Run with `cargo bench -p keygate-core --bench snapshot_memory`.

// This target reads only the source, not the probes the criterion target replays.
#[allow(dead_code)]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use keygate_core::{Catalog, Snapshot};

use common::{fixture, SIZES};

/// The system allocator, keeping a running total of live requested bytes.
/// Requested sizes, not the allocator's rounded-up chunks: the figure is what
/// the snapshot asks for, independent of which malloc the binary links.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is
// added, which upholds all of `GlobalAlloc`'s contracts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // special, and should not spend seconds building 1M credentials.
    let quick = !std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if quick { &SIZES[..1] } else { &SIZES };

    let catalog = Arc::new(Catalog::builtin());
    println!(
        "{:>10}  {:>14}  {:>10}  {:>9}",
        "credentials", "snapshot bytes", "bytes/cred", "build"
    );
    for &n in sizes {
        let fixture = fixture(n, &catalog);
        // Everything live now (the source, the catalog) is excluded: only the
        // growth that the built snapshot keeps alive is counted.
        let before = LIVE.load(Ordering::Relaxed);
        let started = Instant::now();
        let snapshot = Snapshot::build(&fixture.source, catalog.clone());
        let took = started.elapsed();
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        assert_eq!(snapshot.len(), n);
        println!(
            "{:>11}  {:>14}  {:>10.1}  {:>7.0}ms",
            n,
            bytes,
            bytes as f64 / n as f64,
            took.as_secs_f64() * 1e3
        );
        drop(snapshot);
    }
}
