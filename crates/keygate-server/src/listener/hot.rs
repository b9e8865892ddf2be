//! The hot routes' own HTTP/1.1 loop: keep-alive and pipelined requests
//! with a `Content-Length` (or no) body, each answered by its handler and
//! written back in one write, as nginx does. A request it does not take on
//! is never answered here: the connection goes to hyper before a byte of
//! that request is consumed.

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::ops::Range;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, EXPECT, TRANSFER_ENCODING, UPGRADE,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::calls::CallLog;
use crate::client_ip::client_ip_of;
use crate::header_value::{content_length, has_token};
use crate::metrics::Endpoint;
use crate::upstream::Forwarded;
use crate::whmcs::{self, GatewayAnswer, GatewayCall};
use crate::{sidecar, AppState};

/// Headers per request the loop parses; more go to hyper.
const MAX_HEADERS: usize = 64;
/// A request head larger than this goes to hyper, which has its own limit.
const MAX_HEAD: usize = 64 * 1024;
/// The read buffer's growth step.
const READ_CHUNK: usize = 8 * 1024;

/// How the loop left a connection.
pub(super) enum Ended {
    /// Closed (by the client, on an error, on `Connection: close` or at
    /// shutdown).
    Closed,
    /// For hyper, with the bytes read and not yet answered.
    HandOver(TcpStream, Bytes),
}

/// The routes the loop answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Gateway,
    Authorize,
}

/// A complete request head the loop takes on.
#[derive(Debug)]
struct Head {
    route: Route,
    is_post: bool,
    /// Where the target's query is in the request (without its `?` or any
    /// fragment).
    query: Option<Range<usize>>,
    /// What the gateway reads of the headers (none for the sidecar).
    content_type: Option<HeaderValue>,
    forwarded_for: Vec<HeaderValue>,
    head_len: usize,
    body_len: usize,
    close: bool,
}

/// What the bytes read so far hold.
#[derive(Debug)]
enum Parsed {
    Ready(Head),
    Partial,
    NotHot,
}

/// Answers hot requests until the connection closes or a request for
/// hyper arrives.
pub(super) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    state: &AppState,
    stopping: &mut watch::Receiver<()>,
) -> Ended {
    let mut read = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Vec::with_capacity(1024);
    // Bound at start (a reload keeps it): read once, not per request.
    let max_body = state.config().max_body_bytes;
    // One wait for the whole connection: registered once, not per request.
    let stop = stopping.changed();
    let mut stop = std::pin::pin!(stop);
    loop {
        let head = match parse(&read, max_body) {
            Parsed::Ready(head) if read.len() >= head.head_len + head.body_len => head,
            Parsed::Ready(head) => {
                read.reserve(head.head_len + head.body_len - read.len());
                if !read_more(&mut stream, &mut read, stop.as_mut()).await {
                    return Ended::Closed;
                }
                continue;
            }
            Parsed::Partial => {
                read.reserve(READ_CHUNK);
                if !read_more(&mut stream, &mut read, stop.as_mut()).await {
                    return Ended::Closed;
                }
                continue;
            }
            Parsed::NotHot => return Ended::HandOver(stream, read.freeze()),
        };
        let request = read.split_to(head.head_len + head.body_len).freeze();
        let close = head.close;
        let answer = answer(state, peer, head, request).await;
        let written = write_answer(&mut stream, &mut out, answer, close).await;
        if written.is_err() || close {
            let _ = stream.shutdown().await;
            return Ended::Closed;
        }
    }
}

/// Reads more of the connection; `false` once it is closed or failed, or
/// when the server stops while no request is under way (checked first, so
/// a client that keeps sending cannot hold a stopping server open).
async fn read_more(
    stream: &mut TcpStream,
    read: &mut BytesMut,
    stop: Pin<&mut impl Future>,
) -> bool {
    let result = if read.is_empty() {
        tokio::select! {
            biased;
            _ = stop => return false,
            result = stream.read_buf(read) => result,
        }
    } else {
        stream.read_buf(read).await
    };
    matches!(result, Ok(n) if n > 0)
}

/// A hot route's answer.
enum Answer {
    /// The sidecar's: status, JSON and `Retry-After`, written as they are.
    Sidecar(sidecar::Reply),
    /// The gateway's: the upstream's answer as it came, or keygate's own.
    Gateway(GatewayAnswer),
}

/// Calls the route's handler.
async fn answer(state: &AppState, peer: SocketAddr, head: Head, request: Bytes) -> Answer {
    let body = request.slice(head.head_len..);
    // The target was a `str`, and a query is cut at ASCII bytes.
    let query = head
        .query
        .and_then(|range| std::str::from_utf8(&request[range]).ok());
    match head.route {
        Route::Authorize => Answer::Sidecar(sidecar::reply(state, &body).await),
        Route::Gateway => {
            let log = CallLog::start(Endpoint::Gateway);
            let forwarded = head.forwarded_for.iter().map(HeaderValue::as_bytes);
            // The settings guard ends with this statement, before any await.
            let ip = client_ip_of(peer, forwarded, &state.config().trusted_proxies);
            let call = GatewayCall {
                is_post: head.is_post,
                query,
                content_type: head.content_type.as_ref().map(HeaderValue::as_bytes),
                ip,
            };
            Answer::Gateway(whmcs::answer(state, log, call, body).await)
        }
    }
}

/// Reads the request head at the start of `read`: `NotHot` for anything
/// but a well-formed HTTP/1.1 request to a hot route with at most one
/// `Content-Length` (up to `max_body`) and no transfer coding, `Expect`
/// or upgrade.
fn parse(read: &[u8], max_body: usize) -> Parsed {
    // Where the head starts in memory, to place the target's query in it.
    let start = read.as_ptr() as usize;
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut slots);
    let head_len = match request.parse(read) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if read.len() < MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::NotHot,
    };
    match take_on(&request, start, head_len, max_body) {
        Some(head) => Parsed::Ready(head),
        None => Parsed::NotHot,
    }
}

/// `start`: the address of the buffer `request` was parsed from.
fn take_on(
    request: &httparse::Request<'_, '_>,
    start: usize,
    head_len: usize,
    max_body: usize,
) -> Option<Head> {
    if request.version != Some(1) {
        return None;
    }
    let method = match request.method? {
        "GET" => Method::GET,
        "POST" => Method::POST,
        _ => return None,
    };
    let target = request.path?;
    let route = route_of(&method, target)?;
    let query = query_of(target)?.map(|query| {
        // The target is a slice of the buffer: its offset in it.
        let offset = target.as_ptr() as usize - start;
        offset + query.start..offset + query.end
    });
    // httparse has checked every name and value; only the gateway reads
    // headers (its content type, the forwarded-for chain), copied here.
    let keep = route == Route::Gateway;
    let mut content_type = None;
    let mut forwarded_for = Vec::new();
    let mut body_len = None;
    let mut close = false;
    for header in request.headers.iter() {
        let name = header.name;
        let is = |known: &HeaderName| name.eq_ignore_ascii_case(known.as_str());
        if is(&TRANSFER_ENCODING) || is(&EXPECT) || is(&UPGRADE) {
            return None;
        }
        if is(&CONTENT_LENGTH) {
            if body_len.is_some() {
                return None;
            }
            body_len = Some(content_length(header.value)?);
        } else if is(&CONNECTION) {
            close |= has_token(header.value, b"close");
        } else if keep && is(&CONTENT_TYPE) && content_type.is_none() {
            content_type = Some(HeaderValue::from_bytes(header.value).ok()?);
        } else if keep && name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for.push(HeaderValue::from_bytes(header.value).ok()?);
        }
    }
    let body_len = body_len.unwrap_or(0);
    (body_len <= max_body).then_some(Head {
        route,
        is_post: method == Method::POST,
        query,
        content_type,
        forwarded_for,
        head_len,
        body_len,
        close,
    })
}

/// The hot route a request target names (the path before any query), as
/// the router would match it.
fn route_of(method: &Method, target: &str) -> Option<Route> {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match (path, method) {
        ("/includes/api.php", _) => Some(Route::Gateway),
        ("/v1/authorize", &Method::POST) => Some(Route::Authorize),
        _ => None,
    }
}

/// The longest target `http::Uri` takes.
const MAX_TARGET: usize = u16::MAX as usize - 1;

/// Where a hot route's target has its query (without the `?`, up to any
/// `#`); `None` when hyper's parser (`http::Uri`) would refuse the target,
/// which then goes to hyper for its 400. The path is a hot route's own, so
/// only the length and the query's bytes are checked, as `Uri` checks them
/// (what follows a `#` is not), without copying the target as a `Uri` does.
fn query_of(target: &str) -> Option<Option<Range<usize>>> {
    if target.len() > MAX_TARGET {
        return None;
    }
    let Some(mark) = target.find('?') else {
        return Some(None);
    };
    let start = mark + 1;
    let rest = &target.as_bytes()[start..];
    let end = rest.iter().position(|&b| b == b'#').unwrap_or(rest.len());
    rest[..end]
        .iter()
        .all(|&b| query_byte(b))
        .then_some(Some(start..start + end))
}

/// A byte `http::Uri` takes in a query as it is (bytes above ASCII are
/// checked as UTF-8 there; a `str` already is).
fn query_byte(b: u8) -> bool {
    matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E | 0x80..=0xFF)
}

/// Writes `answer` as one buffer: status line, its headers, the length
/// and date hyper would add, and the body.
async fn write_answer(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    answer: Answer,
    close: bool,
) -> std::io::Result<()> {
    out.clear();
    match answer {
        Answer::Sidecar(reply) => encode_reply(out, &reply, close),
        Answer::Gateway(GatewayAnswer::Forwarded(forwarded)) => {
            encode_forwarded(out, &forwarded, close);
        }
        Answer::Gateway(GatewayAnswer::Own(response)) => {
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(std::io::Error::other)?;
            encode_head(
                out,
                parts.status,
                header_pairs(&parts.headers),
                body.len(),
                close,
            );
            if has_body(parts.status) {
                out.extend_from_slice(&body);
            }
        }
    }
    stream.write_all(out).await
}

/// A sidecar answer with the headers its `IntoResponse` gives, in the same
/// order, without building a `HeaderMap`.
fn encode_reply(out: &mut Vec<u8>, reply: &sidecar::Reply, close: bool) {
    let content_type = reply
        .content_type()
        .map(|value| (CONTENT_TYPE.as_str().as_bytes(), value.as_bytes()));
    // Formatted only for a 429, the rare answer that has it.
    let seconds = reply.retry_after.map(|retry| retry.to_string());
    let retry_after = seconds
        .as_ref()
        .map(|seconds| (&b"retry-after"[..], seconds.as_bytes()));
    let headers = content_type.into_iter().chain(retry_after);
    encode_head(out, reply.status, headers, reply.json.len(), close);
    if has_body(reply.status) {
        out.extend_from_slice(&reply.json);
    }
}

/// The upstream's answer with the one header its `into_response` keeps.
fn encode_forwarded(out: &mut Vec<u8>, forwarded: &Forwarded, close: bool) {
    let content_type = forwarded
        .content_type
        .as_ref()
        .map(|value| (CONTENT_TYPE.as_str().as_bytes(), value.as_bytes()));
    let body = &forwarded.body;
    encode_head(out, forwarded.status, content_type, body.len(), close);
    if has_body(forwarded.status) {
        out.extend_from_slice(body);
    }
}

/// A header map's names and values as bytes.
fn header_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
}

/// The status line and `headers` (lowercase names), with the framing
/// headers replaced by the loop's own.
fn encode_head<'h>(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    len: usize,
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    for (name, value) in headers {
        let is = |known: &HeaderName| name == known.as_str().as_bytes();
        if is(&CONTENT_LENGTH) || is(&TRANSFER_ENCODING) || is(&CONNECTION) {
            continue;
        }
        has_date |= is(&DATE);
        push_header(out, name, value);
    }
    // In hyper's order, so an answer reads the same from either.
    if has_body(status) {
        // Written in place: no allocation for the number.
        let _ = write!(out, "content-length: {len}\r\n");
    }
    if close {
        push_header(out, b"connection", b"close");
    }
    if !has_date {
        HTTP_DATE.with(|date| push_header(out, b"date", date.borrow_mut().now().as_bytes()));
    }
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// 1xx, 204 and 304 answers carry neither a body nor its length.
fn has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

thread_local! {
    static HTTP_DATE: RefCell<CachedDate> = RefCell::new(CachedDate::default());
}

/// The `Date` header's value, formatted once a second per thread.
#[derive(Default)]
struct CachedDate {
    second: u64,
    text: String,
}

impl CachedDate {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}

#[cfg(test)]
#[path = "hot_tests.rs"]
mod tests;
