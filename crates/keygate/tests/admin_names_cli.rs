//! Admin usernames from the CLI (issue 16, item 9): NFKC-normalised and
//! unique ignoring case, with a clear error for a case twin.

mod common;

use common::Scratch;

#[test]
fn admin_add_refuses_a_case_or_look_alike_twin() {
    let s = Scratch::new();
    let add = |user: &str, password: &str| {
        s.cli_stdin(&["admin", "add", user, "--password-stdin"], password)
    };
    let out = add("alice", "password1\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let twins = [
        (
            "ALICE",
            "error: an admin named \"alice\" already exists (usernames ignore case)",
        ),
        (
            "ａｌｉｃｅ",
            "error: an admin named \"alice\" already exists",
        ),
    ];
    for (twin, expected) in twins {
        let out = add(twin, "password2\n");
        assert_eq!(out.code, 1, "{twin}: {}", out.stdout);
        assert_eq!(out.stderr.trim_end(), expected, "{twin}");
    }
    let out = add("ｂｏｂ", "password1\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = s.ok(&["admin", "list"]);
    assert!(list.contains("bob") && !list.contains("ｂｏｂ"), "{list}");
    assert!(!list.contains("ALICE"), "{list}");
    s.ok(&["admin", "disable", "BOB"]);
}
