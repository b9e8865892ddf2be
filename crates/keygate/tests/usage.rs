//! Usage and the least-privilege advisor end to end: the real binary
//! counts a 10,000-call run through the gateway and the sidecar, `keygate
//! credential usage --json` reports exactly what was sent, and `credential
//! tighten --apply` leaves the integration working for the actions it used
//! and denied the rest.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use common::{authorize, gateway, Scratch, Server};
use serde_json::Value;

/// A stand-in WHMCS that answers every call with success and counts them.
async fn upstream() -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/includes/api.php",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "{\"result\":\"success\"}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/includes/api.php", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

/// One kind of call in the run: who, through which endpoint, what, and
/// the status it must get.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// The integration, gateway, GetClients: allowed.
    GatewayAllowed,
    /// The integration, sidecar, GetTickets: allowed.
    SidecarAllowed,
    /// The integration, sidecar, AddOrder: no role allows it.
    SidecarNotAllowed,
    /// The integration, gateway, an action nobody knows.
    GatewayUnknown,
    /// A disabled credential, sidecar, GetClients.
    SidecarDisabled,
    /// The integration's identifier with a wrong secret: no credential's.
    WrongSecret,
}

const MIX: [Kind; 10] = [
    Kind::GatewayAllowed,
    Kind::GatewayAllowed,
    Kind::GatewayAllowed,
    Kind::SidecarAllowed,
    Kind::SidecarAllowed,
    Kind::SidecarNotAllowed,
    Kind::GatewayUnknown,
    Kind::SidecarDisabled,
    Kind::GatewayAllowed,
    Kind::WrongSecret,
];

const CALLS: usize = 10_000;
const CONCURRENCY: usize = 16;

struct Creds {
    id: String,
    secret: String,
    disabled_id: String,
    disabled_secret: String,
}

async fn send(client: &reqwest::Client, server: &Server, creds: &Creds, kind: Kind) -> u16 {
    let (id, secret) = (creds.id.as_str(), creds.secret.as_str());
    match kind {
        Kind::GatewayAllowed => gateway(client, server, id, secret, "GetClients").await.0,
        Kind::SidecarAllowed => authorize(client, server, id, secret, "GetTickets").await.0,
        Kind::SidecarNotAllowed => authorize(client, server, id, secret, "AddOrder").await.0,
        Kind::GatewayUnknown => gateway(client, server, id, secret, "MadeUpAction").await.0,
        Kind::SidecarDisabled => {
            let (id, secret) = (&creds.disabled_id, &creds.disabled_secret);
            authorize(client, server, id, secret, "GetClients").await.0
        }
        Kind::WrongSecret => {
            authorize(client, server, id, "not-the-secret", "GetClients")
                .await
                .0
        }
    }
}

fn expected_status(kind: Kind) -> u16 {
    match kind {
        Kind::GatewayAllowed | Kind::SidecarAllowed => 200,
        Kind::SidecarNotAllowed | Kind::GatewayUnknown => 403,
        Kind::SidecarDisabled | Kind::WrongSecret => 401,
    }
}

fn usage_json(s: &Scratch, identifier: &str) -> Value {
    serde_json::from_str(&s.ok(&["credential", "usage", identifier, "--json"])).unwrap()
}

/// `{action: (allowed, {reason: denied})}` from `credential usage --json`.
fn per_action(report: &Value) -> BTreeMap<String, (u64, BTreeMap<String, u64>)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let denied = a["denied"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                .collect();
            (
                a["action"].as_str().unwrap().to_string(),
                (a["allowed"].as_u64().unwrap(), denied),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_match_the_calls_sent_and_tighten_keeps_what_was_used() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&[
        "role",
        "create",
        "Billing",
        "--allow",
        "GetClients",
        "--allow",
        "GetInvoices",
        "--allow",
        "AddInvoicePayment",
    ]);
    s.ok(&[
        "role",
        "create",
        "Support",
        "--allow",
        "GetTickets",
        "--allow",
        "OpenTicket",
    ]);
    let generated: Value = serde_json::from_str(&s.ok(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--role",
        "Billing",
        "--role",
        "Support",
        "--description",
        "shop integration",
        "--json",
    ]))
    .unwrap();
    let (disabled_id, disabled_secret) = s.generate("alice", &["Billing"]);
    s.ok(&["credential", "disable", &disabled_id]);
    let creds = Arc::new(Creds {
        id: generated["identifier"].as_str().unwrap().to_string(),
        secret: generated["secret"].as_str().unwrap().to_string(),
        disabled_id,
        disabled_secret,
    });
    let (upstream_url, upstream_calls) = upstream().await;
    let env = vec![
        ("KEYGATE_UPSTREAM_URL".to_string(), upstream_url.clone()),
        ("KEYGATE_UPSTREAM_IDENTIFIER".into(), "MASTER-ID".into()),
        ("KEYGATE_UPSTREAM_SECRET".into(), "MASTER-SECRET".into()),
        // Wrong secrets are part of the run: no cool-down for them.
        ("KEYGATE_FAILED_AUTH_PER_MINUTE".into(), "0".into()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    let server = common::start_server_async(s.dir.path(), &s.db_url, env.clone()).await;
    let server = Arc::new(server);

    // The run: CONCURRENCY connections sharing the calls.
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let (client, server, creds) = (client.clone(), server.clone(), creds.clone());
            tokio::spawn(async move {
                let mut sent: BTreeMap<String, usize> = BTreeMap::new();
                for i in (task..CALLS).step_by(CONCURRENCY) {
                    let kind = MIX[i % MIX.len()];
                    let status = send(&client, &server, &creds, kind).await;
                    assert_eq!(status, expected_status(kind), "{kind:?}");
                    *sent.entry(format!("{kind:?}")).or_default() += 1;
                }
                sent
            })
        })
        .collect();
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for (kind, n) in task.await.unwrap() {
            *sent.entry(kind).or_default() += n;
        }
    }
    assert_eq!(sent.values().sum::<usize>(), CALLS);
    let n = |kind: &str| sent[kind] as u64;
    assert_eq!(
        upstream_calls.load(Ordering::Relaxed) as u64,
        n("GatewayAllowed")
    );
    // A clean stop flushes the counts (and the last-access times).
    let server = Arc::into_inner(server).expect("every task is done");
    assert_eq!(server.terminate(), 0);

    // Exactly what was sent, per action and outcome.
    let report = usage_json(&s, &creds.id);
    assert_eq!(report["identifier"], creds.id.as_str());
    assert_eq!(report["days"], 30);
    let none = BTreeMap::new;
    let denied = |reason: &str, count| BTreeMap::from([(reason.to_string(), count)]);
    assert_eq!(
        per_action(&report),
        BTreeMap::from([
            (
                "AddOrder".to_string(),
                (0, denied("action_not_allowed", n("SidecarNotAllowed")))
            ),
            ("GetClients".to_string(), (n("GatewayAllowed"), none())),
            ("GetTickets".to_string(), (n("SidecarAllowed"), none())),
            (
                "madeupaction".to_string(),
                (0, denied("action_not_allowed", n("GatewayUnknown")))
            ),
        ])
    );
    assert_eq!(
        report["total"]["allowed"].as_u64().unwrap(),
        n("GatewayAllowed") + n("SidecarAllowed")
    );
    assert_eq!(
        report["total"]["denied_total"].as_u64().unwrap(),
        n("SidecarNotAllowed") + n("GatewayUnknown")
    );
    // The disabled credential's calls are its own; wrong secrets are nobody's.
    let disabled = usage_json(&s, &creds.disabled_id);
    assert_eq!(
        per_action(&disabled),
        BTreeMap::from([(
            "GetClients".to_string(),
            (0, denied("disabled", n("SidecarDisabled")))
        )])
    );
    let everything: u64 = [&report, &disabled]
        .iter()
        .map(|r| {
            r["total"]["allowed"].as_u64().unwrap() + r["total"]["denied_total"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(everything, CALLS as u64 - n("WrongSecret"));

    // The table: one row per action, then the totals.
    let table = s.ok(&["credential", "usage", &creds.id, "--days", "7"]);
    assert!(table.contains("shop integration"), "{table}");
    assert!(table.contains("NOT ALLOWED"), "{table}");
    let total_line = table.lines().find(|l| l.starts_with("TOTAL")).unwrap();
    assert!(
        total_line.contains(&(n("GatewayAllowed") + n("SidecarAllowed")).to_string()),
        "{table}"
    );

    // The suggestion alone changes nothing.
    let roles_before = s.ok(&["credential", "show", &creds.id, "--json"]);
    let advice = s.ok(&["credential", "tighten", &creds.id]);
    assert!(
        advice.contains("used (2): GetClients, GetTickets"),
        "{advice}"
    );
    assert!(
        advice.contains("unused, taken away (3): AddInvoicePayment, GetInvoices, OpenTicket"),
        "{advice}"
    );
    assert!(
        advice.contains("tried but denied, left out (2): AddOrder, madeupaction"),
        "{advice}"
    );
    assert!(advice.contains("--apply"), "{advice}");
    assert_eq!(
        s.ok(&["credential", "show", &creds.id, "--json"]),
        roles_before
    );
    let advice: Value =
        serde_json::from_str(&s.ok(&["credential", "tighten", &creds.id, "--json"])).unwrap();
    assert_eq!(
        advice["used"],
        serde_json::json!(["GetClients", "GetTickets"])
    );
    assert_eq!(advice["can_tighten"], true);
    assert_eq!(advice["applied"], false);

    // Applied: one new role, in place of both, in one audited change.
    let applied = s.ok(&["credential", "tighten", &creds.id, "--apply"]);
    assert!(
        applied.contains(
            "Created role \"Least privilege for shop integration\" (2 actions) and assigned it \
             to"
        ) && applied.contains("in place of \"Billing\", \"Support\"."),
        "{applied}"
    );
    let shown: Value =
        serde_json::from_str(&s.ok(&["credential", "show", &creds.id, "--json"])).unwrap();
    let roles: Vec<&str> = shown["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["Least privilege for shop integration"]);
    let role = s.ok(&["role", "show", "Least privilege for shop integration"]);
    assert!(
        role.contains("GetClients") && role.contains("GetTickets"),
        "{role}"
    );
    assert!(!role.contains("GetInvoices"), "{role}");
    let audit = s.ok(&["audit", "--target", &creds.id]);
    assert_eq!(audit.matches("credential.tighten").count(), 1, "{audit}");
    // Tightened already: a second --apply is refused, with one error line.
    let again = s.cli(&["credential", "tighten", &creds.id, "--apply"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.starts_with("error: "), "{}", again.stderr);
    assert!(
        again.stderr.contains("already has least privilege"),
        "{}",
        again.stderr
    );
    assert_eq!(again.stderr.lines().count(), 1, "{}", again.stderr);
    let bad = s.cli(&["credential", "usage", &creds.id, "--days", "0"]);
    assert_eq!(bad.code, 1);
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.starts_with("error: "), "{}", bad.stderr);

    // The integration still works for what it used, and only that.
    let server = common::start_server_async(s.dir.path(), &s.db_url, env).await;
    let (id, secret) = (creds.id.as_str(), creds.secret.as_str());
    let client = reqwest::Client::new();
    assert_eq!(
        gateway(&client, &server, id, secret, "GetClients").await.0,
        200
    );
    assert_eq!(
        authorize(&client, &server, id, secret, "GetClients")
            .await
            .0,
        200
    );
    assert_eq!(
        authorize(&client, &server, id, secret, "GetTickets")
            .await
            .0,
        200
    );
    for action in ["GetInvoices", "AddInvoicePayment", "OpenTicket", "AddOrder"] {
        assert_eq!(
            authorize(&client, &server, id, secret, action).await.0,
            403,
            "{action}"
        );
        assert_eq!(
            gateway(&client, &server, id, secret, action).await.0,
            403,
            "{action}"
        );
    }
    assert_eq!(server.terminate(), 0);
    // Those calls were counted too.
    let after = per_action(&usage_json(&s, &creds.id));
    assert_eq!(after["GetClients"].0, n("GatewayAllowed") + 2);
    assert_eq!(after["GetInvoices"].1["action_not_allowed"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_can_be_switched_off_and_retention_is_checked() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&[
        "role",
        "create",
        "R",
        "--allow",
        "GetClients",
        "--allow",
        "GetTickets",
    ]);
    let (id, secret) = s.generate("alice", &["R"]);
    let quiet = s.ok(&["credential", "usage", &id]);
    assert!(quiet.contains("No calls recorded."), "{quiet}");
    let nothing = s.ok(&["credential", "tighten", &id]);
    assert!(nothing.contains("Nothing to suggest"), "{nothing}");
    let refused = s.cli(&["credential", "tighten", &id, "--apply"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("no allowed call"),
        "{}",
        refused.stderr
    );

    // Off: calls are answered as ever and nothing is counted.
    let env = vec![("KEYGATE_USAGE_ENABLED".to_string(), "false".to_string())];
    let server = common::start_server_async(s.dir.path(), &s.db_url, env).await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(
            authorize(&client, &server, &id, &secret, "GetClients")
                .await
                .0,
            200
        );
    }
    assert_eq!(server.terminate(), 0);
    let quiet = s.ok(&["credential", "usage", &id]);
    assert!(quiet.contains("No calls recorded."), "{quiet}");
    let shown: Value = serde_json::from_str(&s.ok(&["credential", "show", &id, "--json"])).unwrap();
    assert!(
        shown["last_access"].is_i64(),
        "last access is still recorded: {shown}"
    );

    for (file, message) in [
        (
            "[usage]\nretention_days = 0\n",
            "error: usage.retention_days must be between 1 and 3650 days, got 0",
        ),
        (
            "[usage]\nretention_days = 4000\n",
            "error: usage.retention_days must be between 1 and 3650 days, got 4000",
        ),
    ] {
        std::fs::write(s.dir.path().join("keygate.toml"), file).unwrap();
        let out = s.cli(&["serve"]);
        assert_eq!(out.code, 1);
        assert!(out.stderr.starts_with(message), "{}", out.stderr);
    }
}
