//! Which requests the hot loop takes on, and the answers it writes.

use super::*;

const LIMIT: usize = 1024;

fn parsed(raw: &str) -> Parsed {
    parse(raw.as_bytes(), LIMIT)
}

fn ready(raw: &str) -> Head {
    match parsed(raw) {
        Parsed::Ready(head) => head,
        other => panic!("{raw:?}: {other:?}"),
    }
}

#[test]
fn takes_on_plain_requests_to_the_hot_routes() {
    let cases = [
        (
            "POST /includes/api.php HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            Route::Gateway,
            3,
        ),
        (
            "GET /includes/api.php?action=GetClients HTTP/1.1\r\nHost: x\r\n\r\n",
            Route::Gateway,
            0,
        ),
        (
            "POST /v1/authorize HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}",
            Route::Authorize,
            2,
        ),
        (
            "POST /v1/authorize?x=1 HTTP/1.1\r\n\r\n",
            Route::Authorize,
            0,
        ),
    ];
    for (raw, route, body_len) in cases {
        let head = ready(raw);
        assert_eq!((head.route, head.body_len), (route, body_len), "{raw:?}");
        assert_eq!(head.head_len + head.body_len, raw.len(), "{raw:?}");
        assert!(!head.close);
    }
}

#[test]
fn hands_everything_else_to_hyper() {
    let cases = [
        // Other routes and methods: the router answers (405 for these).
        "GET /healthz HTTP/1.1\r\n\r\n",
        "GET /v1/authorize HTTP/1.1\r\n\r\n",
        "HEAD /includes/api.php HTTP/1.1\r\n\r\n",
        "PUT /includes/api.php HTTP/1.1\r\n\r\n",
        "POST /includes/api.phpx HTTP/1.1\r\n\r\n",
        "POST http://example.com/includes/api.php HTTP/1.1\r\n\r\n",
        // Framing the loop leaves to hyper.
        "POST /v1/authorize HTTP/1.0\r\n\r\n",
        "POST /v1/authorize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /v1/authorize HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        "POST /v1/authorize HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
        "POST /v1/authorize HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/authorize HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
        "POST /v1/authorize HTTP/1.1\r\nContent-Length: \r\n\r\n",
        // Over the body limit: the router answers 413.
        "POST /v1/authorize HTTP/1.1\r\nContent-Length: 1025\r\n\r\n",
        // Malformed: hyper answers 400.
        "POST /v1/authorize HTTP/1.1\r\nBad Header: x\r\n\r\n",
        "POST  /v1/authorize HTTP/1.1\r\n\r\n",
        "\0\0\0\0\r\n\r\n",
    ];
    for raw in cases {
        assert!(matches!(parsed(raw), Parsed::NotHot), "{raw:?}");
    }
}

/// The query `http::Uri` (hyper's parser) reads from `target`, or `None`
/// when it refuses it.
fn uri_query(target: &str) -> Option<Option<String>> {
    let uri: axum::http::Uri = target.parse().ok()?;
    Some(uri.query().map(str::to_owned))
}

fn own_query(target: &str) -> Option<Option<String>> {
    let query = query_of(target)?;
    Some(query.map(|range| target[range].to_owned()))
}

#[test]
fn reads_the_query_as_hyper_does() {
    let mut targets = vec![
        "/v1/authorize".to_owned(),
        "/v1/authorize?".to_owned(),
        "/includes/api.php?a=1&b=2".to_owned(),
        "/includes/api.php?a=1#frag<>\\".to_owned(),
        "/includes/api.php?#".to_owned(),
        "/includes/api.php??a?=/".to_owned(),
        "/includes/api.php?é=ü".to_owned(),
        format!("/includes/api.php?{}", "a".repeat(MAX_TARGET - 18)),
        format!("/includes/api.php?{}", "a".repeat(MAX_TARGET - 17)),
    ];
    // Every ASCII byte in a query, before and after a fragment mark.
    for b in 0u8..0x80 {
        let c = char::from(b);
        targets.push(format!("/includes/api.php?a={c}b"));
        targets.push(format!("/includes/api.php?a#{c}"));
    }
    for target in &targets {
        assert_eq!(own_query(target), uri_query(target), "{target:?}");
    }
}

#[test]
fn a_query_hyper_refuses_goes_to_hyper() {
    for raw in [
        "POST /v1/authorize?a=<b> HTTP/1.1\r\n\r\n",
        "GET /includes/api.php?a=\"b\" HTTP/1.1\r\n\r\n",
    ] {
        assert!(matches!(parsed(raw), Parsed::NotHot), "{raw:?}");
    }
    // Leading empty lines (httparse skips them) do not shift the query.
    let raw = "\r\nGET /includes/api.php?x=1 HTTP/1.1\r\n\r\n";
    assert_eq!(&raw[ready(raw).query.unwrap()], "x=1");
}

#[test]
fn waits_for_the_rest_of_a_head_up_to_its_limit() {
    assert!(matches!(parsed(""), Parsed::Partial));
    assert!(matches!(parsed("POST /v1/auth"), Parsed::Partial));
    assert!(matches!(
        parsed("POST /v1/authorize HTTP/1.1\r\nA: b\r\n"),
        Parsed::Partial
    ));
    let huge = format!("POST /v1/authorize HTTP/1.1\r\nA: {}", "b".repeat(MAX_HEAD));
    assert!(matches!(parsed(&huge), Parsed::NotHot));
    // A complete head whose body has not all arrived is ready: the loop
    // reads on until head_len + body_len.
    let head = ready("POST /v1/authorize HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}");
    assert_eq!(head.body_len, 10);
}

#[test]
fn connection_close_in_any_case_and_list() {
    for value in ["close", "Close", "keep-alive, close", " CLOSE "] {
        let raw = format!("POST /v1/authorize HTTP/1.1\r\nConnection: {value}\r\n\r\n");
        assert!(ready(&raw).close, "{value:?}");
    }
    for value in ["keep-alive", "closed", "x-close"] {
        let raw = format!("POST /v1/authorize HTTP/1.1\r\nConnection: {value}\r\n\r\n");
        assert!(!ready(&raw).close, "{value:?}");
    }
}

#[test]
fn keeps_what_the_gateway_reads() {
    let raw = "POST /includes/api.php?responsetype=json HTTP/1.1\r\nHost: h\r\n\
               Content-Type: a/b\r\ncontent-type: c/d\r\n\
               X-Forwarded-For: 1.2.3.4\r\nx-forwarded-for: 5.6.7.8\r\n\r\n";
    let head = ready(raw);
    assert!(head.is_post);
    assert_eq!(&raw[head.query.unwrap()], "responsetype=json");
    // The first, as `HeaderMap::get` reads it.
    assert_eq!(head.content_type.unwrap(), "a/b");
    assert_eq!(head.forwarded_for, ["1.2.3.4", "5.6.7.8"]);
    let get = ready("GET /includes/api.php HTTP/1.1\r\n\r\n");
    assert!(!get.is_post && get.content_type.is_none());
    let sidecar = ready(
        "POST /v1/authorize HTTP/1.1\r\nContent-Type: a/b\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
    );
    assert!(sidecar.content_type.is_none() && sidecar.forwarded_for.is_empty());
}

fn encoded(status: StatusCode, headers: &[(&str, &str)], len: usize, close: bool) -> String {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let mut out = Vec::new();
    encode_head(&mut out, status, header_pairs(&map), len, close);
    String::from_utf8(out).unwrap()
}

#[test]
fn writes_status_headers_length_and_date() {
    let head = encoded(
        StatusCode::OK,
        &[("content-type", "application/json")],
        17,
        false,
    );
    let lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(
        lines[..3],
        [
            "HTTP/1.1 200 OK",
            "content-type: application/json",
            "content-length: 17"
        ]
    );
    assert!(
        lines[3].starts_with("date: ") && lines[3].ends_with(" GMT"),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"));
}

#[test]
fn own_framing_replaces_the_handlers() {
    let head = encoded(
        StatusCode::FORBIDDEN,
        &[
            ("content-length", "99"),
            ("transfer-encoding", "chunked"),
            ("connection", "x"),
            ("date", "d"),
        ],
        5,
        true,
    );
    assert_eq!(
        head,
        "HTTP/1.1 403 Forbidden\r\ndate: d\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn no_length_where_no_body_is_allowed() {
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
        let head = encoded(status, &[("date", "d")], 0, false);
        assert_eq!(head, format!("HTTP/1.1 {status}\r\ndate: d\r\n\r\n"));
    }
    assert!(!has_body(StatusCode::CONTINUE));
    assert!(has_body(StatusCode::BAD_GATEWAY));
}

#[test]
fn an_unknown_status_has_an_empty_reason() {
    let head = encoded(
        StatusCode::from_u16(599).unwrap(),
        &[("date", "d")],
        0,
        false,
    );
    assert!(head.starts_with("HTTP/1.1 599 \r\n"), "{head}");
}

/// An encoded answer without its date line (a second may turn between two).
fn undated(out: Vec<u8>) -> String {
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.starts_with("date: "))
        .collect();
    lines.join("\r\n")
}

/// `response` (with `body`) as the loop writes a router's answer, undated.
fn as_routed(response: &axum::response::Response, body: &[u8], close: bool) -> String {
    let mut out = Vec::new();
    let headers = header_pairs(response.headers());
    encode_head(&mut out, response.status(), headers, body.len(), close);
    out.extend_from_slice(body);
    undated(out)
}

/// A sidecar reply as the loop writes it, and as the router's response
/// (its `IntoResponse`) would be written, each without its date line.
fn both_ways(reply: sidecar::Reply) -> (String, String) {
    let mut direct = Vec::new();
    encode_reply(&mut direct, &reply, true);
    let copy = sidecar::Reply {
        status: reply.status,
        json: reply.json.clone(),
        retry_after: reply.retry_after,
    };
    let response = axum::response::IntoResponse::into_response(copy);
    (undated(direct), as_routed(&response, &reply.json, true))
}

#[test]
fn a_sidecar_reply_is_written_as_its_response_would_be() {
    let replies = [
        (StatusCode::OK, &b"{\"allowed\":true}"[..], None),
        (
            StatusCode::TOO_MANY_REQUESTS,
            &b"{\"allowed\":false}"[..],
            Some(42),
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, &b""[..], None),
    ];
    for (status, json, retry_after) in replies {
        let reply = sidecar::Reply {
            status,
            json: json.to_vec(),
            retry_after,
        };
        let (direct, routed) = both_ways(reply);
        assert_eq!(direct, routed);
    }
    let (limited, _) = both_ways(sidecar::Reply {
        status: StatusCode::TOO_MANY_REQUESTS,
        json: b"{}".to_vec(),
        retry_after: Some(42),
    });
    assert_eq!(
        limited,
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
         retry-after: 42\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
    );
}

#[test]
fn an_upstream_answer_is_written_as_its_response_would_be() {
    let json = HeaderValue::from_static("application/json");
    for (status, content_type) in [
        (StatusCode::OK, Some(json)),
        (StatusCode::BAD_GATEWAY, None),
    ] {
        const BODY: &[u8] = b"{\"result\":\"success\"}";
        let forwarded = || Forwarded {
            status,
            content_type: content_type.clone(),
            body: Bytes::from_static(BODY),
        };
        let mut direct = Vec::new();
        encode_forwarded(&mut direct, &forwarded(), false);
        let response = forwarded().into_response();
        assert_eq!(undated(direct), as_routed(&response, BODY, false));
    }
}
