//! The plain-HTTP listener over raw sockets: the hot loop's keep-alive,
//! pipelining and partial reads, the hand-over to hyper for everything it
//! does not take on, answers identical to the router's, and shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use keygate_testkit::app::{FakeWhmcs, Reply, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// One answer as read off the wire.
#[derive(Debug, PartialEq)]
struct Wire {
    status: u16,
    /// Lower-case names, in order, without `date`.
    headers: Vec<(String, String)>,
    body: String,
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Writes `raw`, reads until the server closes, splits the answers.
async fn exchange(app: &TestApp, raw: &[u8]) -> Vec<Wire> {
    let mut stream = TcpStream::connect(addr(app)).await.unwrap();
    stream.write_all(raw).await.unwrap();
    read_all(&mut stream).await
}

async fn read_all(stream: &mut TcpStream) -> Vec<Wire> {
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut read))
        .await
        .expect("the server did not close the connection")
        .unwrap();
    split_answers(&read)
}

fn split_answers(mut read: &[u8]) -> Vec<Wire> {
    let mut answers = Vec::new();
    while !read.is_empty() {
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut slots);
        let head = match response.parse(read).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                panic!("a cut answer: {:?}", String::from_utf8_lossy(read))
            }
        };
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .filter(|(name, _)| name != "date")
            .collect();
        let len = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let status = response.code.unwrap();
        answers.push(Wire {
            status,
            headers,
            body: String::from_utf8_lossy(&read[head..head + len]).into_owned(),
        });
        read = &read[head + len..];
    }
    answers
}

fn authorize(body: &str, extra: &str) -> String {
    format!(
        "POST /v1/authorize HTTP/1.1\r\nHost: keygate\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

fn credentials_json(id: &str, secret: &str, action: &str) -> String {
    serde_json::json!({"identifier": id, "secret": secret, "action": action}).to_string()
}

#[tokio::test]
async fn pipelined_requests_answer_in_order_across_the_hand_over() {
    let app = TestApp::builder().start().await;
    let (id, secret) = app.seed().await;
    let allowed = credentials_json(&id, &secret, "GetTickets");
    let denied = credentials_json(&id, "wrong", "GetTickets");
    // Hot, hot, then one for hyper (which answers the rest), then hot again.
    let raw = [
        authorize(&allowed, ""),
        authorize(&denied, ""),
        "GET /healthz HTTP/1.1\r\nHost: keygate\r\n\r\n".to_owned(),
        authorize(&allowed, "Connection: close\r\n"),
    ]
    .concat();
    let answers = exchange(&app, raw.as_bytes()).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 401, 200, 200]);
    assert_eq!(answers[2].body, "ok");
    assert!(answers[0].body.contains("\"allowed\":true"));
    let (mut by_hyper, by_loop) = (answers[3].headers.clone(), &answers[0].headers);
    assert_eq!(by_hyper.pop(), Some(("connection".into(), "close".into())));
    assert_eq!(
        &by_hyper, by_loop,
        "the same call, by the loop and by hyper"
    );
    assert_eq!(answers[0].body, answers[3].body);
}

#[tokio::test]
async fn a_request_arriving_in_pieces_is_answered() {
    let app = TestApp::builder().start().await;
    let (id, secret) = app.seed().await;
    let raw = authorize(
        &credentials_json(&id, &secret, "GetTickets"),
        "Connection: close\r\n",
    );
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    for piece in raw.as_bytes().chunks(7) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let answers = read_all(&mut stream).await;
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].status, 200, "{answers:?}");
}

#[tokio::test]
async fn framing_the_loop_leaves_to_hyper_is_answered_by_hyper() {
    let app = TestApp::builder().max_body(256).start().await;
    let (id, secret) = app.seed().await;
    let body = credentials_json(&id, &secret, "GetTickets");
    let chunked = format!(
        "POST /v1/authorize HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let answers = exchange(&app, chunked.as_bytes()).await;
    assert_eq!(answers[0].status, 200, "chunked: {answers:?}");

    let expect = authorize(&body, "Expect: 100-continue\r\nConnection: close\r\n");
    let statuses: Vec<u16> = exchange(&app, expect.as_bytes())
        .await
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses, [100, 200], "expect");

    let http10 = authorize(&body, "").replace("HTTP/1.1", "HTTP/1.0");
    let answers = exchange(&app, http10.as_bytes()).await;
    assert_eq!(answers[0].status, 200, "HTTP/1.0 closes after its answer");

    let too_large = authorize(&" ".repeat(257), "Connection: close\r\n");
    assert_eq!(exchange(&app, too_large.as_bytes()).await[0].status, 413);

    let malformed = "POST /v1/authorize HTTP/1.1\r\nBad Header: x\r\n\r\n";
    assert_eq!(exchange(&app, malformed.as_bytes()).await[0].status, 400);

    let head = "HEAD /includes/api.php HTTP/1.1\r\nConnection: close\r\n\r\n";
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut read = String::new();
    stream.read_to_string(&mut read).await.unwrap();
    assert!(
        read.starts_with("HTTP/1.1 403 ") && read.ends_with("\r\n\r\n"),
        "HEAD: {read}"
    );
}

/// The same request through the router in process (as hyper would pass
/// it) and through the hot loop: the same status, headers and body.
async fn same_as_router(app: &TestApp, raw: String, request: Request<Body>) {
    let mut request = request;
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let routed = app.app().router().oneshot(request).await.unwrap();
    let status = routed.status().as_u16();
    let mut headers: Vec<(String, String)> = routed
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let body = axum::body::to_bytes(routed.into_body(), usize::MAX)
        .await
        .unwrap();
    if !headers.iter().any(|(name, _)| name == "content-length") {
        headers.push(("content-length".into(), body.len().to_string()));
    }
    let expected = Wire {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    let raw = raw.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    let mut answers = exchange(app, raw.as_bytes()).await;
    let mut got = answers.remove(0);
    // Asked for by the test, to read to the end.
    assert_eq!(
        got.headers.pop(),
        Some(("connection".into(), "close".into()))
    );
    assert_eq!(got, expected, "{raw}");
}

#[tokio::test]
async fn the_loop_answers_as_the_router_does() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let sidecar_bodies = [
        credentials_json(&id, &secret, "GetTickets"),
        credentials_json(&id, &secret, "GetInvoices"),
        credentials_json(&id, "wrong", "GetTickets"),
        "{\"identifier\":".to_owned(),
        String::new(),
    ];
    for body in sidecar_bodies {
        let request = Request::post("/v1/authorize")
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        same_as_router(&app, authorize(&body, ""), request).await;
    }
    let forms = [
        format!("identifier={id}&secret={secret}&action=GetTickets&responsetype=json"),
        format!("identifier={id}&secret={secret}&action=GetInvoices"),
        format!("identifier={id}&secret=wrong&action=GetTickets&responsetype=xml"),
        "action=GetTickets&action=OpenTicket".to_owned(),
        "%zz=1".to_owned(),
    ];
    for form in forms {
        let raw = format!(
            "POST /includes/api.php HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        );
        let request = Request::post("/includes/api.php")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-length", form.len())
            .body(Body::from(form.clone()))
            .unwrap();
        same_as_router(&app, raw, request).await;
    }
    let query = format!("identifier={id}&secret={secret}&action=GetTickets");
    let raw = format!("GET /includes/api.php?{query} HTTP/1.1\r\n\r\n");
    let request = Request::get(format!("/includes/api.php?{query}"))
        .body(Body::empty())
        .unwrap();
    same_as_router(&app, raw, request).await;
}

/// Sends `raw` and reads one answer; `false` once the connection is closed.
async fn one_more_answer(stream: &mut TcpStream, raw: &str) -> bool {
    if stream.write_all(raw.as_bytes()).await.is_err() {
        return false;
    }
    let mut read = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => read.extend_from_slice(&chunk[..n]),
        }
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut slots);
        if let Ok(httparse::Status::Complete(head)) = response.parse(&read) {
            let len = response.headers.iter().find(|h| h.name == "content-length");
            let len: usize = std::str::from_utf8(len.unwrap().value)
                .unwrap()
                .parse()
                .unwrap();
            if read.len() >= head + len {
                return true;
            }
        }
    }
}

#[tokio::test]
async fn shutdown_ends_idle_connections_and_finishes_calls_under_way() {
    let whmcs = FakeWhmcs::start().await;
    whmcs.reply_with(Reply {
        delay: Duration::from_millis(500),
        ..Reply::default()
    });
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.app().serve_http(listener, async {
        let _ = stopped.await;
    }));
    let mut idle = TcpStream::connect(address).await.unwrap();
    let form = format!("identifier={id}&secret={secret}&action=GetTickets");
    let call = format!(
        "POST /includes/api.php HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let mut busy = TcpStream::connect(address).await.unwrap();
    busy.write_all(call.as_bytes()).await.unwrap();
    let unauthenticated = "GET /includes/api.php HTTP/1.1\r\n\r\n";
    let mut chatty = TcpStream::connect(address).await.unwrap();
    assert!(one_more_answer(&mut chatty, unauthenticated).await);
    // The call is with the upstream when the server is told to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    // A client that keeps calling is not answered for long.
    let mut answered = 0;
    while one_more_answer(&mut chatty, unauthenticated).await {
        answered += 1;
        assert!(answered < 100, "a stopping server kept answering");
    }
    let answers = read_all(&mut busy).await;
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].status, 200, "{answers:?}");
    assert!(
        read_all(&mut idle).await.is_empty(),
        "the idle connection is closed"
    );
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stopped")
        .unwrap();
    assert!(
        TcpStream::connect(address).await.is_err(),
        "no longer listening"
    );
}
