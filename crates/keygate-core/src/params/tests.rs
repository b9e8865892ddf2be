//! The canonical model as tables: the bypass vectors of the gateway-bypass
//! issue, ambiguity, limits, and the forwarded form.

use super::*;

fn pairs(form: &str) -> Vec<RawPair<'_>> {
    urlencoded::parse(form.as_bytes())
}

fn canonical(query: &str, body: &str) -> Result<CanonicalParams, ParamError> {
    CanonicalParams::from_sources(&pairs(query), &pairs(body)).map_err(|r| r.error)
}

const MASTER: [(&str, &[u8]); 2] = [("identifier", b"M"), ("secret", b"S")];

#[test]
fn bypass_vectors_are_refused() {
    use ParamError::*;
    use Special::*;
    let cases: &[(&str, &str, ParamError)] = &[
        (
            "",
            "action=GetClients&%20action=DeleteClient",
            Ambiguous(Action),
        ),
        (
            "",
            "action=GetClients&+action=DeleteClient",
            Ambiguous(Action),
        ),
        (
            "",
            "action=GetClients&action%00x=DeleteClient",
            Ambiguous(Action),
        ),
        (
            "",
            "action=GetClients&action[]=DeleteClient",
            Ambiguous(Action),
        ),
        ("", "action[x]=DeleteClient", Ambiguous(Action)),
        ("", "action[]=GetClients", Ambiguous(Action)),
        (
            "",
            "action=GetClients&ACTION=DeleteClient",
            Ambiguous(Action),
        ),
        (
            "action=DeleteClient",
            "action=GetClients",
            Ambiguous(Action),
        ),
        ("", "identifier=a&identifier%00=b", Ambiguous(Identifier)),
        ("", "secret[]=x", Ambiguous(Secret)),
        ("", "username=a&%20username=b", Ambiguous(Username)),
        ("", "password=a&password=b", Ambiguous(Password)),
        ("", "accesskey[a]=1", Ambiguous(Accesskey)),
        (
            "responsetype=xml",
            "responsetype=json",
            Ambiguous(Responsetype),
        ),
    ];
    for (query, body, expected) in cases {
        assert_eq!(
            canonical(query, body),
            Err(expected.clone()),
            "{query} | {body}"
        );
    }
}

#[test]
fn ambiguity_messages_name_the_canonical_lowercase_name() {
    let error = canonical("", "action=a&Action=b").unwrap_err();
    assert_eq!(error.to_string(), "Ambiguous parameter: action");
    assert_eq!(ParamError::TooMany.to_string(), "Too many parameters");
}

#[test]
fn look_alikes_that_php_keeps_apart_stay_ordinary_parameters() {
    // Each of these is a different variable to PHP, never `action`.
    let params = canonical(
        "",
        "action=GetClients&action_=x&action.=y&action[=z&act%20ion=w&xaction=v",
    )
    .unwrap();
    assert_eq!(params.special(Special::Action), Some(&b"GetClients"[..]));
    let form = params.forward_form(&[]);
    assert_eq!(form, "action=GetClients&action_=z&act_ion=w&xaction=v");
}

#[test]
fn special_names_are_canonical_and_case_folded() {
    let params = canonical("Action=GetClients", " identifier=ID&secret.x=1&SECRET=S").unwrap();
    assert_eq!(params.text(Special::Action), "GetClients");
    assert_eq!(params.credential(), ("ID", "S"));
    let params = canonical("", "username=U&password=P&action=A").unwrap();
    assert_eq!(params.credential(), ("U", "P"));
}

#[test]
fn the_forwarded_form_drops_client_credentials_and_respells_names() {
    let params = canonical(
        "responsetype=json&x=1",
        "identifier=I&secret=S&username=U&password=P&accesskey=K&action=GetClients&pid[]=1&pid[]=2&a%20b[c.d]=%00&x=2",
    )
    .unwrap();
    let form = params.forward_form(&MASTER);
    assert_eq!(
        form,
        "action=GetClients&x=2&pid%5B0%5D=1&pid%5B1%5D=2&a_b%5Bc.d%5D=%00&responsetype=json&identifier=M&secret=S"
    );
}

#[test]
fn body_wins_and_arrays_merge_like_request() {
    let params = canonical("a=1&b[x]=1&b[y]=2&c[]=q", "a=2&b[y]=3&c=s").unwrap();
    let form = params.forward_form(&[]);
    assert_eq!(form, "a=2&b%5Bx%5D=1&b%5By%5D=3&c=s");
}

#[test]
fn limits() {
    let many: String = (0..=MAX_INPUT_VARS).map(|i| format!("p{i}=1&")).collect();
    assert_eq!(canonical("", &many), Err(ParamError::TooMany));
    assert_eq!(canonical(&many, ""), Err(ParamError::TooMany));
    // Within each source's limit, but too many to forward with the master.
    let half: String = (0..600).map(|i| format!("p{i}=1&")).collect();
    let other: String = (0..600).map(|i| format!("q{i}=1&")).collect();
    assert_eq!(canonical(&half, &other), Err(ParamError::TooMany));
    let deep = format!("a{}=1", "[x]".repeat(65));
    assert_eq!(canonical("", &deep), Err(ParamError::TooDeep));
    let fits: String = (0..(MAX_INPUT_VARS - MASTER_PAIRS))
        .map(|i| format!("p{i}=1&"))
        .collect();
    assert!(canonical("", &fits).is_ok());
}

#[test]
fn a_refusal_still_knows_the_requested_format() {
    let refused =
        CanonicalParams::from_sources(&pairs("responsetype=json"), &pairs("action=a&action=b"))
            .unwrap_err();
    assert_eq!(refused.responsetype.as_deref(), Some(&b"json"[..]));
}

/// What PHP parses back from the forwarded form is the model itself.
#[test]
fn the_forwarded_form_is_a_fixpoint() {
    let bodies = [
        "a[b.c=1&x[ ]=2&x[  ]=3&y[[z]]=4&%20.k=5&n[5]=6&n[05]=7&n[-0]=8&n[]=9&m[-3]=1&m[]=2",
        "a[b][c=1&a[b]x[c]=2&q=1&q[r]=2&s[t]=1&s=2&u[9223372036854775807]=1&u[]=2",
        "%5B=1&k%5B%09%5D=2&v=%FF%00%26",
    ];
    for body in bodies {
        let params = canonical("", body).unwrap();
        let form = params.forward_form(&[]);
        let again = canonical("", &form).unwrap();
        assert_eq!(again, params, "{body} -> {form}");
        assert_eq!(again.forward_form(&[]), form);
    }
}

/// The algorithm before special names went straight to their slots, kept
/// as the model the fast path must match: every name registered, the
/// specials counted, then each found in the merged array, its key cloned
/// and the entry removed.
mod reference {
    use super::*;

    pub(super) fn from_sources(
        query: &[RawPair<'_>],
        body: &[RawPair<'_>],
    ) -> Result<CanonicalParams, Refused> {
        build(query, body).map_err(|error| Refused {
            error,
            responsetype: plain_value(query, body, Special::Responsetype),
        })
    }

    fn build(query: &[RawPair<'_>], body: &[RawPair<'_>]) -> Result<CanonicalParams, ParamError> {
        let mut seen = [0usize; 7];
        let mut request = register(query, &mut seen)?;
        request.merge(register(body, &mut seen)?);
        request.prune_empty();
        let mut special: [Option<Vec<u8>>; 7] = Default::default();
        for (i, name) in Special::ALL.into_iter().enumerate() {
            if seen[i] == 0 {
                continue;
            }
            let key = request
                .entries()
                .iter()
                .find(|(k, _)| k.is_named(name.name()))
                .map(|(k, _)| k.clone());
            if let Some(Value::Str(value)) = key.and_then(|k| request.remove(&k)) {
                special[i] = Some(value);
            }
        }
        let values: [Option<&[u8]>; 7] = std::array::from_fn(|i| special[i].as_deref());
        let params = CanonicalParams {
            special: SpecialValues::new(&values),
            rest: request,
        };
        if params.forwarded_pairs() + MASTER_PAIRS > MAX_INPUT_VARS {
            return Err(ParamError::TooMany);
        }
        Ok(params)
    }

    fn register(pairs: &[RawPair<'_>], seen: &mut [usize; 7]) -> Result<PhpArray, ParamError> {
        if pairs.len() > MAX_INPUT_VARS {
            return Err(ParamError::TooMany);
        }
        let mut array = PhpArray::default();
        for (raw_name, value) in pairs {
            let name = match name::parse(raw_name) {
                NameParse::Name(name) => name,
                NameParse::Ignored => continue,
                NameParse::TooDeep => return Err(ParamError::TooDeep),
            };
            if let Some(special) = Special::of(&name.base) {
                seen[special as usize] += 1;
                if seen[special as usize] > 1 || !name.path.is_empty() {
                    return Err(ParamError::Ambiguous(special));
                }
            }
            array.register(name.base, &name.path, value.to_vec());
        }
        Ok(array)
    }
}

/// The fast path and the model agree on one request: the same result or
/// refusal, and the same forwarded form byte for byte.
fn agree(query: &[RawPair<'_>], body: &[RawPair<'_>]) -> Result<(), String> {
    let fast = CanonicalParams::from_sources(query, body);
    let model = reference::from_sources(query, body);
    if fast != model {
        return Err(format!("{fast:?} != {model:?}"));
    }
    if let (Ok(fast), Ok(model)) = (&fast, &model) {
        let (a, b) = (fast.forward_form(&MASTER), model.forward_form(&MASTER));
        if a != b {
            return Err(format!("form {a} != {b}"));
        }
        let order = |p: &CanonicalParams| -> Vec<Key> {
            p.rest().entries().iter().map(|(k, _)| k.clone()).collect()
        };
        if order(fast) != order(model) {
            return Err("rest in another order".into());
        }
    }
    Ok(())
}

/// Outcome of one request as a short string: the forwarded form with
/// the master pairs, or the refusal and its format.
fn outcome(query: &str, body: &str) -> String {
    let (query, body) = (pairs(query), pairs(body));
    agree(&query, &body).unwrap();
    match CanonicalParams::from_sources(&query, &body) {
        Ok(params) => params.forward_form(&MASTER),
        Err(refused) => format!(
            "{:?} / {}",
            refused.error,
            String::from_utf8_lossy(refused.responsetype.as_deref().unwrap_or(b"-"))
        ),
    }
}

/// The cases the specials' fast path decides: where a special comes
/// from, in which case and spelling, as an array, next to ordinary
/// parameters, empty, and which error wins.
#[test]
fn specials_fast_path_table() {
    let cases: &[(&str, &str, &str)] = &[
        // Query and body together, each special once.
        (
            "action=GetClients&responsetype=json",
            "identifier=I&secret=S",
            "action=GetClients&responsetype=json&identifier=M&secret=S",
        ),
        (
            "identifier=I",
            "secret=S&action=A&clientid=5",
            "action=A&clientid=5&identifier=M&secret=S",
        ),
        // The same special in both sources, in any case.
        ("action=a", "action=b", "Ambiguous(Action) / -"),
        ("Action=a", "action=b", "Ambiguous(Action) / -"),
        ("responsetype=xml", "ResponseType=json", "Ambiguous(Responsetype) / json"),
        // Case variants in one source.
        ("", "Action=a&action=b", "Ambiguous(Action) / -"),
        ("", "ACTION=a&responsetype=json&aCtIoN=b", "Ambiguous(Action) / json"),
        // As an array, alone, first or after a plain one.
        ("", "action[]=x", "Ambiguous(Action) / -"),
        ("", "action[]=x&action=y", "Ambiguous(Action) / -"),
        ("action=y", "action[x]=z", "Ambiguous(Action) / -"),
        ("", "Secret[]=x&responsetype=xml", "Ambiguous(Secret) / xml"),
        // The first error in pair order wins, the query before the body.
        ("", "secret=a&action[]=b&secret=c", "Ambiguous(Action) / -"),
        ("identifier=1", "action[]=x&identifier=2", "Ambiguous(Action) / -"),
        ("action[]=1", "secret=1&secret=2", "Ambiguous(Action) / -"),
        ("secret=1", "secret=2&action[]=1", "Ambiguous(Secret) / -"),
        (
            "",
            "action=1&a[x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x][x]=1&action=2",
            "TooDeep / -",
        ),
        // Mixed with ordinary parameters: `rest` keeps the request's
        // order, query first, body values over the query's in place.
        (
            "limitnum=25&clientid=4",
            "identifier=I&clientid=5&secret=S&action=GetClients&responsetype=json&x=1",
            "action=GetClients&limitnum=25&clientid=5&x=1&responsetype=json&identifier=M&secret=S",
        ),
        (
            "b=1&action=A",
            "a=2&b=3&responsetype=xml&c[]=4",
            "action=A&b=3&a=2&c%5B0%5D=4&responsetype=xml&identifier=M&secret=S",
        ),
        // Names PHP mangles into a special, and ones it mangles away.
        ("", "%20action=A&+responsetype=json", "action=A&responsetype=json&identifier=M&secret=S"),
        ("", "action%00x=A", "action=A&identifier=M&secret=S"),
        ("", "action=A&%20Action=B", "Ambiguous(Action) / -"),
        ("", "action.=A&action=B", "action=B&action_=A&identifier=M&secret=S"),
        ("", "action[=A&action=B", "action=B&action_=A&identifier=M&secret=S"),
        ("", "act%20ion=A", "act_ion=A&identifier=M&secret=S"),
        ("", "%00action=A", "identifier=M&secret=S"),
        // Empty values are values.
        ("", "action=&responsetype=", "action=&responsetype=&identifier=M&secret=S"),
        ("", "action&identifier", "action=&identifier=M&secret=S"),
        ("action=", "action=x", "Ambiguous(Action) / -"),
        // Client credentials are never forwarded.
        (
            "username=U",
            "password=P&accesskey=K&action=A",
            "action=A&identifier=M&secret=S",
        ),
    ];
    for (query, body, expected) in cases {
        assert_eq!(outcome(query, body), *expected, "{query} | {body}");
    }
}

#[test]
fn specials_keep_their_values() {
    let params = canonical(
        "responsetype=json&clientid=5",
        "Identifier=I&SECRET=&action=GetClients&limitnum=25",
    )
    .unwrap();
    assert_eq!(params.special(Special::Action), Some(&b"GetClients"[..]));
    assert_eq!(params.special(Special::Identifier), Some(&b"I"[..]));
    assert_eq!(params.special(Special::Secret), Some(&b""[..]));
    assert_eq!(params.special(Special::Responsetype), Some(&b"json"[..]));
    assert_eq!(params.special(Special::Username), None);
    assert_eq!(params.forwarded_pairs(), 4);
    let keys: Vec<&Key> = params.rest().entries().iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            &Key::Str(b"clientid".to_vec()),
            &Key::Str(b"limitnum".to_vec())
        ]
    );
}

/// The limit counts the specials forwarded (action, responsetype) and
/// not the others, as before.
#[test]
fn limits_count_the_forwarded_specials() {
    let filler = |n: usize| -> String { (0..n).map(|i| format!("p{i}=1&")).collect() };
    let fits = MAX_INPUT_VARS - MASTER_PAIRS;
    for (extra, specials, ok) in [
        (fits - 2, "action=A&responsetype=json", true),
        (fits - 1, "action=A&responsetype=json", false),
        (fits - 1, "action=A&identifier=I&secret=S", true),
        (fits, "identifier=I&secret=S&username=U", true),
        (fits, "action=A", false),
    ] {
        let body = format!("{}{specials}", filler(extra));
        let query = pairs("");
        let body = pairs(&body);
        agree(&query, &body).unwrap();
        assert_eq!(
            CanonicalParams::from_sources(&query, &body).is_ok(),
            ok,
            "{extra} {specials}"
        );
    }
}

mod differential {
    use proptest::prelude::*;

    use super::*;

    /// Names around the special ones: every case and spelling the fast
    /// path must treat as before, ordinary names, arrays, integers, and
    /// enough distinct keys to make an array indexed.
    const NAMES: &[&[u8]] = &[
        b"action",
        b"Action",
        b"ACTION",
        b"identifier",
        b"secret",
        b"Secret",
        b"responsetype",
        b"username",
        b"password",
        b"accesskey",
        b" action",
        b"action.",
        b"action\0x",
        b"\0action",
        b"action[]",
        b"action[x]",
        b"action[",
        b"secret[",
        b"x",
        b"x y",
        b"a[b]",
        b"a[]",
        b"a[b][]",
        b"a",
        b"5",
        b"-0",
        b"05",
        b"9223372036854775807",
        b"p[9223372036854775807]",
        b"p[]",
        b"",
    ];

    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            24 => proptest::sample::select(NAMES).prop_map(<[u8]>::to_vec),
            6 => (0u8..24).prop_map(|n| format!("k{n}").into_bytes()),
            6 => (0u8..24).prop_map(|n| format!("k{n}[{}]", n % 3).into_bytes()),
            // One level past PHP's nesting limit.
            1 => Just(format!("a{}", "[x]".repeat(name::MAX_NESTING + 1)).into_bytes()),
        ]
    }

    const VALUES: &[&[u8]] = &[b"", b"1", b"json", b"GetClients", b"a b", b"\0\xff"];

    fn value() -> impl Strategy<Value = Vec<u8>> {
        proptest::sample::select(VALUES).prop_map(<[u8]>::to_vec)
    }

    /// Mostly distinct ordinary names, a few others: arrays past the
    /// size where they are indexed, with specials among their entries.
    fn crowded_name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => (0u8..48).prop_map(|n| format!("k{n}").into_bytes()),
            1 => name(),
        ]
    }

    fn source() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
        prop_oneof![
            3 => proptest::collection::vec((name(), value()), 0..8),
            1 => proptest::collection::vec((name(), value()), 0..40),
            1 => proptest::collection::vec((crowded_name(), value()), 10..40),
        ]
    }

    fn borrowed(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<RawPair<'_>> {
        pairs
            .iter()
            .map(|(k, v)| (Cow::Borrowed(&k[..]), Cow::Borrowed(&v[..])))
            .collect()
    }

    /// Specials are rarely accepted when drawn freely; half the cases
    /// draw each name at most once, so the accepted path is exercised.
    fn unique(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut seen = std::collections::HashSet::new();
        pairs
            .into_iter()
            .filter(|(k, _)| seen.insert(k.to_ascii_lowercase()))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn fast_path_matches_the_model(
            query in source(),
            body in source(),
            dedupe in any::<bool>(),
        ) {
            let (query, body) = if dedupe {
                (unique(query), unique(body))
            } else {
                (query, body)
            };
            let result = agree(&borrowed(&query), &borrowed(&body));
            prop_assert!(result.is_ok(), "{}", result.unwrap_err());
        }
    }
}
