//! The exchange against canned answers over an in-memory stream: every
//! framing, the reuse decision, and malformed answers as errors.

use super::*;

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

/// The request every `run` writes.
const REQUEST: &[u8] = b"POST / x\r\n\r\n";

/// Runs one exchange whose upstream answers `answer` (written in pieces of
/// `piece` bytes, then closed when `close`).
async fn run(answer: &[u8], piece: usize, close: bool) -> ((), Result<Answer, ExchangeError>) {
    let (mut client, mut server) = duplex(1 << 20);
    let answer = answer.to_vec();
    let upstream = tokio::spawn(async move {
        let mut request = vec![0u8; REQUEST.len()];
        server.read_exact(&mut request).await.unwrap();
        assert_eq!(request, REQUEST);
        for chunk in answer.chunks(piece.max(1)) {
            server.write_all(chunk).await.unwrap();
            tokio::task::yield_now().await;
        }
        if !close {
            // Held open: a reusable answer must not need the close.
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    });
    let mut buf = BytesMut::new();
    let result = exchange(&mut client, &mut buf, REQUEST).await;
    if result.as_ref().is_ok_and(|a| a.reusable) {
        assert!(buf.is_empty(), "nothing left over");
    }
    upstream.abort();
    ((), result)
}

fn ok(result: Result<Answer, ExchangeError>) -> Answer {
    result.unwrap_or_else(|e| panic!("exchange failed: {e}"))
}

#[tokio::test]
async fn content_length_answers_are_read_exactly_and_reusable() {
    for piece in [1, 7, 4096] {
        let (_, result) = run(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"result\":\"success\"}",
            piece,
            false,
        )
        .await;
        let answer = ok(result);
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type.unwrap(), "application/json");
        assert_eq!(&answer.body[..], b"{\"result\":\"success\"}");
        assert!(answer.reusable, "piece {piece}");
    }
}

#[tokio::test]
async fn chunked_answers_are_joined_with_extensions_and_trailers() {
    let wire = b"HTTP/1.1 418 I'm a teapot\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for piece in [1, 3, 4096] {
        let answer = ok(run(wire, piece, false).await.1);
        assert_eq!(answer.status.as_u16(), 418);
        assert_eq!(&answer.body[..], b"hello 0123456789");
        assert!(answer.reusable, "piece {piece}");
        assert!(answer.content_type.is_none());
    }
}

#[tokio::test]
async fn answers_without_length_are_read_to_the_close_and_not_reused() {
    let answer = ok(run(b"HTTP/1.1 200 OK\r\n\r\nresult=success;", 4, true)
        .await
        .1);
    assert_eq!(&answer.body[..], b"result=success;");
    assert!(!answer.reusable);
    // HTTP/1.0 closes unless it says keep-alive; `Connection: close` always.
    for wire in [
        &b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"[..],
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
    ] {
        let answer = ok(run(wire, 4096, true).await.1);
        assert_eq!(&answer.body[..], b"ok");
        assert!(!answer.reusable, "{}", String::from_utf8_lossy(wire));
    }
    let keep = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok";
    assert!(ok(run(keep, 4096, false).await.1).reusable);
}

#[tokio::test]
async fn informational_answers_are_skipped_and_bodiless_statuses_read_nothing() {
    let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(&ok(run(wire, 5, false).await.1).body[..], b"ok");
    let answer = ok(run(
        b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
        64,
        false,
    )
    .await
    .1);
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
}

#[tokio::test]
async fn bytes_after_the_answer_forbid_reuse() {
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    let (_, result) = run(wire, 4096, false).await;
    // `run` asserts an empty buffer only for reusable answers.
    assert!(!ok(result).reusable);
}

#[tokio::test]
async fn framing_conflicts_are_not_reused() {
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let answer = ok(run(wire, 4096, false).await.1);
    assert_eq!(&answer.body[..], b"ok", "chunked wins over Content-Length");
    assert!(!answer.reusable);
}

#[tokio::test]
async fn malformed_or_cut_answers_are_errors() {
    let cases: [(&[u8], &str); 9] = [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x answer"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "invalid Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "conflicting Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "invalid chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n",
            "chunk not followed by CRLF",
        ),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "closed",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "closed"),
        (b"", "closed"),
    ];
    for (wire, expected) in cases {
        let (_, result) = run(wire, 4096, true).await;
        let error = result
            .expect_err(&String::from_utf8_lossy(wire))
            .to_string();
        assert!(
            error.contains(expected),
            "{error:?} for {:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[tokio::test]
async fn oversized_heads_and_bodies_are_refused() {
    let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
    while wire.len() <= MAX_HEAD_BYTES + 100 {
        wire.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let error = run(&wire, 4096, true).await.1.unwrap_err().to_string();
    assert!(
        error.contains("too many headers") || error.contains("too large"),
        "{error}"
    );
    let huge = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY_BYTES + 1
    );
    let error = run(huge.as_bytes(), 4096, true)
        .await
        .1
        .unwrap_err()
        .to_string();
    assert!(error.contains("too large"), "{error}");
}

#[tokio::test]
async fn the_request_is_written_whole() {
    let (mut client, mut server) = duplex(1 << 16);
    let upstream = tokio::spawn(async move {
        let mut got = vec![0u8; 11];
        server.read_exact(&mut got).await.unwrap();
        server
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        got
    });
    let mut buf = BytesMut::new();
    let answer = exchange(&mut client, &mut buf, b"hello world")
        .await
        .unwrap();
    assert!(answer.body.is_empty());
    assert_eq!(upstream.await.unwrap(), b"hello world");
}
