//! `keygate serve` end to end: the real binary on port 0 next to CLI
//! invocations on the same SQLite file.

mod common;

use std::time::Duration;

use common::{authorize, snapshot_updates, wait_until, Scratch, Server};

/// An upstream nobody listens on, with a master credential to look for in output.
const DEAD_UPSTREAM: [(&str, &str); 3] = [
    (
        "KEYGATE_UPSTREAM_URL",
        "http://127.0.0.1:9/includes/api.php",
    ),
    ("KEYGATE_UPSTREAM_IDENTIFIER", "MASTER-IDENTIFIER-VALUE"),
    ("KEYGATE_UPSTREAM_SECRET", "MASTER-SECRET-VALUE"),
];

#[test]
fn banner_says_where_and_how_to_start() {
    let s = Scratch::new();
    let server = Server::start(s.dir.path(), &s.db_url, &[]);
    assert!(
        server
            .banner
            .contains("keygate listening on http://127.0.0.1:"),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains(&format!("database: {}", s.db_url)),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("upstream: not configured"),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("admin UI: http://127.0.0.1:"),
        "{}",
        server.banner
    );
    assert!(
        server
            .banner
            .contains("/api/v1/ (OpenAPI: /api/v1/openapi.json)"),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("keygate admin add"),
        "{}",
        server.banner
    );
    drop(server);

    s.add_admin("alice");
    let server = Server::start(s.dir.path(), &s.db_url, &DEAD_UPSTREAM);
    assert!(
        server
            .banner
            .contains("upstream: http://127.0.0.1:9/includes/api.php"),
        "{}",
        server.banner
    );
    assert!(
        !server.banner.contains("keygate admin add"),
        "{}",
        server.banner
    );
    assert!(!server.banner.contains("MASTER-SECRET-VALUE"));
    assert_eq!(server.terminate(), 0);
}

#[test]
fn incomplete_upstream_config_is_refused() {
    let s = Scratch::new();
    std::fs::write(
        s.dir.path().join("keygate.toml"),
        "[upstream]\nurl = \"http://127.0.0.1:9/\"\n",
    )
    .unwrap();
    let out = s.cli(&["serve"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("error: upstream.identifier and upstream.secret are required"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn cli_changes_reach_the_running_server_within_a_second() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "Tickets", "--allow", "GetTickets"]);
    let server = Server::start(s.dir.path(), &s.db_url, &[]);
    let client = reqwest::Client::new();
    let limit = Duration::from_secs(1);

    let (id, secret) = s.generate("alice", &["Tickets"]);
    let obeys = |action: &'static str, status: u16| {
        let (client, server, id, secret) = (&client, &server, id.clone(), secret.clone());
        move || {
            let (id, secret) = (id.clone(), secret.clone());
            async move { authorize(client, server, &id, &secret, action).await.0 == status }
        }
    };
    assert!(
        wait_until(limit, obeys("GetTickets", 200)).await.is_some(),
        "new credential"
    );
    s.ok(&["role", "edit", "Tickets", "--allow", "GetInvoices"]);
    assert!(
        wait_until(limit, obeys("GetInvoices", 200)).await.is_some(),
        "role edit"
    );
    s.ok(&["admin", "disable", "alice"]);
    assert!(
        wait_until(limit, obeys("GetTickets", 401)).await.is_some(),
        "admin disabled"
    );
    s.ok(&["admin", "enable", "alice"]);
    assert!(
        wait_until(limit, obeys("GetTickets", 200)).await.is_some(),
        "admin enabled"
    );
    s.ok(&["credential", "delete", &id]);
    assert!(
        wait_until(limit, obeys("GetTickets", 401)).await.is_some(),
        "credential deleted"
    );
    // Every change was applied from the change log: nothing rebuilt the
    // whole snapshot after start.
    let (applied, rebuilt) = snapshot_updates(&client, &server).await;
    assert!(applied >= 5, "{applied} updates applied");
    assert_eq!(rebuilt, 0);
    drop(server);
}

#[tokio::test]
async fn sigterm_flushes_last_access_and_secrets_stay_out_of_logs() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "Tickets", "--allow", "GetTickets"]);
    let (id, secret) = s.generate("alice", &["Tickets"]);
    let server = Server::start(s.dir.path(), &s.db_url, &DEAD_UPSTREAM);
    let client = reqwest::Client::new();
    assert_eq!(
        authorize(&client, &server, &id, &secret, "GetTickets")
            .await
            .0,
        200
    );
    let response = client
        .post(server.url("/includes/api.php"))
        .form(&[
            ("identifier", id.as_str()),
            ("secret", secret.as_str()),
            ("action", "GetTickets"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 502);
    // A secret typed into the identifier field must not be logged either.
    authorize(&client, &server, &secret, &secret, "GetTickets").await;
    let logs = server.logs.clone();
    assert_eq!(server.terminate(), 0);
    let shown: serde_json::Value =
        serde_json::from_str(&s.ok(&["credential", "show", &id, "--json"])).unwrap();
    assert!(
        shown["last_access"].is_i64(),
        "flushed at shutdown: {shown}"
    );
    let logs = logs.lock().unwrap();
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes in logs written to a pipe"
    );
    assert!(
        logs.contains(&id),
        "calls are logged with the identifier: {logs}"
    );
    for hidden in [
        secret.as_str(),
        "MASTER-SECRET-VALUE",
        "MASTER-IDENTIFIER-VALUE",
    ] {
        assert!(!logs.contains(hidden), "{hidden} leaked into logs: {logs}");
    }
}

#[tokio::test]
async fn rotation_and_disabling_reach_the_running_server() {
    let s = Scratch::new();
    s.add_admin("alice");
    s.ok(&["role", "create", "Tickets", "--allow", "GetTickets"]);
    let (id, first) = s.generate("alice", &["Tickets"]);
    let server = Server::start(s.dir.path(), &s.db_url, &[]);
    let client = reqwest::Client::new();
    let limit = Duration::from_secs(1);
    let answers = |secret: &str, status: u16| {
        let (client, server, id, secret) = (&client, &server, id.clone(), secret.to_string());
        move || {
            let (id, secret) = (id.clone(), secret.clone());
            async move {
                authorize(client, server, &id, &secret, "GetTickets")
                    .await
                    .0
                    == status
            }
        }
    };
    assert!(wait_until(limit, answers(&first, 200)).await.is_some());

    let rotated: serde_json::Value =
        serde_json::from_str(&s.ok(&["credential", "rotate", &id, "--json"])).unwrap();
    let second = rotated["secret"].as_str().unwrap().to_string();
    assert!(
        wait_until(limit, answers(&second, 200)).await.is_some(),
        "the new secret works"
    );
    assert!(
        wait_until(limit, answers(&first, 200)).await.is_some(),
        "the old secret works during the overlap"
    );
    let rotated: serde_json::Value =
        serde_json::from_str(&s.ok(&["credential", "rotate", &id, "--overlap", "0", "--json"]))
            .unwrap();
    let third = rotated["secret"].as_str().unwrap().to_string();
    assert!(wait_until(limit, answers(&third, 200)).await.is_some());
    assert!(
        wait_until(limit, answers(&second, 401)).await.is_some(),
        "--overlap 0 stops the old secret at once"
    );
    assert!(wait_until(limit, answers(&first, 401)).await.is_some());

    s.ok(&["credential", "disable", &id]);
    assert!(
        wait_until(limit, answers(&third, 401)).await.is_some(),
        "disabled"
    );
    s.ok(&["credential", "enable", &id]);
    assert!(
        wait_until(limit, answers(&third, 200)).await.is_some(),
        "enabled again"
    );
    drop(server);
}
