//! `application/x-www-form-urlencoded` the way PHP reads and keygate
//! writes it: bytes in, bytes out, never a lossy UTF-8 conversion.

use std::borrow::Cow;

use super::RawPair;

/// Splits a query string or form body into raw `(name, value)` pairs, as
/// PHP's form reader does: `&` separates, the first `=` ends the name, and
/// both sides are percent-decoded with `+` as a space. Names are not
/// canonicalized here: see [`super::name`].
///
/// An empty segment (`a=1&&b=2`) is kept as a pair with an empty name: PHP
/// registers nothing for it but counts it against `max_input_vars`, so a
/// body padded with `&` cannot push a parameter past PHP's limit unseen.
/// Only the empty rest after a final `&` is not a segment.
pub fn parse(input: &[u8]) -> Vec<RawPair<'_>> {
    // The empty rest after a final `&` (or of an empty input) is not a
    // segment; every `&` before it ends one.
    if input.is_empty() {
        return Vec::new();
    }
    let input = input.strip_suffix(b"&").unwrap_or(input);
    // Counted first so the pairs take one allocation of the exact size.
    let count = input.iter().filter(|&&b| b == b'&').count() + 1;
    let mut pairs = Vec::with_capacity(count);
    pairs.extend(input.split(|&b| b == b'&').map(pair));
    pairs
}

/// One segment: the name up to the first `=`, the value after it.
fn pair(segment: &[u8]) -> RawPair<'_> {
    match segment.iter().position(|&b| b == b'=') {
        Some(eq) => (decode(&segment[..eq]), decode(&segment[eq + 1..])),
        None => (decode(segment), Cow::Borrowed(&[][..])),
    }
}

/// PHP's `php_url_decode`: `+` is a space, `%XX` with two hex digits is a
/// byte, anything else (a lone `%` included) stays as it is. Borrows when
/// there is nothing to decode, which is the common case.
pub fn decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'+' || b == b'%') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `bytes` percent-encoded: only `A-Z a-z 0-9 - . _ *` stay as
/// they are, a space becomes `+`, every other byte `%XX`. What PHP
/// decodes from this is exactly `bytes`.
pub fn encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"plain", b"plain"),
            (b"a+b", b"a b"),
            (b"%41%62", b"Ab"),
            (b"%4", b"%4"),
            (b"%", b"%"),
            (b"%zz", b"%zz"),
            (b"%%41", b"%A"),
            (b"%00x", b"\0x"),
            (b"%2B+", b"+ "),
            (b"%e9", b"\xe9"),
            (b"a%4", b"a%4"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &*decode(input),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn splitting_table() {
        let pairs = parse(b"a=1&&b&c=&=d&e=f=g&%20h=%26&");
        let got: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
        let expected: Vec<(&[u8], &[u8])> = vec![
            (b"a", b"1"),
            (b"", b""),
            (b"b", b""),
            (b"c", b""),
            (b"", b"d"),
            (b"e", b"f=g"),
            (b" h", b"&"),
        ];
        assert_eq!(got, expected);
        assert_eq!(parse(b"").len(), 0);
        assert_eq!(parse(b"&").len(), 1);
        assert_eq!(parse(b"&&").len(), 2);
    }

    /// The splitting before the pairs were counted first: split at every
    /// `&`, then drop an empty last segment.
    fn split_then_drop_last(input: &[u8]) -> Vec<RawPair<'_>> {
        let mut segments: Vec<&[u8]> = input.split(|&b| b == b'&').collect();
        if segments.last().is_some_and(|last| last.is_empty()) {
            segments.pop();
        }
        segments.into_iter().map(pair).collect()
    }

    #[test]
    fn splitting_matches_the_split_then_drop_reading() {
        let inputs: &[&[u8]] = &[
            b"",
            b"&",
            b"&&",
            b"&&&",
            b"a",
            b"a&",
            b"&a",
            b"a&&",
            b"a=1&b=2",
            b"a=1&b=2&",
            b"=",
            b"=&",
            b"&=",
            b"a=&=b&",
            b"%26=&+",
        ];
        for input in inputs {
            let got = parse(input);
            assert_eq!(got, split_then_drop_last(input), "{input:?}");
            assert_eq!(got.capacity(), got.len(), "{input:?}");
        }
    }

    #[test]
    fn encoding_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = String::new();
        encode_into(&mut out, &all);
        assert!(!out.contains(['&', '=', '[', ']', ' ']));
        assert_eq!(&*decode(out.as_bytes()), &all[..]);
    }
}
