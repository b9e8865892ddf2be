//! The CLI end to end: the built binary against a temporary SQLite file,
//! checking output, exit codes and that failed commands change nothing.

mod common;

use common::Scratch;
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// An `error:` line on stderr and exit status 1.
fn assert_error(out: &common::Output, expected: &str) {
    assert_eq!(out.code, 1, "stdout: {} stderr: {}", out.stdout, out.stderr);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end().lines().count(),
        1,
        "one line: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(expected),
        "expected {expected:?} in {}",
        out.stderr
    );
}

#[test]
fn database_is_created_and_listings_start_empty() {
    let s = Scratch::new();
    assert_eq!(
        json(&s.ok(&["admin", "list", "--json"])),
        serde_json::json!([])
    );
    assert!(s.dir.path().join("keygate.db").exists());
    assert_eq!(
        json(&s.ok(&["role", "list", "--json"])),
        serde_json::json!([])
    );
    assert_eq!(
        json(&s.ok(&["credential", "list", "--json"])),
        serde_json::json!([])
    );
}

#[test]
fn admin_lifecycle() {
    let s = Scratch::new();
    let out = s.cli_stdin(
        &["admin", "add", "alice", "--password-stdin", "--json"],
        "password1\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out.stdout)["username"], "alice");
    let bad_adds = [
        ("alice", "password1\n", "already exists"),
        ("bob", "short\n", "at least 8"),
        ("bad name", "password1\n", "username"),
        ("bob", "", "no password"),
    ];
    for (user, stdin, expected) in bad_adds {
        let out = s.cli_stdin(&["admin", "add", user, "--password-stdin"], stdin);
        assert_error(&out, expected);
    }
    assert_error(&s.cli(&["admin", "add", "bob"]), "--password-stdin");
    let out = s.cli_stdin(
        &["admin", "passwd", "alice", "--password-stdin"],
        "new-password\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_error(
        &s.cli_stdin(
            &["admin", "passwd", "ghost", "--password-stdin"],
            "new-password\n",
        ),
        "not found",
    );
    s.ok(&["admin", "disable", "alice"]);
    assert_eq!(
        json(&s.ok(&["admin", "list", "--json"]))[0]["enabled"],
        false
    );
    assert!(s.ok(&["admin", "list"]).contains("disabled"));
    s.ok(&["admin", "enable", "alice"]);
    assert_eq!(
        json(&s.ok(&["admin", "list", "--json"]))[0]["enabled"],
        true
    );
    s.ok(&["admin", "remove", "alice"]);
    assert_error(
        &s.cli(&["admin", "remove", "alice"]),
        "admin \"alice\" not found",
    );
}

#[test]
fn generating_before_any_role_is_refused_with_the_contract_message() {
    let s = Scratch::new();
    s.add_admin("alice");
    let out = s.cli(&["credential", "generate", "--admin", "alice"]);
    assert_error(
        &out,
        "You must create at least one API role before you can generate API credentials",
    );
    let named = s.cli(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--role",
        "Ghost",
    ]);
    assert_error(
        &named,
        "You must create at least one API role before you can generate API credentials",
    );
    assert_eq!(
        json(&s.ok(&["credential", "list", "--json"])),
        serde_json::json!([])
    );
}

#[test]
fn role_commands() {
    let s = Scratch::new();
    let created = json(&s.ok(&[
        "role",
        "create",
        "Support",
        "--description",
        "Helpdesk",
        "--allow",
        "openticket",
        "--allow",
        "GetClientsData",
        "--allow-category",
        "Tickets",
        "--json",
    ]));
    assert_eq!(created["name"], "Support");
    let actions = created["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 11, "1 + alias target + 9 Tickets");
    assert!(
        actions.contains(&Value::from("GetClientsDetails")),
        "alias stored as its target"
    );
    assert_error(&s.cli(&["role", "create", "SUPPORT"]), "already exists");
    assert_error(
        &s.cli(&["role", "create", "X", "--allow", "NoSuchAction"]),
        "unknown action",
    );
    assert_error(
        &s.cli(&["role", "create", "X", "--allow-category", "Nope"]),
        "unknown category",
    );
    assert_error(&s.cli(&["role", "create", ""]), "must not be empty");
    assert_error(&s.cli(&["role", "create", &"r".repeat(65)]), "at most 64");
    assert_error(
        &s.cli(&["role", "create", "X", "--description", &"d".repeat(256)]),
        "at most 255",
    );

    let shown = s.ok(&["role", "show", "support"]);
    assert!(
        shown.contains("Helpdesk") && shown.contains("Tickets:"),
        "{shown}"
    );
    let edited = json(&s.ok(&[
        "role",
        "edit",
        "Support",
        "--name",
        "Helpdesk",
        "--description",
        "new",
        "--revoke-category",
        "tickets",
        "--revoke",
        "OpenTicket",
        "--allow",
        "GetInvoices",
        "--json",
    ]));
    assert_eq!(edited["name"], "Helpdesk");
    assert_eq!(
        edited["actions"],
        serde_json::json!(["GetClientsDetails", "GetInvoices"])
    );
    assert_error(
        &s.cli(&["role", "show", "Support"]),
        "role \"Support\" not found",
    );
    let list = json(&s.ok(&["role", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    s.ok(&["role", "delete", "HELPDESK"]);
    assert_error(&s.cli(&["role", "delete", "Helpdesk"]), "not found");
}

#[test]
fn credential_lifecycle_never_shows_the_secret_again() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "A", "--allow", "GetClients"]);
    s.ok(&["role", "create", "B", "--allow", "OpenTicket"]);
    let out = s.cli(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--role",
        "A",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let generated = json(&out.stdout);
    let keys: Vec<&String> = generated.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["identifier", "secret"],
        "exactly identifier and secret"
    );
    assert_eq!(out.stdout.lines().count(), 1, "nothing else on stdout");
    let identifier = generated["identifier"].as_str().unwrap();
    let secret = generated["secret"].as_str().unwrap();
    assert_eq!((identifier.len(), secret.len()), (32, 32));

    let text = s.ok(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--description",
        "second",
    ]);
    assert!(
        text.contains("Identifier:") && text.contains("Secret:"),
        "{text}"
    );

    for listing in [
        s.ok(&["credential", "list"]),
        s.ok(&["credential", "list", "--json"]),
        s.ok(&["credential", "list", "--admin", "alice", "--json"]),
        s.ok(&["credential", "show", identifier]),
        s.ok(&["credential", "show", identifier, "--json"]),
    ] {
        assert!(listing.contains(identifier));
        assert!(!listing.contains(secret), "secret leaked: {listing}");
    }
    let db = std::fs::read(s.dir.path().join("keygate.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(secret),
        "secret stored in clear"
    );

    let edited = json(&s.ok(&[
        "credential",
        "edit",
        identifier,
        "--description",
        "billing app",
        "--role",
        "B",
        "--role",
        "a",
        "--json",
    ]));
    assert_eq!(edited["description"], "billing app");
    let roles: Vec<&str> = edited["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["A", "B"]);
    let cleared = json(&s.ok(&["credential", "edit", identifier, "--no-roles", "--json"]));
    assert_eq!(cleared["roles"], serde_json::json!([]));
    assert_eq!(cleared["description"], "billing app");
    assert_error(
        &s.cli(&["credential", "edit", identifier]),
        "nothing to change",
    );
    assert_error(
        &s.cli(&["credential", "edit", identifier, "--role", "Ghost"]),
        "role \"Ghost\" not found",
    );
    assert_eq!(
        s.cli(&[
            "credential",
            "edit",
            identifier,
            "--role",
            "A",
            "--no-roles"
        ])
        .code,
        2
    );
    assert_error(
        &s.cli(&["credential", "generate", "--admin", "ghost"]),
        "admin \"ghost\" not found",
    );
    assert_error(
        &s.cli(&["credential", "list", "--admin", "ghost"]),
        "not found",
    );

    s.ok(&["credential", "delete", identifier]);
    assert_error(&s.cli(&["credential", "show", identifier]), "not found");
    assert_error(&s.cli(&["credential", "delete", identifier]), "not found");
}

#[test]
fn deleting_a_role_unassigns_it_and_a_namesake_is_not_reassigned() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "Tickets", "--allow", "OpenTicket"]);
    let (identifier, _) = s.generate("alice", &["Tickets"]);
    s.ok(&["role", "delete", "Tickets"]);
    s.ok(&["role", "create", "Tickets", "--allow", "OpenTicket"]);
    let shown = json(&s.ok(&["credential", "show", &identifier, "--json"]));
    assert_eq!(shown["roles"], serde_json::json!([]));
}

#[test]
fn removing_an_admin_removes_its_credentials_and_a_password_change_keeps_them() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.add_admin("bob");
    s.ok(&["role", "create", "R"]);
    let (alice_cred, _) = s.generate("alice", &["R"]);
    let (bob_cred, _) = s.generate("bob", &["R"]);
    let out = s.cli_stdin(
        &["admin", "passwd", "alice", "--password-stdin"],
        "changed-pass\n",
    );
    assert_eq!(out.code, 0);
    s.ok(&["credential", "show", &alice_cred]);
    s.ok(&["admin", "remove", "bob"]);
    assert_error(&s.cli(&["credential", "show", &bob_cred]), "not found");
    let all = json(&s.ok(&["credential", "list", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn import_assigns_the_compatibility_role() {
    let s = Scratch::new();
    s.add_admin("alice");
    let out = s.cli_stdin(
        &[
            "credential",
            "import",
            "--admin",
            "alice",
            "--identifier",
            "LegacyId1",
            "--secret-stdin",
            "--json",
        ],
        "legacy-secret\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out.stdout)["roles"][0]["name"], "Compatibility Role");
    let role = json(&s.ok(&["role", "show", "Compatibility Role", "--json"]));
    assert_eq!(role["actions"].as_array().unwrap().len(), 162);
    s.ok(&[
        "role",
        "edit",
        "Compatibility Role",
        "--revoke-category",
        "Billing",
    ]);
    let out = s.cli_stdin(
        &[
            "credential",
            "import",
            "--admin",
            "alice",
            "--identifier",
            "LegacyId2",
            "--secret-stdin",
        ],
        "other\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let role = json(&s.ok(&["role", "show", "Compatibility Role", "--json"]));
    assert_eq!(
        role["actions"].as_array().unwrap().len(),
        162 - 24,
        "reused as it is"
    );
    let dup = s.cli_stdin(
        &[
            "credential",
            "import",
            "--admin",
            "alice",
            "--identifier",
            "LegacyId2",
            "--secret-stdin",
        ],
        "x\n",
    );
    assert_error(&dup, "already exists");
    assert_eq!(
        s.cli(&[
            "credential",
            "import",
            "--admin",
            "alice",
            "--identifier",
            "X"
        ])
        .code,
        2
    );
}

#[test]
fn actions_lists_the_catalog_and_custom_actions() {
    let s = Scratch::new();
    let all = json(&s.ok(&["actions", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 162);
    let billing = json(&s.ok(&["actions", "--category", "billing", "--json"]));
    assert_eq!(billing.as_array().unwrap().len(), 24);
    assert_error(
        &s.cli(&["actions", "--category", "Nope"]),
        "unknown category",
    );
    assert!(s
        .ok(&["actions"])
        .contains("alias: GetClientsData -> GetClientsDetails"));

    std::fs::write(
        s.dir.path().join("keygate.toml"),
        "[[catalog.custom]]\ncategory = \"Custom\"\naction = \"GetInvoicesDetails\"\n",
    )
    .unwrap();
    let custom = json(&s.ok(&["actions", "--category", "custom", "--json"]));
    assert_eq!(custom[0]["action"], "GetInvoicesDetails");
    s.ok(&["role", "create", "C", "--allow", "getinvoicesdetails"]);

    std::fs::write(s.dir.path().join("keygate.toml"), "listen = 5\n").unwrap();
    assert_error(&s.cli(&["role", "list"]), "invalid config file");
    std::fs::write(
        s.dir.path().join("keygate.toml"),
        "[[catalog.custom]]\ncategory = \"X\"\naction = \"GetClients\"\n",
    )
    .unwrap();
    assert_error(&s.cli(&["role", "list"]), "already in the catalog");
}

#[test]
fn config_file_flag_and_missing_file() {
    let s = Scratch::new();
    assert_error(
        &s.cli(&["--config", "nope.toml", "role", "list"]),
        "cannot read config file nope.toml",
    );
    let other = s.dir.path().join("other.db");
    std::fs::write(
        s.dir.path().join("custom.toml"),
        format!("database_url = \"sqlite://{}\"\n", other.display()),
    )
    .unwrap();
    // The env var given by the harness wins over the file; without it the file is used.
    let out = std::process::Command::new(common::keygate_bin())
        .current_dir(s.dir.path())
        .env_remove("KEYGATE_DATABASE_URL")
        .args(["--config", "custom.toml", "role", "list"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(other.exists());
}

#[test]
fn unusable_databases_give_a_clear_error() {
    let s = Scratch::new();
    std::fs::create_dir(s.dir.path().join("dir.db")).unwrap();
    let url = format!("sqlite://{}", s.dir.path().join("dir.db").display());
    let out = common::run_cli(s.dir.path(), &url, &["role", "list"], None);
    assert_error(&out, "cannot open database");
    let missing_dir = format!("sqlite://{}/no/such/dir/k.db", s.dir.path().display());
    assert_error(
        &common::run_cli(s.dir.path(), &missing_dir, &["role", "list"], None),
        "cannot open database",
    );
    assert_error(
        &common::run_cli(s.dir.path(), "mysql://x", &["role", "list"], None),
        "unsupported database URL",
    );

    // Read-only: the database exists, reads work, writes fail and change nothing.
    s.ok(&["role", "create", "R"]);
    let read_only = format!("{}?mode=ro", s.db_url);
    let out = common::run_cli(s.dir.path(), &read_only, &["role", "list", "--json"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = common::run_cli(s.dir.path(), &read_only, &["role", "create", "Other"], None);
    assert_error(&out, "read-only");
    assert_eq!(
        json(&s.ok(&["role", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    assert_eq!(s.cli(&["bogus"]).code, 2);
    assert_eq!(s.cli(&["role", "create"]).code, 2);
    assert_eq!(s.cli(&["credential", "generate"]).code, 2);
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Asserts `value` is `from + offset`, allowing for the seconds a test
/// run takes.
fn around(value: &Value, from: i64, offset: i64) {
    let at = value
        .as_i64()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    assert!(
        (from + offset..=now() + offset).contains(&at),
        "{at} not {offset}s after {from}"
    );
}

/// The credential as `show --json` prints it.
fn shown(s: &Scratch, identifier: &str) -> Value {
    json(&s.ok(&["credential", "show", identifier, "--json"]))
}

#[test]
fn generate_takes_expiry_allowlist_and_rate_limit() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "R", "--allow", "GetClients"]);
    let start = now();
    let out = s.cli(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--role",
        "R",
        "--expires",
        "30d",
        "--allow-ip",
        "10.1.2.3/8",
        "--allow-ip",
        "2001:db8::1/32",
        "--allow-ip",
        "10.0.0.0/8",
        "--allow-ip",
        "192.0.2.7",
        "--rate-limit",
        "600/m",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let generated = json(&out.stdout);
    let keys: Vec<&String> = generated.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["identifier", "secret"], "generate --json unchanged");
    let id = generated["identifier"].as_str().unwrap();
    let c = shown(&s, id);
    assert_eq!(c["enabled"], true);
    around(&c["expires_at"], start, 30 * 86_400);
    assert_eq!(
        c["allow_ips"],
        serde_json::json!(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]),
        "canonical, without duplicates"
    );
    assert_eq!(c["rate_limit"], "600/m");
    assert_eq!(c["old_secret_valid_until"], Value::Null);
    let text = s.ok(&["credential", "show", id]);
    for line in [
        "Status:      enabled",
        "Allowed IPs: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7/32",
        "Rate limit:  600/m",
        "Old secret:  none",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let listed = json(&s.ok(&["credential", "list", "--json"]));
    assert_eq!(listed[0]["rate_limit"], "600/m");

    // RFC 3339 expiry, with Z or an offset; the defaults when nothing is given.
    let (plain, _) = s.generate("alice", &["R"]);
    let with_time = json(&s.ok(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--expires",
        "2099-01-31T02:00:00+02:00",
        "--json",
    ]));
    let dated = shown(&s, with_time["identifier"].as_str().unwrap());
    assert_eq!(dated["expires_at"], 4_073_500_800_i64);
    let text = s.ok(&[
        "credential",
        "show",
        with_time["identifier"].as_str().unwrap(),
    ]);
    assert!(text.contains("Expires:     2099-01-31T00:00:00Z"), "{text}");
    let text = s.ok(&["credential", "show", &plain]);
    for line in [
        "Expires:     never",
        "Allowed IPs: any",
        "Rate limit:  default",
        "Old secret:  none",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let c = shown(&s, &plain);
    assert_eq!(c["expires_at"], Value::Null);
    assert_eq!(c["allow_ips"], serde_json::json!([]));
    assert_eq!(c["rate_limit"], Value::Null);

    // Bad values: one error line, exit 1, nothing created.
    let bad: [(&[&str], &str); 7] = [
        (&["--expires", "soon"], r#"--expires: invalid time "soon""#),
        (
            &["--expires", "2020-01-01T00:00:00Z"],
            "expiry must be in the future",
        ),
        (&["--expires", "0s"], "expiry must be in the future"),
        (
            &["--allow-ip", "10.0.0.0/33"],
            r#"--allow-ip: invalid network "10.0.0.0/33""#,
        ),
        (&["--allow-ip", "example.com"], "invalid network"),
        (
            &["--rate-limit", "600/d"],
            r#"--rate-limit: invalid rate "600/d""#,
        ),
        (&["--rate-limit", "0/m"], "N must be between 1 and"),
    ];
    for (extra, expected) in bad {
        let mut args = vec!["credential", "generate", "--admin", "alice"];
        args.extend_from_slice(extra);
        assert_error(&s.cli(&args), expected);
    }
    let too_many: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
    let mut args = vec!["credential", "generate", "--admin", "alice"];
    for net in &too_many {
        args.extend(["--allow-ip", net.as_str()]);
    }
    assert_error(&s.cli(&args), "at most 64 networks");
    assert_eq!(
        json(&s.ok(&["credential", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        3,
        "nothing created by the failures"
    );
}

#[test]
fn edit_sets_and_clears_the_lifecycle() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "R"]);
    let (id, _) = s.generate("alice", &["R"]);
    let start = now();
    let edited = json(&s.ok(&[
        "credential",
        "edit",
        &id,
        "--expires",
        "12h",
        "--allow-ip",
        "203.0.113.0/24",
        "--allow-ip",
        "::1",
        "--rate-limit",
        "5/s",
        "--json",
    ]));
    around(&edited["expires_at"], start, 12 * 3600);
    assert_eq!(
        edited["allow_ips"],
        serde_json::json!(["203.0.113.0/24", "::1/128"])
    );
    assert_eq!(edited["rate_limit"], "5/s");
    assert_eq!(edited["roles"][0]["name"], "R", "roles untouched");

    // --allow-ip replaces the whole list; other fields stay.
    let replaced = json(&s.ok(&[
        "credential",
        "edit",
        &id,
        "--allow-ip",
        "198.51.100.1",
        "--json",
    ]));
    assert_eq!(
        replaced["allow_ips"],
        serde_json::json!(["198.51.100.1/32"])
    );
    assert_eq!(replaced["rate_limit"], "5/s");
    assert_eq!(replaced["expires_at"], edited["expires_at"]);

    let text = s.ok(&[
        "credential",
        "edit",
        &id,
        "--expires",
        "2099-01-31T00:00:00Z",
    ]);
    assert_eq!(text.trim(), format!("Updated credential {id}."));
    assert_eq!(shown(&s, &id)["expires_at"], 4_073_500_800_i64);

    let cleared = json(&s.ok(&[
        "credential",
        "edit",
        &id,
        "--no-expiry",
        "--any-ip",
        "--no-rate-limit",
        "--json",
    ]));
    assert_eq!(cleared["expires_at"], Value::Null);
    assert_eq!(cleared["allow_ips"], serde_json::json!([]));
    assert_eq!(cleared["rate_limit"], Value::Null);
    assert_eq!(cleared["enabled"], true);

    // Conflicting pairs are usage errors (exit 2).
    for pair in [
        ["--expires", "1h", "--no-expiry"],
        ["--allow-ip", "10.0.0.1", "--any-ip"],
        ["--rate-limit", "1/s", "--no-rate-limit"],
    ] {
        let mut args = vec!["credential", "edit", id.as_str()];
        args.extend(pair);
        let out = s.cli(&args);
        assert_eq!(out.code, 2, "{pair:?}: {}", out.stderr);
        assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
    }

    // Bad values: exit 1, one line, nothing changed.
    let before = shown(&s, &id);
    let bad: [(&[&str], &str); 6] = [
        (&["--expires", "yesterday"], "invalid time"),
        (
            &["--expires", "1970-01-02T00:00:00Z"],
            "expiry must be in the future",
        ),
        (
            &["--allow-ip", "10.0.0.1", "--allow-ip", "300.0.0.1"],
            "invalid network",
        ),
        (&["--rate-limit", "fast"], "invalid rate"),
        (
            &["--description", "ok", "--rate-limit", "1/y"],
            "invalid rate",
        ),
        (
            &["--role", "Ghost", "--rate-limit", "1/s"],
            "role \"Ghost\" not found",
        ),
    ];
    for (extra, expected) in bad {
        let mut args = vec!["credential", "edit", id.as_str()];
        args.extend_from_slice(extra);
        assert_error(&s.cli(&args), expected);
    }
    assert_eq!(shown(&s, &id), before, "failed edits change nothing");
    assert_error(
        &s.cli(&["credential", "edit", "ghost", "--no-expiry"]),
        "credential \"ghost\" not found",
    );
    assert_error(&s.cli(&["credential", "edit", &id]), "nothing to change");
}

#[test]
fn disable_enable_and_the_status_column() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "R"]);
    let (id, _) = s.generate("alice", &["R"]);
    let list = s.ok(&["credential", "list"]);
    let header = list.lines().next().unwrap();
    let columns: Vec<&str> = header.split("  ").filter(|c| !c.is_empty()).collect();
    let columns: Vec<&str> = columns.iter().map(|c| c.trim()).collect();
    assert_eq!(
        columns,
        [
            "IDENTIFIER",
            "ADMIN",
            "STATUS",
            "ROLES",
            "CLIENTS",
            "EXPIRES",
            "LAST ACCESS",
            "CREATED",
            "DESCRIPTION"
        ]
    );
    let row = list.lines().nth(1).unwrap();
    assert!(
        row.contains(" enabled ") && row.contains(" never "),
        "{row}"
    );

    let out = s.ok(&["credential", "disable", &id]);
    assert_eq!(out.trim(), format!("Disabled credential {id}."));
    assert_eq!(shown(&s, &id)["enabled"], false);
    assert!(s.ok(&["credential", "list"]).contains(" disabled "));
    assert!(s
        .ok(&["credential", "show", &id])
        .contains("Status:      disabled"));
    let out = json(&s.ok(&["credential", "enable", &id, "--json"]));
    assert_eq!(
        out,
        serde_json::json!({ "identifier": id, "status": "enabled" })
    );
    assert_eq!(shown(&s, &id)["enabled"], true);
    let out = json(&s.ok(&["credential", "disable", &id, "--json"]));
    assert_eq!(out["status"], "disabled");
    s.ok(&["credential", "enable", &id]);
    assert_error(&s.cli(&["credential", "disable", "ghost"]), "not found");
    assert_error(&s.cli(&["credential", "enable", "ghost"]), "not found");
    assert_eq!(s.cli(&["credential", "disable"]).code, 2);

    // A credential past its expiry lists as expired (disabled wins).
    // Three seconds: "1s" could already lie in the past by the time a CLI
    // run on a loaded machine has opened the database and checks it.
    s.ok(&["credential", "edit", &id, "--expires", "3s"]);
    std::thread::sleep(std::time::Duration::from_millis(4100));
    let row = s.ok(&["credential", "list"]);
    assert!(row.contains(" expired "), "{row}");
    assert!(s
        .ok(&["credential", "show", &id])
        .contains("Status:      expired"));
    s.ok(&["credential", "disable", &id]);
    assert!(s.ok(&["credential", "list"]).contains(" disabled "));
}

#[test]
fn rotate_prints_the_new_secret_once() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "R"]);
    let (id, first) = s.generate("alice", &["R"]);
    let start = now();
    let out = s.cli(&["credential", "rotate", &id, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "nothing else on stdout");
    let rotated = json(&out.stdout);
    let mut keys: Vec<&String> = rotated.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["identifier", "old_secret_valid_until", "secret"]);
    assert!(
        out.stdout
            .starts_with(&format!(r#"{{"identifier":"{id}","secret":""#)),
        "contract order: {}",
        out.stdout
    );
    assert_eq!(rotated["identifier"], id.as_str());
    let second = rotated["secret"].as_str().unwrap().to_string();
    assert_eq!(second.len(), 32);
    assert_ne!(second, first);
    around(&rotated["old_secret_valid_until"], start, 24 * 3600);
    let c = shown(&s, &id);
    assert_eq!(
        c["old_secret_valid_until"],
        rotated["old_secret_valid_until"]
    );
    let text = s.ok(&["credential", "show", &id]);
    assert!(text.contains("Old secret:  valid until 20"), "{text}");
    for listing in [
        s.ok(&["credential", "list", "--json"]),
        s.ok(&["credential", "show", &id]),
    ] {
        assert!(!listing.contains(&second) && !listing.contains(&first));
    }
    let db = std::fs::read(s.dir.path().join("keygate.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&second));

    let start = now();
    let rotated = json(&s.ok(&["credential", "rotate", &id, "--overlap", "90m", "--json"]));
    around(&rotated["old_secret_valid_until"], start, 5400);

    let rotated = json(&s.ok(&["credential", "rotate", &id, "--overlap", "0", "--json"]));
    assert_eq!(rotated["old_secret_valid_until"], Value::Null);
    assert_eq!(shown(&s, &id)["old_secret_valid_until"], Value::Null);
    assert!(s
        .ok(&["credential", "show", &id])
        .contains("Old secret:  none"));

    // Text: the pair on stdout, the notes on stderr.
    let out = s.cli(&["credential", "rotate", &id, "--overlap", "1h"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(lines[0], format!("Identifier: {id}"));
    assert!(lines[1].starts_with("Secret:     ") && lines[1].len() == 12 + 32);
    assert!(
        out.stderr.contains("The old secret keeps working until"),
        "{}",
        out.stderr
    );
    let out = s.cli(&["credential", "rotate", &id, "--overlap", "0"]);
    assert!(
        out.stderr.contains("The old secret no longer works."),
        "{}",
        out.stderr
    );

    assert_error(
        &s.cli(&["credential", "rotate", &id, "--overlap", "forever"]),
        r#"invalid overlap "forever""#,
    );
    assert_error(
        &s.cli(&["credential", "rotate", &id, "--overlap=-1h"]),
        "invalid overlap",
    );
    assert_error(
        &s.cli(&["credential", "rotate", "ghost"]),
        "credential \"ghost\" not found",
    );
    assert_eq!(s.cli(&["credential", "rotate"]).code, 2);
}

#[test]
fn help_describes_the_lifecycle_commands() {
    let s = Scratch::new();
    let help = s.ok(&["credential", "--help"]);
    for command in ["disable", "enable", "rotate"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} in {help}"
        );
    }
    let rotate = s.ok(&["credential", "rotate", "--help"]);
    assert!(rotate.contains("--overlap <DURATION>"), "{rotate}");
    assert!(rotate.contains("[default: 24h]"), "{rotate}");
    let generate = s.ok(&["credential", "generate", "--help"]);
    for flag in [
        "--expires <WHEN>",
        "--allow-ip <CIDR>",
        "--rate-limit <N/s|N/m|N/h>",
        "--client <ID>",
    ] {
        assert!(generate.contains(flag), "{flag} in {generate}");
    }
    assert!(generate.contains("2027-01-31T00:00:00Z"), "{generate}");
    let edit = s.ok(&["credential", "edit", "--help"]);
    for flag in [
        "--expires <WHEN>",
        "--no-expiry",
        "--allow-ip <CIDR>",
        "--any-ip",
        "--rate-limit <RATE>",
        "--no-rate-limit",
        "--client <ID>",
        "--no-client",
    ] {
        assert!(edit.contains(flag), "{flag} in {edit}");
    }
}

#[test]
fn generate_and_edit_take_a_client_scope() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "R", "--allow", "GetClients"]);
    let generated = json(&s.ok(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--role",
        "R",
        "--client",
        "40",
        "--client",
        "12",
        "--client",
        "40",
        "--json",
    ]));
    let keys: Vec<&String> = generated.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["identifier", "secret"], "generate --json unchanged");
    let id = generated["identifier"].as_str().unwrap().to_string();
    let c = shown(&s, &id);
    assert_eq!(
        c["client_ids"],
        serde_json::json!([12, 40]),
        "sorted, without duplicates"
    );
    let text = s.ok(&["credential", "show", &id]);
    assert!(text.contains("Clients:     12, 40"), "{text}");
    let (plain, _) = s.generate("alice", &["R"]);
    assert_eq!(shown(&s, &plain)["client_ids"], serde_json::json!([]));
    let text = s.ok(&["credential", "show", &plain]);
    assert!(text.contains("Clients:     any (not scoped)"), "{text}");

    // The list: a CLIENTS column, "12,40" or "-"; --json carries the ids.
    let list = s.ok(&["credential", "list"]);
    let header = list.lines().next().unwrap();
    let column = header.find("CLIENTS").expect("a CLIENTS column");
    let cell = |line: &str| {
        line[column..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let row_of = |identifier: &str| {
        list.lines()
            .find(|l| l.starts_with(identifier))
            .unwrap_or_else(|| panic!("{identifier} in {list}"))
            .to_string()
    };
    assert_eq!(cell(&row_of(&id)), "12,40", "{list}");
    assert_eq!(cell(&row_of(&plain)), "-", "{list}");
    let listed = json(&s.ok(&["credential", "list", "--json"]));
    let by_id = |identifier: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["identifier"] == identifier)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(&id)["client_ids"], serde_json::json!([12, 40]));
    assert_eq!(by_id(&plain)["client_ids"], serde_json::json!([]));

    // --client replaces the whole list; other fields stay.
    s.ok(&["credential", "edit", &id, "--rate-limit", "5/s"]);
    let replaced = json(&s.ok(&["credential", "edit", &id, "--client", "7", "--json"]));
    assert_eq!(replaced["client_ids"], serde_json::json!([7]));
    assert_eq!(replaced["rate_limit"], "5/s");
    assert_eq!(replaced["roles"][0]["name"], "R", "roles untouched");
    let other = json(&s.ok(&[
        "credential",
        "edit",
        &id,
        "--description",
        "scoped app",
        "--json",
    ]));
    assert_eq!(other["client_ids"], serde_json::json!([7]), "untouched");
    let text = s.ok(&["credential", "edit", &plain, "--client", "3"]);
    assert_eq!(text.trim(), format!("Updated credential {plain}."));
    assert_eq!(shown(&s, &plain)["client_ids"], serde_json::json!([3]));

    // --no-client removes the scope.
    let cleared = json(&s.ok(&["credential", "edit", &id, "--no-client", "--json"]));
    assert_eq!(cleared["client_ids"], serde_json::json!([]));
    assert_eq!(cleared["rate_limit"], "5/s");
    assert!(s
        .ok(&["credential", "show", &id])
        .contains("Clients:     any (not scoped)"));

    // --client and --no-client conflict: a usage error (exit 2).
    let out = s.cli(&["credential", "edit", &id, "--client", "1", "--no-client"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);

    // Bad ids: one error line, exit 1, nothing created or changed.
    let before = shown(&s, &plain);
    let bad: [(&[&str], &str); 6] = [
        (
            &["--client", "acme"],
            r#"--client: invalid client id "acme": client id must be a positive integer"#,
        ),
        (&["--client", "12,40"], r#"invalid client id "12,40""#),
        (&["--client", "4.5"], "invalid client id"),
        (
            &["--client", "99999999999999999999"],
            "client id must be a positive integer",
        ),
        (&["--client", "0"], "client id must be a positive integer"),
        (&["--client=-4"], "client id must be a positive integer"),
    ];
    for (extra, expected) in bad {
        let mut args = vec!["credential", "generate", "--admin", "alice", "--role", "R"];
        args.extend_from_slice(extra);
        assert_error(&s.cli(&args), expected);
        let mut args = vec!["credential", "edit", plain.as_str()];
        args.extend_from_slice(extra);
        assert_error(&s.cli(&args), expected);
    }
    let too_many: Vec<String> = (1..=65).map(|i| i.to_string()).collect();
    let mut args = vec!["credential", "generate", "--admin", "alice", "--role", "R"];
    for client in &too_many {
        args.extend(["--client", client.as_str()]);
    }
    assert_error(&s.cli(&args), "at most 64 clients");
    assert_eq!(shown(&s, &plain), before, "failed edits change nothing");
    assert_eq!(
        json(&s.ok(&["credential", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing created by the failures"
    );
}
