//! The `params` target near the limits: the input starts with two
//! little-endian `u16`s, the times the query and the body are repeated
//! (each modulo 1101), then the request as in `params`. Short inputs reach
//! PHP's `max_input_vars` (1000 pairs per source), keygate's own limit
//! (forwarded pairs + 3 master pairs <= 1000) and large arrays. Slower per
//! run than `params`, hence a target of its own.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((counts, request)) = data.split_first_chunk::<4>() else {
        return;
    };
    let count = |at: usize| usize::from(u16::from_le_bytes([counts[at], counts[at + 1]])) % 1101;
    keygate_fuzz::run(request, Some((count(0), count(2))));
});
