//! Heap allocations per call on the gateway's hot path, counted by a
//! global allocator that tallies per thread (tests run in parallel).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use super::*;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to `System` unchanged; the counter is a
// const-initialized thread local without a destructor, so touching it
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations (and reallocations) `f` makes on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

const MASTER: [(&str, &[u8]); 2] = [("identifier", b"M"), ("secret", b"S")];

/// The gateway's typical call: four pairs, all special.
const TYPICAL: &str = "identifier=kgid0123&secret=0123456789&action=GetClients&responsetype=json";

/// Allocations of (`urlencoded::parse`, `from_sources`, `forward_form`)
/// for one body.
fn per_step(body: &str) -> [usize; 3] {
    let (parse, pairs) = allocations(|| urlencoded::parse(body.as_bytes()));
    let (canonical, params) = allocations(|| CanonicalParams::from_sources(&[], &pairs).unwrap());
    let (form, _) = allocations(|| params.forward_form(&MASTER));
    [parse, canonical, form]
}

/// One allocation per step: the pairs, the special values (one buffer),
/// the form. (Before: 2 + 14 + 1: the segments, a name and a value per
/// pair, two arrays' entries, a key clone per special.)
#[test]
fn the_typical_call_allocates_three_times() {
    assert_eq!(per_step(TYPICAL), [1, 1, 1]);
}

/// An ordinary plain pair costs its key and its value; the array's
/// entries take one allocation for the first few; the form adds the
/// buffer its names are written in.
#[test]
fn ordinary_pairs_cost_their_key_and_value() {
    let body = format!("{TYPICAL}&clientid=5&limitnum=25");
    assert_eq!(per_step(&body), [1, 1 + 2 * 2 + 1, 2]);
    // An integer key is not copied, and it is written without a string.
    let body = format!("{TYPICAL}&5=x&6=y");
    assert_eq!(per_step(&body), [1, 1 + 2 + 1, 2]);
}

/// A key already in the array is looked up, not copied again.
#[test]
fn repeated_array_names_copy_their_key_once() {
    let one = per_step("pid[]=1")[1];
    let two = per_step("pid[]=1&pid[]=2")[1];
    // The second pair: its index path and its value, no key.
    assert_eq!(two - one, 2);
}
