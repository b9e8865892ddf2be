//! The gateway's parameter path on arbitrary requests: the query string,
//! the body (urlencoded or multipart, through the server's own reader),
//! the canonical model and the forwarded form, checked for the invariants
//! (a)–(d) listed in `fuzz/src/lib.rs`, which also describes how the
//! input is read (`MODE QUERY \n [CONTENT-TYPE \n] BODY`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| keygate_fuzz::run(data, None));
