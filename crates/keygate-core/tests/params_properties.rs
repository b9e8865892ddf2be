//! Properties of the canonical parameter model that must hold for ANY
//! request, checked over generated query strings and bodies built mostly
//! from the pieces that have bypassed gateways before (special names in
//! several cases, leading spaces, NUL, dots, brackets, `+`, `%`, percent
//! escapes of all of these, `&`, `=`, control bytes) mixed with random
//! bytes:
//!
//! - (a) nothing panics: parsing, canonicalization, the forwarded form;
//! - (b) the forwarded form is a fixpoint: parsed again as a body (empty
//!   query, empty master) it gives the same parameters and forwarded
//!   specials (`action`, `responsetype`) and no credential (the client's
//!   are never forwarded), and from then on the same `CanonicalParams`
//!   (`==`); with the client's own credentials passed as the "master"
//!   pairs, the re-parse `==` the original;
//! - (c) with a master credential, the forwarded form carries the special
//!   names only as keygate wrote them: exactly one `identifier` = master,
//!   one `secret` = master, no client `username`/`password`/`accesskey` in
//!   any case or spelling, `action` at most once, exactly as `action`,
//!   equal to the decided action, and no special name as an array;
//! - (d) an accepted request fits PHP's `max_input_vars` with the master
//!   pairs added.
//!
//! The same checks run without a case limit in the cargo-fuzz targets
//! (`fuzz/src/lib.rs`, `scripts/fuzz.sh`), which also feed multipart
//! bodies through the server's reader.

use std::borrow::Cow;

use keygate_core::params::name::{self, NameParse};
use keygate_core::params::{
    registered, urlencoded, CanonicalParams, Key, RawPair, Special, Value, MASTER_PAIRS,
    MAX_INPUT_VARS,
};
use proptest::prelude::*;

const MASTER: [(&str, &[u8]); 2] = [("identifier", b"M"), ("secret", b"S")];

/// Special names a client must never get past keygate under (the ones
/// replaced by the master credential).
const CREDENTIAL_NAMES: [&str; 5] = ["identifier", "secret", "username", "password", "accesskey"];

/// Cases per property: a few seconds in a debug build. `PROPTEST_CASES`
/// overrides it for a longer run.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // Shrinking inputs of a few hundred bytes is quick; keep it bounded.
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// The dangerous pieces, as they appear on the wire (percent escapes are
/// decoded by `urlencoded::parse`).
const PIECES: &[&[u8]] = &[
    b"action",
    b"ACTION",
    b"Action",
    b"aCtIoN",
    b"identifier",
    b"IDENTIFIER",
    b"Identifier",
    b"secret",
    b"SECRET",
    b"Secret",
    b"username",
    b"UserName",
    b"password",
    b"PASSWORD",
    b"accesskey",
    b"AccessKey",
    b"responsetype",
    b"ResponseType",
    b"a",
    b"x",
    b"0",
    b"1",
    b"-1",
    b"05",
    b"-0",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b" ",
    b"  ",
    b"\0",
    b"%00",
    b"\t",
    b"\n",
    b"\r",
    b"\x0b",
    b"\x0c",
    b"\x01",
    b"\x7f",
    b"\xff",
    b"%09",
    b"%0B",
    b"%FF",
    b".",
    b"%2E",
    b"_",
    b"[",
    b"]",
    b"[]",
    b"[ ]",
    b"[x]",
    b"[0]",
    b"%5B",
    b"%5b",
    b"%5D",
    b"%5B%5D",
    b"+",
    b"%2B",
    b"%",
    b"%4",
    b"%20",
    b"%%",
    b"=",
    b"%3D",
    b"&",
    b"%26",
];

/// One piece: mostly a dangerous one, sometimes a random byte.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::sample::select(PIECES).prop_map(<[u8]>::to_vec),
        1 => any::<u8>().prop_map(|b| vec![b]),
        1 => proptest::collection::vec(any::<u8>(), 0..4),
    ]
}

fn pieces(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(piece(), 0..max).prop_map(|p| p.concat())
}

/// A query string or form body: either free-form pieces (so `&` and `=`
/// fall anywhere) or pairs of pieces joined by `=` and `&`.
fn form() -> impl Strategy<Value = Vec<u8>> {
    let pair = (pieces(8), proptest::option::of(pieces(4))).prop_map(|(name, value)| {
        let mut out = name;
        if let Some(value) = value {
            out.push(b'=');
            out.extend(value);
        }
        out
    });
    prop_oneof![
        1 => pieces(48),
        3 => proptest::collection::vec(pair, 0..12).prop_map(|pairs| pairs.join(&b'&')),
    ]
}

/// Pairs as a multipart body delivers them: raw bytes, nothing decoded,
/// so `&`, `=` and `%` stay in names.
fn raw_pairs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::collection::vec((pieces(8), pieces(4)), 0..12)
}

fn borrowed(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<RawPair<'_>> {
    pairs
        .iter()
        .map(|(k, v)| (Cow::Borrowed(&k[..]), Cow::Borrowed(&v[..])))
        .collect()
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// (a)–(d) for one request; `Err` describes the first violation.
fn check(query: &[RawPair<'_>], body: &[RawPair<'_>]) -> Result<(), TestCaseError> {
    // (a): a panic anywhere below fails the case.
    let Ok(params) = CanonicalParams::from_sources(query, body) else {
        return Ok(());
    };

    // (d)
    prop_assert!(
        params.forwarded_pairs() + MASTER_PAIRS <= MAX_INPUT_VARS,
        "{} forwarded pairs",
        params.forwarded_pairs()
    );

    // (b) The upstream sees no client credential, so the re-parse has
    // every parameter and the forwarded specials, and no credential.
    let form = params.forward_form(&[]);
    let form_pairs = urlencoded::parse(form.as_bytes());
    prop_assert_eq!(form_pairs.len(), params.forwarded_pairs(), "form {}", form);
    let again = CanonicalParams::from_sources(&[], &form_pairs);
    prop_assert!(again.is_ok(), "form {} refused: {:?}", form, again);
    let again = again.unwrap_or_default();
    prop_assert_eq!(again.rest(), params.rest(), "form {}", form);
    for special in Special::ALL {
        let expected = if special.forwarded() {
            params.special(special)
        } else {
            None
        };
        prop_assert_eq!(
            again.special(special),
            expected,
            "{:?} in form {}",
            special,
            form
        );
    }
    // A fixpoint from then on, compared whole.
    let again_form = again.forward_form(&[]);
    prop_assert_eq!(&again_form, &form, "the form is not stable");
    let twice = CanonicalParams::from_sources(&[], &urlencoded::parse(again_form.as_bytes()));
    prop_assert_eq!(twice.as_ref(), Ok(&again), "form {}", form);
    // And with the client's own credentials passed as the "master" pairs,
    // the re-parse is the original, compared whole (when the extra pairs
    // still fit in one source).
    let credentials: Vec<(&str, &[u8])> = Special::ALL
        .into_iter()
        .filter(|s| !s.forwarded())
        .filter_map(|s| params.special(s).map(|v| (s.name(), v)))
        .collect();
    if params.forwarded_pairs() + credentials.len() <= MAX_INPUT_VARS {
        let form = params.forward_form(&credentials);
        let again = CanonicalParams::from_sources(&[], &urlencoded::parse(form.as_bytes()));
        prop_assert_eq!(again.as_ref(), Ok(&params), "form {}", form);
    }

    // (c)
    let form = params.forward_form(&MASTER);
    prop_assert!(form.is_ascii(), "form {}", form);
    let form_pairs = urlencoded::parse(form.as_bytes());
    prop_assert_eq!(
        form_pairs.len(),
        params.forwarded_pairs() + MASTER.len(),
        "form {}",
        form
    );
    // Every pair, as PHP names it: a special name only as keygate wrote it.
    let mut count = [0usize; 7];
    for (raw, value) in &form_pairs {
        let NameParse::Name(php) = name::parse(raw) else {
            continue;
        };
        let Some(special) = Special::of(&php.base) else {
            continue;
        };
        count[special as usize] += 1;
        prop_assert!(
            php.path.is_empty() && php.base == special.name().as_bytes() && **raw == php.base[..],
            "special name spelled {} in form {}",
            show(raw),
            form
        );
        let expected = match special {
            Special::Identifier => Some(&b"M"[..]),
            Special::Secret => Some(&b"S"[..]),
            Special::Action | Special::Responsetype => params.special(special),
            Special::Username | Special::Password | Special::Accesskey => None,
        };
        prop_assert_eq!(Some(&value[..]), expected, "{:?} in form {}", special, form);
    }
    for special in Special::ALL {
        let expected = match special {
            Special::Identifier | Special::Secret => 1,
            Special::Action | Special::Responsetype => {
                usize::from(params.special(special).is_some())
            }
            Special::Username | Special::Password | Special::Accesskey => 0,
        };
        prop_assert_eq!(
            count[special as usize],
            expected,
            "{:?} in form {}",
            special,
            form
        );
    }
    // And in the array PHP builds of it.
    let php = registered(&form_pairs);
    prop_assert!(php.is_some(), "form {} nests too deeply", form);
    let php = php.unwrap_or_default();
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
            prop_assert!(
                allowed.is_some_and(|v| *value == Value::Str(v)),
                "{} registered as {} = {:?} from form {}",
                credential,
                show(key),
                value,
                form
            );
        }
        if key.eq_ignore_ascii_case(b"action") {
            actions += 1;
            prop_assert_eq!(&key[..], b"action", "form {}", form);
            let action = params
                .special(Special::Action)
                .map(|a| Value::Str(a.to_vec()));
            prop_assert_eq!(Some(value), action.as_ref(), "form {}", form);
        }
        if Special::of(key).is_some() {
            prop_assert!(
                matches!(value, Value::Str(_)),
                "array under {} in form {}",
                show(key),
                form
            );
        }
    }
    prop_assert!(actions <= 1, "{} actions in form {}", actions, form);
    prop_assert_eq!(
        actions,
        usize::from(params.special(Special::Action).is_some()),
        "form {}",
        form
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(2000))]

    /// Query and urlencoded body, both from the dangerous alphabet.
    #[test]
    fn query_and_urlencoded_body(query in form(), body in form()) {
        check(&urlencoded::parse(&query), &urlencoded::parse(&body))?;
    }

    /// A urlencoded query and a body of raw pairs (as multipart gives).
    #[test]
    fn query_and_raw_body_pairs(query in form(), body in raw_pairs()) {
        check(&urlencoded::parse(&query), &borrowed(&body))?;
    }

    /// Decoding never panics, and encoding round-trips any bytes.
    #[test]
    fn urlencoded_round_trip(bytes in pieces(32)) {
        let decoded = urlencoded::decode(&bytes);
        prop_assert!(decoded.len() <= bytes.len());
        let mut out = String::new();
        urlencoded::encode_into(&mut out, &bytes);
        prop_assert_eq!(&*urlencoded::decode(out.as_bytes()), &bytes[..]);
        let pairs = urlencoded::parse(&bytes);
        prop_assert!(pairs.len() <= bytes.len());
    }
}

/// A pair repeated so that a request lands near PHP's `max_input_vars` and
/// keygate's own limit with the master pairs (d).
fn crowded() -> impl Strategy<Value = Vec<u8>> {
    let template = prop_oneof![
        Just(b"p[]=1".to_vec()),
        Just(b"p[x][]=1".to_vec()),
        Just(b"a=1".to_vec()),
        Just(b"action=1".to_vec()),
        Just(b"q%5B%5D=".to_vec()),
        // Around PHP's `max_input_nesting_level`.
        (60usize..70).prop_map(|depth| format!("a{}=1", "[x]".repeat(depth)).into_bytes()),
        (pieces(6), pieces(2)).prop_map(|(n, v)| [n, b"=".to_vec(), v].concat()),
    ];
    (template, 0usize..(MAX_INPUT_VARS + 8), form()).prop_map(|(t, n, extra)| {
        let mut out = vec![t; n].join(&b'&');
        out.push(b'&');
        out.extend(extra);
        out
    })
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn near_the_input_limits(query in crowded(), body in crowded()) {
        check(&urlencoded::parse(&query), &urlencoded::parse(&body))?;
    }
}

/// Indexes that count up, so a request can have up to ~1000 distinct
/// leaves spread over both sources (the pairs PHP keeps).
#[test]
fn distinct_leaves_at_the_limit() {
    for total in [990, 996, 997, 998, 1000] {
        for split in [0, 1, total / 2, total] {
            let query: String = (0..split).map(|i| format!("q{i}=1&")).collect();
            let body: String = (split..total).map(|i| format!("b[{i}]=1&")).collect();
            let query = urlencoded::parse(query.as_bytes());
            let body = urlencoded::parse(body.as_bytes());
            let accepted = CanonicalParams::from_sources(&query, &body).is_ok();
            assert_eq!(
                accepted,
                total + MASTER_PAIRS <= MAX_INPUT_VARS,
                "{total} split {split}"
            );
            check(&query, &body).unwrap();
        }
    }
}
