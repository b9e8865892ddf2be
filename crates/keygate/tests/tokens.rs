//! `keygate admin token create|list|revoke` through the real binary: the
//! token is printed once and never listed; bad input is one `error:` line.

mod common;

use common::Scratch;
use serde_json::Value;

#[test]
fn tokens_are_created_listed_and_revoked() {
    let s = Scratch::new();
    s.add_admin("alice");
    let out = s.ok(&["admin", "token", "create", "alice", "--description", "ci"]);
    let token = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Token: "))
        .unwrap()
        .to_string();
    assert!(token.starts_with("kgat_") && token.len() == 47, "{out}");
    assert!(out.contains("never shown again"), "{out}");

    let made: Value = serde_json::from_str(&s.ok(&[
        "--json",
        "admin",
        "token",
        "create",
        "alice",
        "--expires",
        "30d",
    ]))
    .unwrap();
    assert!(made["token"].as_str().unwrap().starts_with("kgat_"));
    assert!(made["expires_at"].is_i64());

    let listed = s.ok(&["admin", "token", "list"]);
    assert!(
        listed.contains("alice") && listed.contains("ci"),
        "{listed}"
    );
    assert!(!listed.contains(&token[9..]), "the token is never listed");
    let json: Value =
        serde_json::from_str(&s.ok(&["--json", "admin", "token", "list", "alice"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(!json.to_string().contains(&token[9..]));

    let id = json[0]["id"].as_i64().unwrap().to_string();
    let out = s.ok(&["admin", "token", "revoke", &id]);
    assert!(out.starts_with(&format!("Revoked API token {id}")), "{out}");
    let again = s.cli(&["admin", "token", "revoke", &id]);
    assert_eq!(again.code, 1);
    assert_eq!(
        again.stderr.trim(),
        format!("error: API token {id} not found")
    );

    let audit = s.ok(&["audit", "--target", &id]);
    assert!(
        audit.contains("token.revoke") && audit.contains("token.create"),
        "{audit}"
    );
}

#[test]
fn bad_token_input_is_one_clear_error() {
    let s = Scratch::new();
    s.add_admin("alice");
    let cases: [(&[&str], &str); 3] = [
        (
            &["admin", "token", "create", "bob"],
            "error: admin \"bob\" not found",
        ),
        (
            &["admin", "token", "create", "alice", "--expires", "soonish"],
            "error: invalid time",
        ),
        (
            &["admin", "token", "list", "bob"],
            "error: admin \"bob\" not found",
        ),
    ];
    for (args, expected) in cases {
        let out = s.cli(args);
        assert_eq!(out.code, 1, "{args:?}");
        assert!(out.stderr.starts_with(expected), "{args:?}: {}", out.stderr);
    }
    let out = s.cli(&["admin", "token", "revoke", "x"]);
    assert_eq!(out.code, 2, "usage error: {}", out.stderr);
}
