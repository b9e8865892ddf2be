//! `keygate export`, `import` and `migrate` end to end, through the real
//! binary: a SQLite install moved to PostgreSQL and back exports the same
//! bytes and its credentials still authenticate on `keygate serve`; an
//! import into a database holding anything, or of a damaged file, fails
//! with one clear line and changes nothing; an export holds hashes, never
//! secrets. The PostgreSQL legs skip, saying so, without a reachable server.

mod common;

use common::{authorize, Output, Scratch, Server};
use keygate_core::secret::hex;
use keygate_core::SecretHashes;
use keygate_testkit::scratch::ScratchDatabase;

/// What [`populate`] handed out.
struct Fixture {
    /// (identifier, secret) of a plain credential holding `Support`.
    plain: (String, String),
    /// (identifier, old secret, new secret) of a credential rotated with an
    /// overlap, holding `Billing`.
    rotated: (String, String, String),
    /// (identifier, secret) of an imported legacy credential.
    legacy: (String, String),
}

/// Admins (one disabled), roles, and credentials with every lifecycle
/// field, a pending rotation and a legacy import, all through the CLI.
fn populate(s: &Scratch) -> Fixture {
    s.add_admin("alice");
    s.add_admin("bob");
    s.ok(&[
        "role",
        "create",
        "Support",
        "--description",
        "Ticket app",
        "--allow",
        "GetClients",
        "--allow",
        "OpenTicket",
    ]);
    s.ok(&["role", "create", "Billing", "--allow", "GetInvoices"]);
    let plain = s.generate("alice", &["Support"]);
    s.ok(&[
        "credential",
        "generate",
        "--admin",
        "bob",
        "--role",
        "Support",
        "--role",
        "Billing",
        "--description",
        "limited",
        "--expires",
        "30d",
        "--allow-ip",
        "192.0.2.0/24",
        "--rate-limit",
        "60/m",
        "--client",
        "42",
        "--client",
        "7",
    ]);
    s.ok(&["admin", "disable", "bob"]);
    let (id, old) = s.generate("alice", &["Billing"]);
    let rotated: serde_json::Value =
        serde_json::from_str(&s.ok(&["credential", "rotate", &id, "--overlap", "1h", "--json"]))
            .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    let legacy = ["credential", "import", "--admin", "alice"];
    let args = [
        &legacy[..],
        &["--identifier", "LEGACY-ID", "--secret-stdin"],
    ]
    .concat();
    let out = s.cli_stdin(&args, "legacy-secret\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    Fixture {
        plain,
        rotated: (id, old, new),
        legacy: ("LEGACY-ID".into(), "legacy-secret".into()),
    }
}

/// The export with its `exported_at` line blanked, for comparing.
fn without_time(export: &str) -> String {
    export
        .lines()
        .filter(|line| !line.trim_start().starts_with("\"exported_at\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An export as a value without its time and with only the first `events`
/// audit events: each import appends one recording itself.
fn comparable(export: &str, events: usize) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_str(export).unwrap();
    value.as_object_mut().unwrap().remove("exported_at");
    if let Some(trail) = value["audit"].as_array_mut() {
        trail.truncate(events);
    }
    value
}

/// How many audit events an export carries.
fn trail_len(export: &str) -> usize {
    let value: serde_json::Value = serde_json::from_str(export).unwrap();
    value["audit"].as_array().map_or(0, Vec::len)
}

/// Runs the CLI on `url` from `s`'s directory.
fn cli_on(s: &Scratch, url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    common::run_cli(s.dir.path(), url, args, stdin)
}

/// Asserts a failure with exactly one `error:` line containing `expected`.
fn assert_fails(out: &Output, expected: &str) {
    assert_eq!(out.code, 1, "should fail: {out:?}");
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.trim_end().lines().count() == 1,
        "one error line: {:?}",
        out.stderr
    );
    assert!(
        out.stderr.contains(expected),
        "{expected:?} in {:?}",
        out.stderr
    );
}

/// Starts `keygate serve` on `url` and checks every fixture credential
/// authenticates (and a wrong secret does not).
async fn assert_credentials_work(s: &Scratch, url: &str, fixture: &Fixture) {
    let server = Server::start(s.dir.path(), url, &[]);
    let client = reqwest::Client::new();
    let status = |id: &str, secret: &str, action: &str| {
        let (client, server) = (&client, &server);
        let (id, secret, action) = (id.to_string(), secret.to_string(), action.to_string());
        async move { authorize(client, server, &id, &secret, &action).await.0 }
    };
    let (id, secret) = &fixture.plain;
    assert_eq!(
        status(id, secret, "GetClients").await,
        200,
        "plain on {url}"
    );
    assert_eq!(status(id, "wrong-secret", "GetClients").await, 401);
    let (id, old, new) = &fixture.rotated;
    assert_eq!(status(id, new, "GetInvoices").await, 200, "new secret");
    assert_eq!(status(id, old, "GetInvoices").await, 200, "overlap");
    let (id, secret) = &fixture.legacy;
    assert_eq!(status(id, secret, "GetInvoices").await, 200, "legacy");
    assert_eq!(server.terminate(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_to_sqlite_is_identical_and_credentials_still_work() {
    let Some(postgres) = ScratchDatabase::create_or_skip().await else {
        return;
    };
    let s = Scratch::new();
    let fixture = populate(&s);
    // A call through the server records a last-access time (flushed at
    // shutdown), which must travel too.
    assert_credentials_work(&s, &s.db_url, &fixture).await;
    let original = s.ok(&["export"]);
    let parsed: serde_json::Value = serde_json::from_str(&original).unwrap();
    let plain = parsed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["identifier"] == fixture.plain.0.as_str())
        .unwrap();
    assert!(plain["last_access"].is_i64(), "{plain}");

    let out = s.ok(&["migrate", "--to", postgres.url()]);
    assert!(
        out.contains("Copied 2 admins, 3 roles and 4 credentials"),
        "{out}"
    );
    assert!(out.contains("verified"), "{out}");
    let through_postgres = cli_on(&s, postgres.url(), &["export"], None).stdout;
    let events = trail_len(&original);
    assert!(events > 0, "the audit trail travels too");
    assert_eq!(trail_len(&through_postgres), events + 1, "plus the import");
    assert_eq!(
        comparable(&through_postgres, events),
        comparable(&original, events)
    );
    assert_credentials_work(&s, postgres.url(), &fixture).await;
    // Those calls moved last-access times on the copy: the way back is
    // compared with the copy as it is now.
    let on_postgres = cli_on(&s, postgres.url(), &["export"], None).stdout;

    let back = format!("sqlite://{}", s.dir.path().join("back.db").display());
    let out = cli_on(
        &s,
        postgres.url(),
        &["--json", "migrate", "--to", &back],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let counts: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        counts,
        serde_json::json!({"admins": 2, "roles": 3, "credentials": 4, "verified": true})
    );
    let final_export = cli_on(&s, &back, &["export"], None).stdout;
    let events = trail_len(&on_postgres);
    assert_eq!(
        comparable(&final_export, events),
        comparable(&on_postgres, events)
    );
    let verified = cli_on(&s, &back, &["audit", "verify"], None);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert_credentials_work(&s, &back, &fixture).await;
}

#[test]
fn export_and_import_through_a_file_and_stdin() {
    let s = Scratch::new();
    populate(&s);
    let first = s.ok(&["export"]);
    let second = s.ok(&["export"]);
    assert_eq!(without_time(&first), without_time(&second), "deterministic");
    let mut without_trail: serde_json::Value = serde_json::from_str(&first).unwrap();
    without_trail.as_object_mut().unwrap().remove("audit");
    assert!(
        !without_trail.to_string().contains("\"id\""),
        "no internal ids (audit events keep their chain positions)"
    );
    let file = s.dir.path().join("backup.json");
    std::fs::write(&file, &first).unwrap();

    let target = format!("sqlite://{}", s.dir.path().join("target.db").display());
    let out = cli_on(&s, &target, &["import", file.to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "Imported 2 admins, 3 roles and 4 credentials.\n"
    );
    let copied = cli_on(&s, &target, &["export"], None).stdout;
    let events = trail_len(&first);
    assert_eq!(comparable(&copied, events), comparable(&first, events));
    assert_eq!(trail_len(&copied), events + 1, "plus the import");

    let other = format!("sqlite://{}", s.dir.path().join("other.db").display());
    let out = cli_on(&s, &other, &["--json", "import", "-"], Some(&first));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let counts: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        counts,
        serde_json::json!({"admins": 2, "roles": 3, "credentials": 4})
    );
}

#[test]
fn import_into_a_database_holding_anything_fails_and_changes_nothing() {
    let s = Scratch::new();
    populate(&s);
    let backup = s.ok(&["export"]);
    let target = Scratch::new();
    target.ok(&["role", "create", "Existing", "--allow", "GetClients"]);
    let before = target.ok(&["export"]);
    let out = target.cli_stdin(&["import", "-"], &backup);
    assert_fails(&out, "the database is not empty (it holds 0 admins, 1 role");
    assert_eq!(without_time(&target.ok(&["export"])), without_time(&before));
    // Its own export back into itself: refused the same way.
    assert_fails(&s.cli_stdin(&["import", "-"], &backup), "not empty");
}

#[test]
fn damaged_files_give_one_clear_error_and_write_nothing() {
    let s = Scratch::new();
    populate(&s);
    let good = s.ok(&["export"]);
    let target = Scratch::new();
    let bad_hash = good.replacen("\"secret_sha256\": \"", "\"secret_sha256\": \"zz", 1);
    let cases: Vec<(String, &str)> = vec![
        (good[..good.len() * 2 / 3].to_string(), "truncated"),
        (String::new(), "empty or truncated"),
        ("not json at all".into(), "not valid JSON"),
        (
            good.replace("\"keygate-export\"", "\"something-else\""),
            "not a keygate export",
        ),
        (
            good.replace("\"version\": 1,", "\"version\": 99,"),
            "unsupported keygate export version 99",
        ),
        (
            good.replace("\"Billing\"\n", "\"Ghost\"\n"),
            "unknown role \"Ghost\"",
        ),
        (
            good.replace("\"GetInvoices\"", "\"GetInvoicez\""),
            "unknown action \"GetInvoicez\"",
        ),
        (bad_hash, "secret_sha256 must be 64"),
        (
            good.replace("\"enabled\": true,", ""),
            "missing field `enabled`",
        ),
    ];
    for (text, expected) in cases {
        assert_fails(&target.cli_stdin(&["import", "-"], &text), expected);
    }
    let missing = s.dir.path().join("missing.json");
    let out = target.cli(&["import", missing.to_str().unwrap()]);
    assert_fails(&out, "cannot read");
    let empty: serde_json::Value = serde_json::from_str(&target.ok(&["export"])).unwrap();
    for section in ["admins", "roles", "credentials"] {
        assert_eq!(empty[section], serde_json::json!([]), "{section}");
    }
}

#[test]
fn exports_hold_hashes_never_secrets() {
    let s = Scratch::new();
    let fixture = populate(&s);
    let export = s.ok(&["export"]);
    let secrets = [
        &fixture.plain.1,
        &fixture.rotated.1,
        &fixture.rotated.2,
        &fixture.legacy.1,
    ];
    for secret in secrets {
        assert!(!export.contains(secret.as_str()), "a secret leaked");
        let hashes = SecretHashes::of(secret);
        assert!(export.contains(&hex(hashes.direct())), "hash of a secret");
    }
    assert!(!export.contains("password1"));
    assert!(export.contains("\"password_hash\": \"$argon2id$"));
}

#[test]
fn migrate_refuses_the_same_database_and_a_non_empty_target() {
    let s = Scratch::new();
    populate(&s);
    let path = s.db_url.trim_start_matches("sqlite://");
    let spelled_differently = format!("sqlite:{path}?mode=rwc");
    assert_fails(
        &s.cli(&["migrate", "--to", &spelled_differently]),
        "names the database keygate is using",
    );
    let target = Scratch::new();
    target.add_admin("carol");
    let before = target.ok(&["export"]);
    assert_fails(
        &s.cli(&["migrate", "--to", &target.db_url]),
        "is not empty (it holds 1 admin, 0 roles and 0 credentials)",
    );
    assert_eq!(without_time(&target.ok(&["export"])), without_time(&before));
}
