//! Which request bodies PHP reads into `$_POST`, and how it reads a
//! multipart part's name (`SAPI.c`, `rfc1867.c`). keygate reads exactly the
//! bodies PHP would: one PHP ignores carries no parameters for keygate
//! either, so nothing is decided on that WHMCS would not have seen.

/// How a request body is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data` with this boundary.
    Multipart(Vec<u8>),
    /// `multipart/form-data` without a usable boundary.
    MultipartWithoutBoundary,
    /// Not read: not a POST, no content type, or another type.
    Ignored,
}

/// What PHP makes of a request: only a POST's body is read, and only for
/// the two form types. The media type ends at the first `;`, `,` or space
/// and is compared in lowercase.
pub fn body_kind(is_post: bool, content_type: Option<&[u8]>) -> BodyKind {
    let Some(content_type) = content_type.filter(|_| is_post) else {
        return BodyKind::Ignored;
    };
    let end = content_type
        .iter()
        .position(|&b| matches!(b, b';' | b',' | b' '))
        .unwrap_or(content_type.len());
    let media = content_type[..end].to_ascii_lowercase();
    match media.as_slice() {
        b"application/x-www-form-urlencoded" => BodyKind::Form,
        b"multipart/form-data" => match boundary(content_type) {
            Some(boundary) => BodyKind::Multipart(boundary),
            None => BodyKind::MultipartWithoutBoundary,
        },
        _ => BodyKind::Ignored,
    }
}

/// The boundary as PHP finds it: after the first `boundary` (any case) and
/// its `=`, quoted up to the next `"`, else up to `,` or `;`.
fn boundary(content_type: &[u8]) -> Option<Vec<u8>> {
    let lower = content_type.to_ascii_lowercase();
    let at = find(&lower, b"boundary")?;
    let eq = content_type[at..].iter().position(|&b| b == b'=')? + at;
    let rest = &content_type[eq + 1..];
    let value = match rest.strip_prefix(b"\"") {
        Some(quoted) => &quoted[..quoted.iter().position(|&b| b == b'"')?],
        None => {
            let end = rest.iter().position(|&b| matches!(b, b',' | b';'));
            &rest[..end.unwrap_or(rest.len())]
        }
    };
    (!value.is_empty()).then(|| value.to_vec())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A multipart part's `Content-Disposition`, as PHP reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disposition {
    /// The `name` parameter: the variable's raw name.
    pub name: Option<Vec<u8>>,
    /// The `filename` parameter: present (even empty) makes the part a
    /// file upload, which PHP puts in `$_FILES`.
    pub filename: Option<Vec<u8>>,
}

/// Parses a `Content-Disposition` header value the way PHP does: `;`
/// separates parameters (quotes may hide one), a key is compared without
/// case but not trimmed, and a value is read by `php_ap_getword_conf`
/// (quoted up to its quote with `\\` escapes, else up to whitespace); the
/// last `name` and `filename` win. A NUL byte ends the header.
pub fn content_disposition(header: &[u8]) -> Disposition {
    let header = match header.iter().position(|&b| b == 0) {
        Some(nul) => &header[..nul],
        None => header,
    };
    let mut disposition = Disposition::default();
    let mut rest = skip_space(header);
    while !rest.is_empty() {
        let (pair, after) = getword(rest, b';');
        rest = skip_space(after);
        if !pair.contains(&b'=') {
            continue;
        }
        let (key, value) = getword(pair, b'=');
        if key.eq_ignore_ascii_case(b"name") {
            disposition.name = Some(getword_conf(value));
        } else if key.eq_ignore_ascii_case(b"filename") {
            disposition.filename = Some(getword_conf(value));
        }
    }
    disposition
}

fn skip_space(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_c_space(b))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// `php_ap_getword`: up to `stop` outside quotes; the rest starts after
/// every `stop` that follows.
fn getword(line: &[u8], stop: u8) -> (&[u8], &[u8]) {
    let mut pos = 0;
    while pos < line.len() && line[pos] != stop {
        let quote = line[pos];
        pos += 1;
        if quote == b'"' || quote == b'\'' {
            while pos < line.len() && line[pos] != quote {
                let escaped = line[pos] == b'\\' && line.get(pos + 1) == Some(&quote);
                pos += if escaped { 2 } else { 1 };
            }
            pos = (pos + 1).min(line.len());
        }
    }
    let word = &line[..pos];
    while pos < line.len() && line[pos] == stop {
        pos += 1;
    }
    (word, &line[pos..])
}

/// `php_ap_getword_conf` with `substring_conf`.
fn getword_conf(value: &[u8]) -> Vec<u8> {
    let value = skip_space(value);
    let (body, quote) = match value.first() {
        Some(&q @ (b'"' | b'\'')) => (&value[1..], Some(q)),
        _ => {
            let end = value
                .iter()
                .position(|&b| is_c_space(b))
                .unwrap_or(value.len());
            (&value[..end], None)
        }
    };
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() && Some(body[i]) != quote {
        let next = body.get(i + 1).copied();
        if body[i] == b'\\' && (next == Some(b'\\') || (quote.is_some() && next == quote)) {
            i += 1;
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_kinds() {
        let multipart = |b: &str| BodyKind::Multipart(b.as_bytes().to_vec());
        let cases: &[(bool, Option<&str>, BodyKind)] = &[
            (
                true,
                Some("application/x-www-form-urlencoded"),
                BodyKind::Form,
            ),
            (
                true,
                Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
                BodyKind::Form,
            ),
            (
                true,
                Some("application/x-www-form-urlencoded, text/plain"),
                BodyKind::Form,
            ),
            (
                true,
                Some("application/x-www-form-urlencoded text/plain"),
                BodyKind::Form,
            ),
            (
                true,
                Some(" application/x-www-form-urlencoded"),
                BodyKind::Ignored,
            ),
            (true, Some("text/plain"), BodyKind::Ignored),
            (true, Some("application/json"), BodyKind::Ignored),
            (true, None, BodyKind::Ignored),
            (
                false,
                Some("application/x-www-form-urlencoded"),
                BodyKind::Ignored,
            ),
            (
                true,
                Some("multipart/form-data; boundary=XX"),
                multipart("XX"),
            ),
            (
                true,
                Some("multipart/form-data; BOUNDARY=\"a b;c\""),
                multipart("a b;c"),
            ),
            (
                true,
                Some("multipart/form-data; boundary=XX; charset=x"),
                multipart("XX"),
            ),
            (
                true,
                Some("multipart/form-data"),
                BodyKind::MultipartWithoutBoundary,
            ),
            (
                true,
                Some("multipart/form-data; boundary=\"XX"),
                BodyKind::MultipartWithoutBoundary,
            ),
        ];
        for (post, content_type, expected) in cases {
            assert_eq!(
                body_kind(*post, content_type.map(str::as_bytes)),
                *expected,
                "{post} {content_type:?}"
            );
        }
    }

    #[test]
    fn dispositions_as_php_reads_them() {
        let show = |header: &[u8]| {
            let d = content_disposition(header);
            let text = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v).into_owned());
            (text(d.name), text(d.filename))
        };
        let some = |s: &str| Some(s.to_string());
        type Shown = (Option<String>, Option<String>);
        let cases: &[(&[u8], Shown)] = &[
            (b"form-data; name=\"action\"", (some("action"), None)),
            (b"form-data; name=action", (some("action"), None)),
            (b"form-data; NAME=\" action\"", (some(" action"), None)),
            (b"form-data; name='a;b'", (some("a;b"), None)),
            (b"form-data; name=\"a\\\"b\"", (some("a\"b"), None)),
            (b"form-data; name=\"a\\\\b\"", (some("a\\b"), None)),
            (b"form-data; name=\"a\\xb\"", (some("a\\xb"), None)),
            (b"form-data; name=a b", (some("a"), None)),
            (b"form-data; name=\"x\"; name=\"y\"", (some("y"), None)),
            (b"form-data; name =\"x\"", (None, None)),
            (
                b"form-data; name=\"\xff[\xfe]\"",
                (some("\u{fffd}[\u{fffd}]"), None),
            ),
            (
                b"form-data; name=\"f\"; filename=\"\"",
                (some("f"), some("")),
            ),
            (
                b"form-data; name=\"f\"; filename=a.txt",
                (some("f"), some("a.txt")),
            ),
            (b"form-data", (None, None)),
            (b"form-data; name=\"a\0b\"", (some("a"), None)),
        ];
        for (header, expected) in cases {
            assert_eq!(
                show(header),
                *expected,
                "{}",
                String::from_utf8_lossy(header)
            );
        }
    }
}
