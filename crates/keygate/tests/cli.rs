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
