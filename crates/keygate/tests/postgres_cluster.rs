//! A keygate cluster: two `keygate serve` processes on one PostgreSQL
//! database. Changes made through one instance's admin UI or through the
//! CLI must reach the other's snapshot fast (LISTEN/NOTIFY; the latencies
//! are measured and printed); killed connections and a database outage must
//! be survived without a restart. Each test skips, saying so, when no
//! PostgreSQL server is reachable (see `keygate_testkit::scratch`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{authorize, Output, Server};
use keygate_testkit::scratch::ScratchDatabase;
use reqwest::header::{COOKIE, SET_COOKIE};

/// The bound every propagation is held to: generous, since the machine is
/// shared; the figures printed are what matters.
const LIMIT: Duration = Duration::from_secs(1);

/// The action every credential here is checked against.
const ACTION: &str = "GetClients";

/// Runs the CLI off the async runtime (the relay in the outage test must
/// keep running meanwhile).
async fn cli(dir: &Path, url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let (dir, url) = (dir.to_path_buf(), url.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_cli(&dir, &url, &args, stdin.as_deref())
    })
    .await
    .unwrap()
}

/// Runs the CLI and asserts success; returns stdout.
async fn ok(dir: &Path, url: &str, args: &[&str]) -> String {
    let out = cli(dir, url, args, None).await;
    assert_eq!(out.code, 0, "keygate {args:?}: {}", out.stderr);
    out.stdout
}

/// Starts `keygate serve` on port 0 against `url`.
async fn serve(dir: &Path, url: &str) -> Server {
    let (dir, url) = (dir.to_path_buf(), url.to_string());
    tokio::task::spawn_blocking(move || Server::start(&dir, &url, &[]))
        .await
        .unwrap()
}

/// Two instances on one database holding an admin `alice` (password
/// `password1`) and a role `Support` that allows [`ACTION`].
struct Cluster {
    dir: tempfile::TempDir,
    url: String,
    a: Server,
    b: Server,
    client: reqwest::Client,
}

impl Cluster {
    async fn start(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let add = ["admin", "add", "alice", "--password-stdin"];
        let out = cli(dir.path(), url, &add, Some("password1\n")).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let create = ["role", "create", "Support", "--allow", ACTION];
        ok(dir.path(), url, &create).await;
        let a = serve(dir.path(), url).await;
        let b = serve(dir.path(), url).await;
        let client = reqwest::Client::new();
        let url = url.to_string();
        Self {
            dir,
            url,
            a,
            b,
            client,
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        ok(self.dir.path(), &self.url, args).await
    }

    /// A new credential holding `Support`, through the CLI.
    async fn generate(&self) -> (String, String) {
        let args = [
            "credential",
            "generate",
            "--admin",
            "alice",
            "--role",
            "Support",
            "--json",
        ];
        let json: serde_json::Value = serde_json::from_str(&self.ok(&args).await).unwrap();
        let field = |name: &str| json[name].as_str().unwrap().to_string();
        (field("identifier"), field("secret"))
    }

    /// The status `server` answers for the credential and [`ACTION`].
    async fn status(&self, server: &Server, credential: &(String, String)) -> u16 {
        authorize(&self.client, server, &credential.0, &credential.1, ACTION)
            .await
            .0
    }

    /// Polls `server` until it answers `status`; when it did.
    async fn obeys(&self, server: &Server, credential: &(String, String), status: u16) -> Instant {
        let started = Instant::now();
        loop {
            if self.status(server, credential).await == status {
                return Instant::now();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} never answered {status}; its logs: {}",
                server.base,
                server.logs.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Polls instance B until it answers `status`; when it did.
    async fn b_obeys(&self, credential: &(String, String), status: u16) -> Instant {
        self.obeys(&self.b, credential, status).await
    }

    /// Makes a change with `write` (which yields the credential to check),
    /// then records how soon instance B answers `status` for it.
    async fn timed<F>(
        &self,
        samples: &mut Samples,
        path: &'static str,
        status: u16,
        write: F,
    ) -> (String, String)
    where
        F: std::future::Future<Output = (String, String)>,
    {
        let started = Instant::now();
        let credential = write.await;
        let returned = Instant::now();
        let obeyed = self.b_obeys(&credential, status).await;
        samples.add(path, obeyed - returned, obeyed - started);
        credential
    }
}

/// An admin UI session on one instance (the UI is the management surface
/// of a running instance).
struct Ui {
    client: reqwest::Client,
    base: String,
    session: String,
    csrf: String,
}

/// The value a `Set-Cookie` header gives cookie `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let value = text.strip_prefix(name)?.strip_prefix('=')?;
        Some(value.split(';').next().unwrap_or_default().to_string())
    })
}

/// The first hidden `csrf` field's value in a page.
fn csrf_field(html: &str) -> Option<String> {
    let start = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[start..].split('"').next()?.to_string())
}

impl Ui {
    async fn login(server: &Server, username: &str, password: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = client.get(server.url("/admin/login")).send().await.unwrap();
        let token = set_cookie(&form, "keygate_login").expect("login form cookie");
        let login = client
            .post(server.url("/admin/login"))
            .header(COOKIE, format!("keygate_login={token}"))
            .form(&[
                ("username", username),
                ("password", password),
                ("csrf", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 303, "login refused");
        let session = set_cookie(&login, "keygate_session").expect("session cookie");
        let page = client
            .get(server.url("/admin/api-credentials"))
            .header(COOKIE, format!("keygate_session={session}"))
            .send()
            .await
            .unwrap();
        let csrf = csrf_field(&page.text().await.unwrap()).expect("a CSRF token on the page");
        Self {
            client,
            base: server.base.clone(),
            session,
            csrf,
        }
    }

    /// Submits a form; the UI answers a successful change with 303.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) {
        let mut form = fields.to_vec();
        form.push(("csrf", &self.csrf));
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("keygate_session={}", self.session))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 303, "POST {path} failed: {body}");
    }
}

/// Propagation figures: how the change was made, how long after the
/// write returned instance B obeyed, and how long after it started.
#[derive(Default)]
struct Samples(Vec<(&'static str, Duration, Duration)>);

impl Samples {
    fn add(&mut self, path: &'static str, after_return: Duration, after_start: Duration) {
        assert!(
            after_return < LIMIT,
            "{path}: instance B obeyed only {after_return:?} after the write returned"
        );
        self.0.push((path, after_return, after_start));
    }

    /// Prints medians and maxima per path and overall.
    fn report(&self) {
        let mut paths: Vec<&str> = Vec::new();
        for (path, _, _) in &self.0 {
            if !paths.contains(path) {
                paths.push(path);
            }
        }
        paths.push("all changes");
        for path in paths {
            let chosen = self
                .0
                .iter()
                .filter(|(p, _, _)| *p == path || path == "all changes");
            let (mut returned, mut started): (Vec<Duration>, Vec<Duration>) =
                chosen.map(|(_, r, s)| (*r, *s)).unzip();
            returned.sort();
            started.sort();
            let n = returned.len();
            eprintln!(
                "propagation to instance B, {path} (n={n}): after the write returned median {:.1} ms, \
                 max {:.1} ms; after it started median {:.1} ms, max {:.1} ms",
                ms(returned[n / 2]),
                ms(returned[n - 1]),
                ms(started[n / 2]),
                ms(started[n - 1]),
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_instance_or_the_cli_reach_the_other_fast() {
    let Some(db) = ScratchDatabase::create_or_skip().await else {
        return;
    };
    let cluster = Cluster::start(db.url()).await;
    let show = cluster.ok(&["role", "show", "Support", "--json"]).await;
    let role_id = serde_json::from_str::<serde_json::Value>(&show).unwrap()["id"].to_string();
    let role_path = format!("/admin/api-credentials/roles/{role_id}/edit");
    let ui = Ui::login(&cluster.a, "alice", "password1").await;
    let mut samples = Samples::default();
    for _ in 0..5 {
        let path = "CLI credential generate";
        let credential = cluster
            .timed(&mut samples, path, 200, cluster.generate())
            .await;
        let revoke = ["role", "edit", "Support", "--revoke", ACTION];
        let write = async {
            cluster.ok(&revoke).await;
            credential.clone()
        };
        cluster
            .timed(&mut samples, "CLI role edit --revoke", 403, write)
            .await;
        let allow = [
            ("name", "Support"),
            ("description", ""),
            ("actions", ACTION),
        ];
        let write = async {
            ui.post(&role_path, &allow).await;
            credential.clone()
        };
        cluster
            .timed(&mut samples, "UI on A: role edit (allow)", 200, write)
            .await;
        let delete = [("identifier", credential.0.as_str())];
        let write = async {
            ui.post("/admin/api-credentials/credentials/delete", &delete)
                .await;
            credential.clone()
        };
        cluster
            .timed(&mut samples, "UI on A: credential delete", 401, write)
            .await;
        assert_eq!(cluster.status(&cluster.a, &credential).await, 401);
    }
    samples.report();
    // Both instances applied every change from the change log.
    for server in [&cluster.a, &cluster.b] {
        let (applied, rebuilt) = common::snapshot_updates(&cluster.client, server).await;
        assert!(applied >= 20, "{applied} updates applied");
        assert_eq!(rebuilt, 0);
    }
}

/// GETs `path`; returns (status, body).
async fn get(cluster: &Cluster, server: &Server, path: &str) -> (u16, String) {
    let response = cluster.client.get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Waits up to `limit` for `server`'s logs to contain `text`.
async fn logged(server: &Server, text: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if server.logs.lock().unwrap().contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits up to `limit` for `/healthz` to answer 200 with a body for which
/// `check` holds.
async fn health(cluster: &Cluster, server: &Server, limit: Duration, check: fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        let (status, body) = get(cluster, server, "/healthz").await;
        assert_eq!(status, 200, "/healthz answers 200 in every state");
        if check(&body) {
            return;
        }
        assert!(started.elapsed() < limit, "/healthz still says {body:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_recover_from_killed_connections() {
    let Some(db) = ScratchDatabase::create_or_skip().await else {
        return;
    };
    let cluster = Cluster::start(db.url()).await;
    let credential = cluster.generate().await;
    cluster.b_obeys(&credential, 200).await;
    // Both instances have LISTEN connections by now: wait for B's to be up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ended = db.terminate_connections().await.unwrap();
    assert!(ended >= 2, "at least both listeners were ended: {ended}");
    assert!(
        logged(
            &cluster.b,
            "change listener reconnected",
            Duration::from_secs(10)
        )
        .await,
        "B's listener reconnects by itself: {}",
        cluster.b.logs.lock().unwrap()
    );
    assert_eq!(cluster.status(&cluster.b, &credential).await, 200);
    let mut samples = Samples::default();
    for (args, status) in [
        (["role", "edit", "Support", "--revoke", ACTION], 403),
        (["role", "edit", "Support", "--allow", ACTION], 200),
    ] {
        let write = async {
            cluster.ok(&args).await;
            credential.clone()
        };
        let path = "CLI role edit after pg_terminate_backend";
        cluster.timed(&mut samples, path, status, write).await;
    }
    samples.report();
    health(&cluster, &cluster.b, Duration::from_secs(5), |b| b == "ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_serve_through_a_database_outage_and_resume_without_restart() {
    let Some(db) = ScratchDatabase::create_or_skip().await else {
        return;
    };
    // Everyone reaches the database through a relay the test can cut.
    let link = db.link().await.unwrap();
    let cluster = Cluster::start(link.url()).await;
    let credential = cluster.generate().await;
    cluster.b_obeys(&credential, 200).await;
    let ui = Ui::login(&cluster.a, "alice", "password1").await;

    link.cut();
    let degraded = |body: &str| body.starts_with("ok") && body.contains("degraded");
    health(&cluster, &cluster.b, Duration::from_secs(20), degraded).await;
    health(&cluster, &cluster.a, Duration::from_secs(20), degraded).await;
    for server in [&cluster.a, &cluster.b] {
        assert_eq!(
            cluster.status(server, &credential).await,
            200,
            "fail static"
        );
        let (_, metrics) = get(&cluster, server, "/metrics").await;
        assert!(metrics.contains("keygate_store_degraded 1"), "{metrics}");
        assert!(server.logs.lock().unwrap().contains("last snapshot"));
    }
    let revoke = ["role", "edit", "Support", "--revoke", ACTION];
    let out = cli(cluster.dir.path(), &cluster.url, &revoke, None).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.contains("PostgreSQL at 127.0.0.1:"),
        "{}",
        out.stderr
    );
    eprintln!("CLI during the outage: {}", out.stderr.trim_end());
    let refused = ui
        .client
        .post(cluster.a.url("/admin/api-credentials/credentials/delete"))
        .header(COOKIE, format!("keygate_session={}", ui.session))
        .form(&[("identifier", credential.0.as_str()), ("csrf", &ui.csrf)])
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_server_error(), "{:?}", refused.status());

    link.restore().await.unwrap();
    let healthy = |body: &str| body == "ok";
    health(&cluster, &cluster.b, Duration::from_secs(20), healthy).await;
    let (_, metrics) = get(&cluster, &cluster.b, "/metrics").await;
    assert!(metrics.contains("keygate_store_degraded 0"), "{metrics}");
    assert!(
        logged(
            &cluster.b,
            "change listener reconnected",
            Duration::from_secs(10)
        )
        .await
    );
    let mut samples = Samples::default();
    let write = async {
        cluster.ok(&revoke).await;
        credential.clone()
    };
    let path = "CLI role edit after the outage";
    cluster.timed(&mut samples, path, 403, write).await;
    samples.report();
    // A may still be reconnecting its listener: its revision polling obeys.
    let started = Instant::now();
    let obeyed = cluster.obeys(&cluster.a, &credential, 403).await;
    assert!(
        obeyed - started < LIMIT,
        "A obeyed after {:?}",
        obeyed - started
    );
}

/// One CLI run, reduced to what must not differ between backends: the
/// generated identifiers and secrets, times and row ids are masked.
fn normalized(out: &Output, secrets: &[(String, String)]) -> (i32, String, String) {
    let mask = |text: &str| {
        let mut text = text.to_string();
        for (i, (identifier, secret)) in secrets.iter().enumerate() {
            text = text.replace(identifier, &format!("<identifier{i}>"));
            text = text.replace(secret, &format!("<secret{i}>"));
        }
        mask_numbers(&mask_times(&text))
    };
    (out.code, mask(&out.stdout), mask(&out.stderr))
}

/// Replaces RFC 3339 UTC times (`2024-01-02T03:04:05Z`) with `<time>`.
fn mask_times(text: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    let bytes = text.as_bytes();
    let fits = |at: usize| {
        bytes.len() >= at + SHAPE.len()
            && SHAPE.iter().zip(&bytes[at..]).all(|(s, b)| match s {
                b'd' => b.is_ascii_digit(),
                other => other == b,
            })
    };
    let (mut out, mut at) = (Vec::new(), 0);
    while at < bytes.len() {
        if fits(at) {
            out.extend_from_slice(b"<time>");
            at += SHAPE.len();
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Replaces the numbers of JSON keys that hold ids or unix times.
fn mask_numbers(text: &str) -> String {
    let mut out = text.to_string();
    for key in ["\"id\":", "\"admin_id\":", "\"created_at\":"] {
        let mut rest = out.as_str();
        let mut masked = String::new();
        while let Some(at) = rest.find(key) {
            let (before, after) = rest.split_at(at + key.len());
            masked.push_str(before);
            masked.push('N');
            rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
        }
        masked.push_str(rest);
        out = masked;
    }
    out
}

/// Runs the same CLI session against `url`; returns every normalized result.
async fn cli_session(url: &str) -> Vec<(String, (i32, String, String))> {
    let dir = tempfile::tempdir().unwrap();
    let mut secrets: Vec<(String, String)> = Vec::new();
    let mut results = Vec::new();
    let script: &[(&[&str], Option<&str>)] = &[
        (
            &["admin", "add", "alice", "--password-stdin", "--json"],
            Some("password1\n"),
        ),
        (
            &["admin", "add", "alice", "--password-stdin"],
            Some("password1\n"),
        ),
        (
            &["admin", "add", "Bob", "--password-stdin"],
            Some("password1\n"),
        ),
        (&["admin", "list"], None),
        (&["admin", "list", "--json"], None),
        (&["credential", "generate", "--admin", "alice"], None),
        (
            &[
                "role",
                "create",
                "Support Desk",
                "--description",
                "Ticket app",
                "--allow-category",
                "Tickets",
                "--allow",
                "GetClients",
                "--json",
            ],
            None,
        ),
        (&["role", "create", "support desk"], None),
        (
            &[
                "role",
                "create",
                "Billing",
                "--allow",
                "GetInvoices",
                "--allow",
                "getclientsdata",
            ],
            None,
        ),
        (&["role", "create", "Bad", "--allow", "NoSuchAction"], None),
        (&["role", "list"], None),
        (&["role", "list", "--json"], None),
        (&["role", "show", "support desk"], None),
        (
            &[
                "role",
                "edit",
                "Support Desk",
                "--name",
                "Helpdesk",
                "--revoke-category",
                "Tickets",
                "--allow",
                "OpenTicket",
                "--json",
            ],
            None,
        ),
        (&["role", "edit", "Billing", "--name", "HELPDESK"], None),
        (
            &[
                "credential",
                "generate",
                "--admin",
                "alice",
                "--role",
                "Helpdesk",
                "--role",
                "billing",
                "--json",
            ],
            None,
        ),
        (
            &[
                "credential",
                "import",
                "--admin",
                "Bob",
                "--identifier",
                "LEGACY",
                "--secret-stdin",
            ],
            Some("legacy-secret\n"),
        ),
        (
            &[
                "credential",
                "import",
                "--admin",
                "Bob",
                "--identifier",
                "LEGACY",
                "--secret-stdin",
            ],
            Some("other\n"),
        ),
        (&["credential", "list"], None),
        (&["credential", "list", "--json"], None),
        (&["credential", "list", "--admin", "Bob", "--json"], None),
        (&["credential", "show", "LEGACY"], None),
        (
            &[
                "credential",
                "edit",
                "LEGACY",
                "--description",
                "old app",
                "--role",
                "Billing",
                "--json",
            ],
            None,
        ),
        (&["credential", "edit", "LEGACY", "--no-roles"], None),
        (&["role", "delete", "Billing"], None),
        (&["role", "delete", "Billing"], None),
        (&["admin", "disable", "Bob"], None),
        (&["admin", "list", "--json"], None),
        (&["admin", "enable", "Bob"], None),
        (&["admin", "remove", "Bob"], None),
        (&["credential", "delete", "LEGACY"], None),
        (&["credential", "list", "--json"], None),
    ];
    for (args, stdin) in script {
        let out = cli(dir.path(), url, args, *stdin).await;
        if args[1] == "generate" && out.code == 0 {
            let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            let field = |name: &str| json[name].as_str().unwrap().to_string();
            secrets.push((field("identifier"), field("secret")));
        }
        results.push((args.join(" "), normalized(&out, &secrets)));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_works_against_postgres_exactly_as_against_sqlite() {
    let Some(db) = ScratchDatabase::create_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("keygate.db").display());
    let expected = cli_session(&sqlite).await;
    let got = cli_session(db.url()).await;
    for ((command, want), (_, have)) in expected.iter().zip(&got) {
        assert_eq!(
            have, want,
            "keygate {command}: PostgreSQL differs from SQLite"
        );
    }
    assert_eq!(got.len(), expected.len());
}
