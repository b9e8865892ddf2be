//! The client against real sockets on 127.0.0.1: connections reused over
//! plain TCP and TLS, a connection the upstream closed while idle replaced
//! before anything is written to it, and a certificate nobody vouches for
//! refused before the master credential is sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keygate_core::ConfigSecret;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::*;

/// What the test upstream saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

/// An upstream on 127.0.0.1 answering every request with its own body;
/// over TLS with `tls`; closing each connection after one answer with
/// `one_answer_each`.
async fn upstream(tls: Option<TlsAcceptor>, one_answer_each: bool) -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let seen = shared.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => answer_all(tcp, &seen, one_answer_each).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer_all(stream, &seen, one_answer_each).await;
                        }
                    }
                }
            });
        }
    });
    (port, seen)
}

/// Answers requests on one connection until it closes.
async fn answer_all<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, seen: &Seen, once: bool) {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.parse().unwrap());
        if buf.len() < end + 4 + length {
            continue;
        }
        let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
        buf.drain(..end + 4 + length);
        seen.requests
            .lock()
            .unwrap()
            .push(format!("{head}\r\n\r\n{body}"));
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() || once {
            return;
        }
    }
}

fn config(url: String) -> UpstreamConfig {
    UpstreamConfig {
        url,
        identifier: ConfigSecret::new("master"),
        secret: ConfigSecret::new("master-secret"),
        accesskey: None,
        timeout: Duration::from_secs(5),
    }
}

/// A CA and a certificate it signed for 127.0.0.1, as an acceptor and the
/// roots that trust it.
fn test_ca() -> (TlsAcceptor, rustls::RootCertStore) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
    (TlsAcceptor::from(Arc::new(server)), roots)
}

async fn call(upstream: &Upstream, form: &str) -> Result<Forwarded, Unavailable> {
    upstream.post(form.to_owned()).await
}

#[tokio::test]
async fn plain_connections_are_reused() {
    let (port, seen) = upstream(None, false).await;
    let client =
        Upstream::new(config(format!("http://127.0.0.1:{port}/includes/api.php"))).unwrap();
    for i in 0..5 {
        let answer = call(&client, &format!("action=GetClients&n={i}"))
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            &answer.body[..],
            format!("action=GetClients&n={i}").as_bytes()
        );
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    let requests = seen.requests.lock().unwrap();
    assert!(
        requests[0].starts_with(&format!(
            "POST /includes/api.php HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        )),
        "{}",
        requests[0]
    );
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_replaced_and_nothing_is_sent_twice() {
    let (port, seen) = upstream(None, true).await;
    let client = Upstream::new(config(format!("http://127.0.0.1:{port}/api.php"))).unwrap();
    for i in 0..3 {
        let answer = call(&client, &format!("n={i}")).await.unwrap();
        assert_eq!(&answer.body[..], format!("n={i}").as_bytes());
        // The upstream's close reaches keygate while the connection is idle.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
    assert_eq!(
        seen.requests.lock().unwrap().len(),
        3,
        "each request sent once"
    );
}

#[tokio::test]
async fn tls_connections_are_verified_and_reused() {
    let (acceptor, roots) = test_ca();
    let (port, seen) = upstream(Some(acceptor), false).await;
    let url = format!("https://127.0.0.1:{port}/includes/api.php");
    let client = Upstream::with_roots(config(url), roots).unwrap();
    for i in 0..4 {
        let answer = call(&client, &format!("n={i}")).await.unwrap();
        assert_eq!(&answer.body[..], format!("n={i}").as_bytes());
        // Session tickets the server sends after the handshake arrive while idle.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unknown_certificate_is_refused_before_anything_is_sent() {
    let (acceptor, _) = test_ca();
    let (port, seen) = upstream(Some(acceptor), false).await;
    let client = Upstream::new(config(format!("https://127.0.0.1:{port}/api.php"))).unwrap();
    let error = call(&client, "secret=master-secret").await.unwrap_err();
    assert!(matches!(error, Unavailable::Connect(_)), "{error}");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    assert!(seen.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_closed_port_and_a_silent_upstream_are_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client = Upstream::new(config(format!("http://127.0.0.1:{port}/api.php"))).unwrap();
    let error = call(&client, "a=1").await.unwrap_err();
    assert!(matches!(error, Unavailable::Connect(_)), "{error}");

    // Accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut config = config(format!("http://127.0.0.1:{port}/api.php"));
    config.timeout = Duration::from_millis(200);
    let client = Upstream::new(config).unwrap();
    let error = call(&client, "a=1").await.unwrap_err();
    assert!(matches!(error, Unavailable::Timeout(_)), "{error}");
    drop(silent);
}
