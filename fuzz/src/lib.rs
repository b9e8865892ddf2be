//! What keygate's fuzz targets share: reading one request the way the
//! gateway does and checking the invariants of `docs/security.md` (also
//! property-tested in `crates/keygate-core/tests/params_properties.rs`):
//!
//! - (a) nothing panics: the query, the body (urlencoded or multipart,
//!   through the server's own reader), the canonical model, the form;
//! - (b) the forwarded form (empty master) parsed again as a body is the
//!   same model, less the client's credentials, which are never forwarded;
//!   from then on it is a fixpoint compared whole; and with the client's
//!   credentials passed as the master pairs, the re-parse is the original,
//!   compared whole;
//! - (c) with a master credential, the form carries `identifier` and
//!   `secret` exactly once each, as the master's, no client
//!   `username`/`password`/`accesskey` in any spelling, `action` at most
//!   once, spelled `action` and equal to the decided action, and no
//!   special name as an array (checked pair by pair as PHP names them, and
//!   in the array PHP registers);
//! - (d) an accepted request fits `max_input_vars` with the master pairs.
//!
//! A request is read from the fuzzer's bytes as
//! `MODE QUERY \n [CONTENT-TYPE \n] BODY` (so seeds can be written by
//! hand). MODE is the first byte: its bit 0x80 makes the request a GET
//! (PHP reads no body then); the low seven bits modulo 6 (ASCII `0`..`5`
//! are modes 0..5 of a POST) pick the content type:
//! - 0: none (PHP reads no body);
//! - 1: `application/x-www-form-urlencoded; charset=UTF-8`;
//! - 2: `multipart/form-data; boundary=XX`, the body as given;
//! - 3: the content type is the second line, raw bytes (multipart with any
//!   boundary or parameters, or anything else);
//! - 4: multipart built here from the body's lines, each `name=value`, so
//!   the fuzzer reaches the canonical model through well-formed parts;
//! - 5: `application/json` (no pairs).

use std::sync::OnceLock;

use bytes::Bytes;
use keygate_core::params::name::{self, NameParse};
use keygate_core::params::{
    registered, urlencoded, CanonicalParams, Key, RawPair, Special, Value, MASTER_PAIRS,
    MAX_INPUT_VARS,
};

const MASTER: [(&str, &[u8]); 2] = [("identifier", b"M"), ("secret", b"S")];
const CREDENTIAL_NAMES: [&str; 5] = ["identifier", "secret", "username", "password", "accesskey"];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// A well-formed multipart body of `name=value` lines.
fn multipart_of_lines(lines: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(lines.len() * 2 + 64);
    for line in lines.split(|&b| b == b'\n') {
        let (name, value) = match line.iter().position(|&b| b == b'=') {
            Some(eq) => (&line[..eq], &line[eq + 1..]),
            None => (line, &[][..]),
        };
        body.extend_from_slice(b"--XX\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name);
        body.extend_from_slice(b"\"\r\n\r\n");
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XX--\r\n");
    body
}

/// `bytes` written `times` times, at most 128 KiB in all: enough for 1,100
/// pairs of 100 bytes, and quick to run.
fn repeat_bounded(bytes: &[u8], times: usize) -> Vec<u8> {
    bytes.repeat(times.min((128 << 10) / bytes.len().max(1)))
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Reads `data` as one request (see the crate documentation) and checks
/// it. With `repeat`, the query is written `repeat.0` times and the body
/// `repeat.1` times (at most 128 KiB each), so that short inputs reach
/// `max_input_vars` and keygate's own limit.
pub fn run(data: &[u8], repeat: Option<(usize, usize)>) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let is_post = mode & 0x80 == 0;
    let kind = (mode & 0x7f) % 6;
    let (query, rest) = split_line(rest);
    let query = match repeat {
        Some((times, _)) => repeat_bounded(query, times),
        None => query.to_vec(),
    };
    let query = String::from_utf8_lossy(&query);
    let (content_type, rest) = match kind {
        0 => (None, rest),
        1 => (
            Some(&b"application/x-www-form-urlencoded; charset=UTF-8"[..]),
            rest,
        ),
        2 | 4 => (Some(&b"multipart/form-data; boundary=XX"[..]), rest),
        3 => {
            let (content_type, body) = split_line(rest);
            (Some(content_type), body)
        }
        _ => (Some(&b"application/json"[..]), rest),
    };
    let body = match repeat {
        Some((_, times)) => repeat_bounded(rest, times),
        None => rest.to_vec(),
    };
    let body = if kind == 4 {
        multipart_of_lines(&body)
    } else {
        body
    };
    let body = Bytes::from(body);

    // (a) The server's readers.
    let query_pairs = keygate_server::params::query_pairs(Some(&query));
    let Ok(body_pairs) = runtime().block_on(keygate_server::params::body_pairs(
        is_post,
        content_type,
        &body,
    )) else {
        return;
    };
    check(&query_pairs, &body_pairs);
}

/// (a)–(d) for one request's raw pairs; panics on a violation.
pub fn check(query: &[RawPair<'_>], body: &[RawPair<'_>]) {
    // (a) The model and the form.
    let Ok(params) = CanonicalParams::from_sources(query, body) else {
        return;
    };

    // (d)
    assert!(
        params.forwarded_pairs() + MASTER_PAIRS <= MAX_INPUT_VARS,
        "(d) {} forwarded pairs",
        params.forwarded_pairs()
    );

    // (b)
    let form = params.forward_form(&[]);
    let form_pairs = urlencoded::parse(form.as_bytes());
    assert_eq!(
        form_pairs.len(),
        params.forwarded_pairs(),
        "(b) form {form}"
    );
    let again = match CanonicalParams::from_sources(&[], &form_pairs) {
        Ok(again) => again,
        Err(refused) => panic!("(b) form {form} refused: {refused:?}"),
    };
    assert_eq!(again.rest(), params.rest(), "(b) form {form}");
    for special in Special::ALL {
        let expected = if special.forwarded() {
            params.special(special)
        } else {
            None
        };
        assert_eq!(
            again.special(special),
            expected,
            "(b) {special:?} in form {form}"
        );
    }
    let again_form = again.forward_form(&[]);
    assert_eq!(again_form, form, "(b) the form is not stable");
    let twice = CanonicalParams::from_sources(&[], &urlencoded::parse(again_form.as_bytes()));
    assert_eq!(twice.as_ref(), Ok(&again), "(b) form {form}");
    let credentials: Vec<(&str, &[u8])> = Special::ALL
        .into_iter()
        .filter(|s| !s.forwarded())
        .filter_map(|s| params.special(s).map(|v| (s.name(), v)))
        .collect();
    if params.forwarded_pairs() + credentials.len() <= MAX_INPUT_VARS {
        let form = params.forward_form(&credentials);
        let again = CanonicalParams::from_sources(&[], &urlencoded::parse(form.as_bytes()));
        assert_eq!(again.as_ref(), Ok(&params), "(b) form {form}");
    }

    // (c) Every pair of the form, as PHP names it.
    let form = params.forward_form(&MASTER);
    assert!(form.is_ascii(), "(c) form {form}");
    let form_pairs = urlencoded::parse(form.as_bytes());
    assert_eq!(
        form_pairs.len(),
        params.forwarded_pairs() + MASTER.len(),
        "(c) form {form}"
    );
    let mut count = [0usize; 7];
    for (raw, value) in &form_pairs {
        let NameParse::Name(php) = name::parse(raw) else {
            continue;
        };
        let Some(special) = Special::of(&php.base) else {
            continue;
        };
        count[special as usize] += 1;
        assert!(
            php.path.is_empty() && php.base == special.name().as_bytes() && **raw == php.base[..],
            "(c) special name spelled {} in form {form}",
            show(raw)
        );
        let expected = match special {
            Special::Identifier => Some(&b"M"[..]),
            Special::Secret => Some(&b"S"[..]),
            Special::Action | Special::Responsetype => params.special(special),
            Special::Username | Special::Password | Special::Accesskey => None,
        };
        assert_eq!(Some(&value[..]), expected, "(c) {special:?} in form {form}");
    }
    for special in Special::ALL {
        let expected = match special {
            Special::Identifier | Special::Secret => 1,
            Special::Action | Special::Responsetype => {
                usize::from(params.special(special).is_some())
            }
            Special::Username | Special::Password | Special::Accesskey => 0,
        };
        assert_eq!(
            count[special as usize], expected,
            "(c) {special:?} in form {form}"
        );
    }
    // (c) And in the array PHP builds of it.
    let Some(php) = registered(&form_pairs) else {
        panic!("(c) form {form} nests too deeply");
    };
    let mut actions = 0;
    for (key, value) in php.entries() {
        let Key::Str(key) = key else { continue };
        if let Some(credential) = CREDENTIAL_NAMES
            .into_iter()
            .find(|n| key.eq_ignore_ascii_case(n.as_bytes()))
        {
            let allowed = match &key[..] {
                b"identifier" => Some(b"M".to_vec()),
                b"secret" => Some(b"S".to_vec()),
                _ => None,
            };
            assert!(
                allowed.is_some_and(|v| *value == Value::Str(v)),
                "(c) {credential} registered as {} = {value:?} from form {form}",
                show(key)
            );
        }
        if key.eq_ignore_ascii_case(b"action") {
            actions += 1;
            assert_eq!(&key[..], b"action", "(c) form {form}");
            let action = params
                .special(Special::Action)
                .map(|a| Value::Str(a.to_vec()));
            assert_eq!(Some(value), action.as_ref(), "(c) form {form}");
        }
        if Special::of(key).is_some() {
            assert!(
                matches!(value, Value::Str(_)),
                "(c) array under {} in form {form}",
                show(key)
            );
        }
    }
    assert_eq!(
        actions,
        usize::from(params.special(Special::Action).is_some()),
        "(c) form {form}"
    );
}
