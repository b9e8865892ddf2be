//! HTTPS end to end: the real binary with `[tls]` in keygate.toml and a
//! certificate generated here (rcgen), reached by real `curl`, by PHP (the
//! way a WHMCS client library calls `includes/api.php`) and by reqwest;
//! a renewed certificate is picked up without a restart, and a renewal that
//! does not load keeps the certificate in force.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Scratch, Server};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// How often the server under test re-reads its certificate files.
const RELOAD_MS: &str = "200";

/// A certificate authority that signs server certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate and its key, in PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for 127.0.0.1 and localhost.
    fn leaf(&self) -> Leaf {
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// The scratch directory's certificate, key and CA files.
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn in_dir(dir: &Path) -> Self {
        Self {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// Replaces both files the way certbot does: complete new files, renamed
    /// into place.
    fn install(&self, leaf: &Leaf) {
        replace(&self.cert, &leaf.cert);
        replace(&self.key, &leaf.key);
    }
}

/// Writes `path` whole at once (a new file renamed over it), so the server
/// never reads it half-written unless a test means it to.
fn replace(path: &Path, text: &str) {
    let temporary = path.with_extension("pem.new");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// Writes `ca.pem` (the CA a client must trust) and returns its path.
fn write_ca(dir: &Path, name: &str, ca: &Ca) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, ca.pem()).unwrap();
    path
}

/// keygate.toml with `[tls]`; returns the files it names.
fn configure_tls(dir: &Path, leaf: &Leaf) -> Files {
    let files = Files::in_dir(dir);
    files.install(leaf);
    std::fs::write(
        dir.join("keygate.toml"),
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            files.cert.display(),
            files.key.display()
        ),
    )
    .unwrap();
    files
}

fn start_https(s: &Scratch) -> Server {
    let server = Server::start(
        s.dir.path(),
        &s.db_url,
        &[("KEYGATE_TLS_RELOAD_INTERVAL_MS", RELOAD_MS)],
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.banner
    );
    server
}

/// A reqwest client trusting `ca` only, on a connection of its own.
fn client_trusting(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `GET /healthz` from a client trusting `ca`: the body, or the error.
async fn healthz(server: &Server, ca: &Ca) -> Result<String, String> {
    match client_trusting(ca).get(server.url("/healthz")).send().await {
        Ok(response) => Ok(response.text().await.unwrap_or_default()),
        Err(error) => Err(format!("{error:?}")),
    }
}

/// Waits up to `limit` for `check` to hold.
async fn eventually<F, Fut>(limit: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::wait_until(limit, check).await.is_some()
}

/// Waits up to 10 s for the server's logs after `from` to contain every one
/// of `needles` on one line; returns that line.
fn wait_for_log(server: &Server, from: usize, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        {
            let logs = server.logs.lock().unwrap();
            if let Some(line) = logs[from..]
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?}; logs: {logs}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_len(server: &Server) -> usize {
    server.logs.lock().unwrap().len()
}

/// Runs `curl ARGS`, or `None` (after printing SKIPPED) without curl.
fn curl(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("curl").args(args).output() {
        Ok(output) => Some(output),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("SKIPPED: curl not installed");
            None
        }
        Err(e) => panic!("curl: {e}"),
    }
}

#[tokio::test]
async fn curl_and_reqwest_trust_the_configured_certificate_only() {
    let s = Scratch::new();
    let ca = Ca::new("keygate test CA");
    let ca_file = write_ca(s.dir.path(), "ca.pem", &ca);
    configure_tls(s.dir.path(), &ca.leaf());
    s.add_admin("alice");
    s.ok(&["role", "create", "Reader", "--allow", "GetClients"]);
    let generated = s.ok(&[
        "credential",
        "generate",
        "--admin",
        "alice",
        "--role",
        "Reader",
        "--allow-ip",
        "127.0.0.1/32",
        "--json",
    ]);
    let generated: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let (id, secret) = (
        generated["identifier"].as_str().unwrap(),
        generated["secret"].as_str().unwrap(),
    );
    let server = start_https(&s);
    for line in [
        "gateway:  https://127.0.0.1:",
        "sidecar:  https://127.0.0.1:",
        "admin UI: https://127.0.0.1:",
        "tls:      ",
    ] {
        assert!(server.banner.contains(line), "{line}: {}", server.banner);
    }
    assert!(!server.banner.contains("http://"), "{}", server.banner);
    assert!(
        !server.banner.contains("tls:      off"),
        "{}",
        server.banner
    );

    // Real curl, trusting the test CA: the handshake and the answer.
    let url = server.url("/healthz");
    let ca_arg = ca_file.to_str().unwrap();
    if let Some(out) = curl(&["-sS", "--max-time", "10", "--cacert", ca_arg, &url]) {
        assert!(
            out.status.success(),
            "curl --cacert failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
        // By name too: the certificate is for localhost as well.
        let by_name = url.replace("127.0.0.1", "localhost");
        let out = curl(&["-sS", "--max-time", "10", "--cacert", ca_arg, &by_name]).unwrap();
        assert!(
            out.status.success(),
            "curl {by_name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Without the CA: a certificate error, not an answer.
        let out = curl(&["-sS", "--max-time", "10", &url]).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "curl trusted an unknown CA");
        assert!(out.stdout.is_empty());
        assert!(
            stderr.to_lowercase().contains("certificate"),
            "curl without --cacert: {stderr}"
        );
        // Plain HTTP on the HTTPS port is not served.
        let plain = url.replace("https://", "http://");
        let out = curl(&["-sS", "--max-time", "10", &plain]).unwrap();
        assert_ne!(String::from_utf8_lossy(&out.stdout), "ok");
    }

    // reqwest trusting only the test CA.
    assert_eq!(healthz(&server, &ca).await.as_deref(), Ok("ok"));
    let other = Ca::new("some other CA");
    let refused = healthz(&server, &other).await.unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    // A gateway call from a credential bound to 127.0.0.1: the peer address
    // reaches the handlers through TLS, so the call is allowed (and answered
    // 503: no upstream is configured).
    let client = client_trusting(&ca);
    let (status, _, body) = common::gateway(&client, &server, id, secret, "GetClients").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["result"], "error");
    assert_eq!(body["message"], "No upstream is configured");

    // Served over HTTPS, the admin UI's cookies are Secure.
    let response = client.get(server.url("/admin/login")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookies: Vec<_> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(!cookies.is_empty());
    for cookie in &cookies {
        assert!(cookie.ends_with("; Secure"), "{cookie}");
    }

    // SIGTERM still shuts down cleanly.
    assert_eq!(server.terminate(), 0);
}

/// The PHP client: what a WHMCS API client does (the sample code in WHMCS's
/// documentation uses curl; PHP's own https stream is the other common
/// way). Prints `{"status":…,"body":…}`, or exits 2 with the error.
const PHP_CLIENT: &str = r#"<?php
[, $url, $cafile, $identifier, $secret, $transport] = $argv;
$fields = http_build_query([
    'action' => 'GetClients',
    'identifier' => $identifier,
    'secret' => $secret,
    'responsetype' => 'json',
]);
if ($transport === 'curl') {
    $ch = curl_init();
    curl_setopt($ch, CURLOPT_URL, $url);
    curl_setopt($ch, CURLOPT_POST, 1);
    curl_setopt($ch, CURLOPT_POSTFIELDS, $fields);
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, 1);
    curl_setopt($ch, CURLOPT_TIMEOUT, 10);
    curl_setopt($ch, CURLOPT_SSL_VERIFYPEER, true);
    curl_setopt($ch, CURLOPT_SSL_VERIFYHOST, 2);
    if ($cafile !== '') {
        curl_setopt($ch, CURLOPT_CAINFO, $cafile);
    }
    $body = curl_exec($ch);
    if ($body === false) {
        fwrite(STDERR, 'curl error: ' . curl_error($ch));
        exit(2);
    }
    $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    curl_close($ch);
} else {
    $ssl = ['verify_peer' => true, 'verify_peer_name' => true];
    if ($cafile !== '') {
        $ssl['cafile'] = $cafile;
    }
    $context = stream_context_create([
        'http' => [
            'method' => 'POST',
            'header' => "Content-Type: application/x-www-form-urlencoded\r\n",
            'content' => $fields,
            'ignore_errors' => true,
            'timeout' => 10,
        ],
        'ssl' => $ssl,
    ]);
    // PHP reports the TLS failure in warnings before the final one.
    $errors = [];
    set_error_handler(function ($no, $message) use (&$errors) {
        $errors[] = $message;
        return true;
    });
    $body = file_get_contents($url, false, $context);
    restore_error_handler();
    if ($body === false) {
        fwrite(STDERR, 'stream error: ' . implode(' / ', $errors));
        exit(2);
    }
    preg_match('{^HTTP/\S+ (\d+)}', $http_response_header[0], $m);
    $status = (int) $m[1];
}
echo json_encode(['status' => $status, 'body' => json_decode($body, true)]);
"#;

/// Whether `php` runs; without it, `SKIPPED` (or a failure when
/// `KEYGATE_TEST_PHP_REQUIRED=1`).
fn php_or_skip(what: &str) -> bool {
    let runs = |args: &[&str]| {
        Command::new("php")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let required = std::env::var("KEYGATE_TEST_PHP_REQUIRED").as_deref() == Ok("1");
    if !runs(&["-v"]) {
        assert!(
            !required,
            "php is not installed but KEYGATE_TEST_PHP_REQUIRED=1"
        );
        println!("SKIPPED: php not installed ({what})");
        return false;
    }
    true
}

fn php_has_curl() -> bool {
    let loaded = Command::new("php")
        .args(["-r", "exit(extension_loaded('curl') ? 0 : 1);"])
        .status()
        .is_ok_and(|s| s.success());
    if !loaded {
        let required = std::env::var("KEYGATE_TEST_PHP_REQUIRED").as_deref() == Ok("1");
        assert!(
            !required,
            "PHP's curl extension (php-curl) is not installed but KEYGATE_TEST_PHP_REQUIRED=1"
        );
        println!(
            "SKIPPED: PHP's curl extension not installed (the https stream client still runs)"
        );
    }
    loaded
}

#[test]
fn whmcs_php_client_calls_the_gateway_over_https() {
    if !php_or_skip("WHMCS client over HTTPS") {
        return;
    }
    let s = Scratch::new();
    let ca = Ca::new("keygate test CA");
    let ca_file = write_ca(s.dir.path(), "ca.pem", &ca);
    configure_tls(s.dir.path(), &ca.leaf());
    let script = s.dir.path().join("client.php");
    std::fs::write(&script, PHP_CLIENT).unwrap();
    s.add_admin("alice");
    s.ok(&["role", "create", "Reader", "--allow", "GetClients"]);
    s.ok(&["role", "create", "Tickets", "--allow", "GetTickets"]);
    let (id, secret) = s.generate("alice", &["Reader"]);
    let (other_id, other_secret) = s.generate("alice", &["Tickets"]);
    let server = start_https(&s);
    let url = server.url("/includes/api.php");
    let php = |cafile: &Path, id: &str, secret: &str, transport: &str| {
        let out = Command::new("php")
            .args(["-d", "display_errors=stderr"])
            .arg(&script)
            .args([
                url.as_str(),
                cafile.to_str().unwrap(),
                id,
                secret,
                transport,
            ])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut transports = vec!["stream"];
    if php_has_curl() {
        transports.push("curl");
    }
    for transport in transports {
        // Allowed: keygate answers itself (no upstream is configured).
        let (code, stdout, stderr) = php(&ca_file, &id, &secret, transport);
        assert_eq!(code, 0, "{transport}: {stderr}");
        let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(answer["status"], 503, "{transport}: {answer}");
        assert_eq!(answer["body"]["result"], "error", "{transport}: {answer}");
        assert_eq!(
            answer["body"]["message"], "No upstream is configured",
            "{transport}: {answer}"
        );
        // A credential whose roles do not allow GetClients.
        let (code, stdout, stderr) = php(&ca_file, &other_id, &other_secret, transport);
        assert_eq!(code, 0, "{transport}: {stderr}");
        let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(answer["status"], 403, "{transport}: {answer}");
        assert_eq!(answer["body"]["result"], "error", "{transport}: {answer}");
        // Not trusting the test CA: the certificate is refused.
        let (code, stdout, stderr) = php(Path::new(""), &id, &secret, transport);
        assert_eq!(code, 2, "{transport} trusted an unknown CA: {stdout}");
        assert!(
            stderr.to_lowercase().contains("certificate"),
            "{transport}: {stderr}"
        );
    }
    assert_eq!(server.terminate(), 0);
}

#[tokio::test]
async fn renewed_certificate_is_served_without_a_restart() {
    let s = Scratch::new();
    let first = Ca::new("first CA");
    let files = configure_tls(s.dir.path(), &first.leaf());
    let server = start_https(&s);
    assert_eq!(healthz(&server, &first).await.as_deref(), Ok("ok"));
    let reload_wait = Duration::from_secs(10);

    // A renewal from another CA, renamed into place: served within a few
    // reload intervals, and the old CA's clients no longer get through.
    let second = Ca::new("second CA");
    let renewed = second.leaf();
    let from = log_len(&server);
    files.install(&renewed);
    assert!(
        eventually(reload_wait, || async {
            healthz(&server, &second).await.is_ok()
        })
        .await,
        "the renewed certificate was not picked up; logs: {}",
        server.logs.lock().unwrap()
    );
    let refused = healthz(&server, &first).await.unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    let line = wait_for_log(&server, from, &["TLS certificate reloaded", "cert.pem"]);
    assert!(line.contains("INFO"), "{line}");

    // A half-written certificate: a warning naming the file, and the last
    // good certificate stays in force.
    let from = log_len(&server);
    let half = &renewed.cert[..renewed.cert.len() / 2];
    replace(&files.cert, half);
    let line = wait_for_log(&server, from, &["TLS certificate not reloaded", "cert.pem"]);
    assert!(line.contains("WARN"), "{line}");
    assert_eq!(healthz(&server, &second).await.as_deref(), Ok("ok"));

    // Garbage: the same.
    let from = log_len(&server);
    replace(&files.cert, "garbage\n");
    let line = wait_for_log(
        &server,
        from,
        &[
            "TLS certificate not reloaded",
            "holds no PEM certificate",
            "cert.pem",
        ],
    );
    assert!(line.contains("WARN"), "{line}");
    assert_eq!(healthz(&server, &second).await.as_deref(), Ok("ok"));

    // A new certificate next to the old key: mismatched, not loaded.
    let third = Ca::new("third CA");
    let next = third.leaf();
    let from = log_len(&server);
    replace(&files.cert, &next.cert);
    let line = wait_for_log(&server, from, &["does not match", "key.pem", "cert.pem"]);
    assert!(line.contains("WARN"), "{line}");
    assert_eq!(healthz(&server, &second).await.as_deref(), Ok("ok"));
    assert!(healthz(&server, &third).await.is_err());

    // Its key arrives: the pair is loaded.
    replace(&files.key, &next.key);
    assert!(
        eventually(reload_wait, || async {
            healthz(&server, &third).await.is_ok()
        })
        .await,
        "the completed renewal was not picked up; logs: {}",
        server.logs.lock().unwrap()
    );
    // Warnings were logged once per bad file, not at every check.
    let logs = server.logs.lock().unwrap().clone();
    assert_eq!(
        logs.matches("holds no PEM certificate").count(),
        1,
        "{logs}"
    );
    assert_eq!(server.terminate(), 0);
}

#[test]
fn unreadable_tls_files_stop_serve_with_one_error_line() {
    let s = Scratch::new();
    let ca = Ca::new("keygate test CA");
    let files = configure_tls(s.dir.path(), &ca.leaf());

    // The key file is missing.
    std::fs::remove_file(&files.key).unwrap();
    let out = s.cli(&["serve"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains(&files.key.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "nothing listened: {}", out.stdout);

    // The certificate is not PEM.
    std::fs::write(&files.key, ca.leaf().key).unwrap();
    std::fs::write(&files.cert, "not a certificate\n").unwrap();
    let out = s.cli(&["serve"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains(&files.cert.display().to_string()),
        "{}",
        out.stderr
    );

    // A certificate with someone else's key.
    std::fs::write(&files.cert, ca.leaf().cert).unwrap();
    let out = s.cli(&["serve"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&files.key.display().to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn plain_http_banner_says_tls_is_off() {
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
        server.banner.contains("tls:      off (plain HTTP;"),
        "{}",
        server.banner
    );
    assert!(!server.banner.contains("https://"), "{}", server.banner);
}
