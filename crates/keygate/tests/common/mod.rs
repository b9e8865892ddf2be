//! End-to-end helpers: run the real `keygate` binary as a CLI or as a
//! server on port 0, against a database URL, from a scratch directory.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn keygate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keygate"))
}

/// A scratch directory with a fresh SQLite database URL.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub db_url: String,
}

impl Scratch {
    /// A new directory; the database file does not exist yet.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", dir.path().join("keygate.db").display());
        Self { dir, db_url }
    }

    /// Runs the CLI against this database.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(self.dir.path(), &self.db_url, args, None)
    }

    /// Runs the CLI with `stdin` as standard input.
    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run_cli(self.dir.path(), &self.db_url, args, Some(stdin))
    }

    /// Runs the CLI and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert_eq!(out.code, 0, "keygate {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// Adds an admin with a password.
    pub fn add_admin(&self, user: &str) {
        let out = self.cli_stdin(&["admin", "add", user, "--password-stdin"], "password1\n");
        assert_eq!(out.code, 0, "{}", out.stderr);
    }

    /// Generates a credential; returns (identifier, secret).
    pub fn generate(&self, admin: &str, roles: &[&str]) -> (String, String) {
        let mut args = vec!["credential", "generate", "--admin", admin, "--json"];
        for role in roles {
            args.extend(["--role", role]);
        }
        let json: serde_json::Value = serde_json::from_str(&self.ok(&args)).unwrap();
        (
            json["identifier"].as_str().unwrap().to_string(),
            json["secret"].as_str().unwrap().to_string(),
        )
    }
}

/// What a CLI run printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `keygate ARGS` in `cwd` with a clean keygate environment.
pub fn run_cli(cwd: &Path, db_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = base_command(cwd, db_url);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn keygate");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn base_command(cwd: &Path, db_url: &str) -> Command {
    let mut command = Command::new(keygate_bin());
    command.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYGATE_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("KEYGATE_DATABASE_URL", db_url);
    command
}

/// A running `keygate serve` on 127.0.0.1:0; killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Everything written to stderr (the logs).
    pub logs: Arc<Mutex<String>>,
    /// Everything written to stdout (the banner).
    pub banner: String,
}

impl Server {
    /// Starts the server; `env` adds variables (e.g. KEYGATE_UPSTREAM_URL).
    pub fn start(cwd: &Path, db_url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = base_command(cwd, db_url);
        command
            .arg("serve")
            .env("KEYGATE_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn keygate serve");
        let logs = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                banner.push_str(&line);
                banner.push('\n');
                let _ = tx.send(banner.clone());
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut banner = String::new();
        let base = loop {
            if let Some(base) = banner
                .lines()
                .find_map(|l| l.strip_prefix("keygate listening on "))
                .map(str::to_string)
            {
                // Give the rest of the banner a moment to arrive.
                while let Ok(more) = rx.recv_timeout(Duration::from_millis(200)) {
                    banner = more;
                }
                break base;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(remaining) {
                Ok(more) => banner = more,
                Err(_) => {
                    let _ = child.kill();
                    panic!("server did not start; logs: {}", logs.lock().unwrap());
                }
            }
        };
        Self {
            child,
            base,
            logs,
            banner,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends SIGHUP: the server re-reads its configuration.
    pub fn hang_up(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGHUP);
        }
    }

    /// The logs written so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub fn terminate(mut self) -> i32 {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `/v1/authorize`; returns (status, body).
pub async fn authorize(
    client: &reqwest::Client,
    server: &Server,
    identifier: &str,
    secret: &str,
    action: &str,
) -> (u16, serde_json::Value) {
    let response = client
        .post(server.url("/v1/authorize"))
        .json(&serde_json::json!({ "identifier": identifier, "secret": secret, "action": action }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Polls `check` every 20 ms until it returns true or `limit` passes;
/// returns how long it took.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// [`run_cli`] off the async runtime (servers and pollers keep running
/// meanwhile).
pub async fn run_cli_async(cwd: &Path, db_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let (cwd, db_url) = (cwd.to_path_buf(), db_url.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&cwd, &db_url, &args, stdin.as_deref())
    })
    .await
    .unwrap()
}

/// [`Server::start`] off the async runtime, with owned `env` pairs.
pub async fn start_server_async(cwd: &Path, db_url: &str, env: Vec<(String, String)>) -> Server {
    let (cwd, db_url) = (cwd.to_path_buf(), db_url.to_string());
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start(&cwd, &db_url, &env)
    })
    .await
    .unwrap()
}

/// POSTs a WHMCS call (`identifier`, `secret`, `action`,
/// `responsetype=json`) to the gateway; returns (status, `Retry-After`,
/// body).
pub async fn gateway(
    client: &reqwest::Client,
    server: &Server,
    identifier: &str,
    secret: &str,
    action: &str,
) -> (u16, Option<String>, String) {
    let response = client
        .post(server.url("/includes/api.php"))
        .form(&[
            ("identifier", identifier),
            ("secret", secret),
            ("action", action),
            ("responsetype", "json"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        retry_after,
        response.text().await.unwrap_or_default(),
    )
}

/// The text of the server's `GET /metrics`.
pub async fn metrics(client: &reqwest::Client, server: &Server) -> String {
    let response = client.get(server.url("/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// The server's snapshot update counters from `/metrics`: (applied from the
/// store's change log, rebuilt in full since start).
pub async fn snapshot_updates(client: &reqwest::Client, server: &Server) -> (u64, u64) {
    let metrics = metrics(client, server).await;
    let count = |how: &str| {
        let line = format!("keygate_snapshot_updates_total{{how=\"{how}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {line} in {metrics}"))
    };
    (count("applied"), count("rebuilt"))
}
