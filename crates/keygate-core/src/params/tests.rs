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
