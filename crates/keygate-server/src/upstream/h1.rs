//! One HTTP/1.1 exchange with the upstream on a pooled connection: the
//! request written in one write, the answer's head read with httparse and
//! its body by `Content-Length`, chunks, or until the connection closes.
//!
//! The gateway's cost per call is mostly this and the server side, so the
//! exchange runs inside the call's own task: no connection task, no
//! channel to it and no wake-ups between them (what a general-purpose
//! client such as hyper's pays, and what showed in the profile). Pingora
//! keeps its proxy cost low the same way.

use axum::body::Bytes;
use axum::http::header::HeaderValue;
use axum::http::StatusCode;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::header_value::{content_length, has_token, tokens};

/// The most headers an answer may carry.
const MAX_HEADERS: usize = 100;

/// The largest answer head (status line and headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The largest answer body read: far above any WHMCS answer, but bounded,
/// so a runaway upstream cannot exhaust keygate's memory.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// The longest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Writing the request or reading the answer failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The connection closed before the whole answer arrived.
    #[error("the connection closed before the answer was complete")]
    Closed,
    /// The answer is not HTTP/1.x keygate can read.
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
}

/// The upstream's answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its `Content-Type`, if any.
    pub content_type: Option<HeaderValue>,
    /// Its body.
    pub body: Bytes,
    /// Whether the connection may carry another request.
    pub reusable: bool,
}

/// How the body's end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Exactly this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the upstream closes the connection.
    UntilClose,
}

/// An answer's head, as far as the gateway needs it.
#[derive(Debug)]
struct Head {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    framing: Framing,
    keep_alive: bool,
    /// Bytes of the head, to drop from the buffer.
    len: usize,
}

/// Writes `request` (head and body, in one write), then reads the answer;
/// `buf` is the connection's read buffer (empty between exchanges).
pub async fn exchange<S>(
    stream: &mut S,
    buf: &mut BytesMut,
    request: &[u8],
) -> Result<Answer, ExchangeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(request).await?;
    stream.flush().await?;
    let head = loop {
        let head = read_head(stream, buf).await?;
        // 1xx answers (100 Continue, 103 Early Hints) precede the real one.
        if head.status.is_informational() {
            if head.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(ExchangeError::Malformed("101 Switching Protocols"));
            }
            buf.advance(head.len);
            continue;
        }
        break head;
    };
    buf.advance(head.len);
    let framing = match head.status {
        // These never carry a body, whatever the headers say.
        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED => Framing::Length(0),
        _ => head.framing,
    };
    let body = match framing {
        Framing::Length(len) => read_exact(stream, buf, len).await?,
        Framing::Chunked => read_chunked(stream, buf).await?,
        Framing::UntilClose => read_to_close(stream, buf).await?,
    };
    // Left-over bytes would be read as the next answer: never reuse then.
    let reusable = head.keep_alive && framing != Framing::UntilClose && buf.is_empty();
    Ok(Answer {
        status: head.status,
        content_type: head.content_type,
        body,
        reusable,
    })
}

/// Reads until `buf` holds a whole head, and parses it.
async fn read_head<S>(stream: &mut S, buf: &mut BytesMut) -> Result<Head, ExchangeError>
where
    S: AsyncRead + Unpin,
{
    loop {
        if !buf.is_empty() {
            if let Some(head) = parse_head(buf)? {
                return Ok(head);
            }
            if buf.len() > MAX_HEAD_BYTES {
                return Err(ExchangeError::Malformed("answer head too large"));
            }
        }
        fill(stream, buf).await?;
    }
}

/// Reads more bytes into `buf`; the connection closing is an error (every
/// caller still expects bytes).
async fn fill<S>(stream: &mut S, buf: &mut BytesMut) -> Result<(), ExchangeError>
where
    S: AsyncRead + Unpin,
{
    buf.reserve(8 * 1024);
    match stream.read_buf(buf).await? {
        0 => Err(ExchangeError::Closed),
        _ => Ok(()),
    }
}

/// The head at the start of `buf`, or `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ExchangeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ExchangeError::Malformed("too many headers"))
        }
        Err(_) => return Err(ExchangeError::Malformed("not an HTTP/1.x answer")),
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ExchangeError::Malformed("invalid status"))?;
    let http_11 = response.version == Some(1);
    let mut content_type = None;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut other_coding = false;
    let mut close = false;
    let mut keep_alive = false;
    for header in response.headers.iter() {
        let value = header.value;
        if header.name.eq_ignore_ascii_case("content-type") {
            content_type = HeaderValue::from_bytes(value).ok();
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = parse_length(value)?;
            if length.is_some_and(|seen| seen != parsed) {
                return Err(ExchangeError::Malformed("conflicting Content-Length"));
            }
            length = Some(parsed);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only a last coding of `chunked` frames the body by chunks.
            chunked = last_token(value).is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
            other_coding |= !chunked;
        } else if header.name.eq_ignore_ascii_case("connection") {
            close |= has_token(value, b"close");
            keep_alive |= has_token(value, b"keep-alive");
        }
    }
    let framing = match (chunked && !other_coding, other_coding, length) {
        (true, _, _) => Framing::Chunked,
        (false, true, _) => Framing::UntilClose,
        (false, false, Some(len)) => Framing::Length(len),
        (false, false, None) => Framing::UntilClose,
    };
    if let Framing::Length(len) = framing {
        if len > MAX_BODY_BYTES {
            return Err(ExchangeError::Malformed("answer body too large"));
        }
    }
    Ok(Some(Head {
        status,
        content_type,
        framing,
        // Both framings at once are a smuggling hazard: no reuse.
        keep_alive: !close && (http_11 || keep_alive) && !(chunked && length.is_some()),
        len,
    }))
}

/// A `Content-Length` value: decimal digits only.
fn parse_length(value: &[u8]) -> Result<usize, ExchangeError> {
    content_length(value).ok_or(ExchangeError::Malformed("invalid Content-Length"))
}

fn last_token(value: &[u8]) -> Option<&[u8]> {
    tokens(value).filter(|t| !t.is_empty()).last()
}

/// Exactly `len` bytes of body.
async fn read_exact<S>(
    stream: &mut S,
    buf: &mut BytesMut,
    len: usize,
) -> Result<Bytes, ExchangeError>
where
    S: AsyncRead + Unpin,
{
    if buf.len() < len {
        buf.reserve(len - buf.len());
    }
    while buf.len() < len {
        fill(stream, buf).await?;
    }
    Ok(buf.split_to(len).freeze())
}

/// A chunked body, chunks joined; trailers are read and dropped.
async fn read_chunked<S>(stream: &mut S, buf: &mut BytesMut) -> Result<Bytes, ExchangeError>
where
    S: AsyncRead + Unpin,
{
    let mut body = BytesMut::new();
    loop {
        let line = read_line(stream, buf).await?;
        let size = chunk_size(&line)?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(ExchangeError::Malformed("answer body too large"));
        }
        let chunk = read_exact(stream, buf, size).await?;
        body.extend_from_slice(&chunk);
        if !read_line(stream, buf).await?.is_empty() {
            return Err(ExchangeError::Malformed("chunk not followed by CRLF"));
        }
    }
    // Trailer fields, if any, up to the empty line.
    while !read_line(stream, buf).await?.is_empty() {}
    Ok(body.freeze())
}

/// One CRLF-terminated line (without the CRLF) of a chunked body.
async fn read_line<S>(stream: &mut S, buf: &mut BytesMut) -> Result<Bytes, ExchangeError>
where
    S: AsyncRead + Unpin,
{
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(end).freeze();
            buf.advance(2);
            return Ok(line);
        }
        if buf.len() > MAX_CHUNK_LINE {
            return Err(ExchangeError::Malformed("chunk line too long"));
        }
        fill(stream, buf).await?;
    }
}

/// The size on a chunk-size line (hex digits, then optional extensions).
fn chunk_size(line: &[u8]) -> Result<usize, ExchangeError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(ExchangeError::Malformed("invalid chunk size"));
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| usize::from_str_radix(d, 16).ok())
        .ok_or(ExchangeError::Malformed("invalid chunk size"))
}

/// Everything until the upstream closes the connection.
async fn read_to_close<S>(stream: &mut S, buf: &mut BytesMut) -> Result<Bytes, ExchangeError>
where
    S: AsyncRead + Unpin,
{
    loop {
        if buf.len() > MAX_BODY_BYTES {
            return Err(ExchangeError::Malformed("answer body too large"));
        }
        buf.reserve(8 * 1024);
        if stream.read_buf(buf).await? == 0 {
            return Ok(buf.split().freeze());
        }
    }
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
