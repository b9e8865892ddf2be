//! SIGHUP end to end: the real binary re-reads keygate.toml and puts the
//! new upstream, custom actions, trusted proxies and rate limits in force
//! without a restart; a broken file leaves the running configuration alone.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use common::{authorize, gateway, wait_until, Scratch, Server};

/// A stand-in WHMCS that answers with its own name and counts its calls.
struct Upstream {
    url: String,
    calls: Arc<Mutex<u32>>,
}

async fn upstream(name: &'static str) -> Upstream {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/includes/api.php",
        post(move || {
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += 1;
                format!("{{\"result\":\"success\",\"upstream\":\"{name}\"}}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/includes/api.php", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream { url, calls }
}

/// keygate.toml pointing at `upstream`, with `extra` appended.
fn write_config(dir: &Path, upstream: &str, extra: &str) {
    let text = format!(
        "[upstream]\nurl = \"{upstream}\"\nidentifier = \"MASTER-ID\"\nsecret = \"MASTER-SECRET\"\n{extra}"
    );
    std::fs::write(dir.join("keygate.toml"), text).unwrap();
}

const CUSTOM: &str = "[[catalog.custom]]\ncategory = \"Custom\"\naction = \"GetWidgets\"\n";

/// Hangs up and waits for the reload's log line (the `n`th of its kind).
async fn reload(server: &Server, marker: &str, n: usize) {
    server.hang_up();
    let seen = wait_until(Duration::from_secs(10), || async {
        server.logs().matches(marker).count() >= n
    })
    .await;
    assert!(seen.is_some(), "no {marker:?} in logs: {}", server.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_puts_upstream_custom_actions_and_limits_in_force() {
    let s = Scratch::new();
    let (first, second) = (upstream("first").await, upstream("second").await);
    write_config(s.dir.path(), &first.url, "");
    s.add_admin("alice");
    s.ok(&["role", "create", "Clients", "--allow", "GetClients"]);
    let (id, secret) = s.generate("alice", &["Clients"]);
    let server = common::start_server_async(s.dir.path(), &s.db_url, Vec::new()).await;
    let client = reqwest::Client::new();

    let (status, _, body) = gateway(&client, &server, &id, &secret, "GetClients").await;
    assert_eq!((status, body.contains("first")), (200, true), "{body}");
    let (status, _) = authorize(&client, &server, &id, &secret, "GetWidgets").await;
    assert_eq!(status, 403, "GetWidgets is unknown before the reload");

    // The new file: another upstream, a custom action, a default rate.
    let extra = format!("{CUSTOM}[rate_limit]\ndefault = \"2/m\"\n");
    write_config(s.dir.path(), &second.url, &extra);
    s.ok(&["role", "edit", "Clients", "--allow", "GetWidgets"]);
    reload(&server, "configuration reloaded", 1).await;

    let (status, _) = authorize(&client, &server, &id, &secret, "GetWidgets").await;
    assert_eq!(status, 200, "the custom action is in force");
    let (status, _, body) = gateway(&client, &server, &id, &secret, "GetClients").await;
    assert_eq!((status, body.contains("second")), (200, true), "{body}");
    assert_eq!(*first.calls.lock().unwrap(), 1, "the old upstream is left");
    let (status, retry_after, _) = gateway(&client, &server, &id, &secret, "GetClients").await;
    assert_eq!(
        (status, retry_after.is_some()),
        (429, true),
        "the default rate 2/m is in force (the sidecar call counted too)"
    );

    // A broken file: nothing changes, and the log says why.
    write_config(
        s.dir.path(),
        &first.url,
        "[rate_limit]\ndefault = \"fast\"\n",
    );
    reload(&server, "configuration reload failed", 1).await;
    assert!(
        server.logs().contains("rate_limit.default"),
        "{}",
        server.logs()
    );
    let (status, _) = authorize(&client, &server, &id, &secret, "GetWidgets").await;
    assert_eq!(status, 429, "still limited, and GetWidgets still known");
    assert_eq!(*first.calls.lock().unwrap(), 1, "still the second upstream");

    // Settings bound at start are named, not silently ignored.
    let dir = s.dir.path();
    write_config(dir, &second.url, CUSTOM);
    let text = std::fs::read_to_string(dir.join("keygate.toml")).unwrap();
    std::fs::write(
        dir.join("keygate.toml"),
        format!("secure_cookies = true\n{text}"),
    )
    .unwrap();
    reload(&server, "configuration reloaded", 2).await;
    assert!(
        server.logs().contains("only after a restart"),
        "{}",
        server.logs()
    );
    let logs = server.logs();
    assert!(!logs.contains("MASTER-SECRET"), "secrets stay out of logs");
    assert_eq!(server.terminate(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_custom_action_takes_it_away_at_once() {
    let s = Scratch::new();
    let up = upstream("only").await;
    write_config(s.dir.path(), &up.url, CUSTOM);
    s.add_admin("alice");
    s.ok(&["role", "create", "Widgets", "--allow", "GetWidgets"]);
    let (id, secret) = s.generate("alice", &["Widgets"]);
    let server = common::start_server_async(s.dir.path(), &s.db_url, Vec::new()).await;
    let client = reqwest::Client::new();
    let (status, _) = authorize(&client, &server, &id, &secret, "GetWidgets").await;
    assert_eq!(status, 200);

    write_config(s.dir.path(), &up.url, "");
    reload(&server, "configuration reloaded", 1).await;
    let (status, body) = authorize(&client, &server, &id, &secret, "GetWidgets").await;
    assert_eq!(status, 403, "{body}");
    let metrics = common::metrics(&client, &server).await;
    assert!(!metrics.contains("GetWidgets"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_follow_the_file() {
    let s = Scratch::new();
    let up = upstream("only").await;
    write_config(s.dir.path(), &up.url, "");
    s.add_admin("alice");
    s.ok(&["role", "create", "Clients", "--allow", "GetClients"]);
    let (id, secret) = s.generate("alice", &["Clients"]);
    s.ok(&["credential", "edit", &id, "--allow-ip", "10.1.2.3/32"]);
    let server = common::start_server_async(s.dir.path(), &s.db_url, Vec::new()).await;
    let client = reqwest::Client::new();
    let call = || {
        client
            .post(server.url("/includes/api.php"))
            .header("X-Forwarded-For", "10.1.2.3")
            .form(&[
                ("identifier", id.as_str()),
                ("secret", secret.as_str()),
                ("action", "GetClients"),
                ("responsetype", "json"),
            ])
            .send()
    };
    assert_eq!(
        call().await.unwrap().status(),
        403,
        "the proxy is not trusted yet"
    );

    let text = std::fs::read_to_string(s.dir.path().join("keygate.toml")).unwrap();
    let trusted = format!("trusted_proxies = [\"127.0.0.1/32\"]\n{text}");
    std::fs::write(s.dir.path().join("keygate.toml"), trusted).unwrap();
    reload(&server, "configuration reloaded", 1).await;
    assert_eq!(
        call().await.unwrap().status(),
        200,
        "the forwarded address counts"
    );
}
