//! Reading header values, the same way for the answers the upstream client
//! reads and the requests the plain-HTTP listener reads.

/// A `Content-Length` value: decimal digits only (no sign), surrounding
/// whitespace aside.
pub(crate) fn content_length(value: &[u8]) -> Option<usize> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The comma-separated tokens of a header value, trimmed.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// Whether a comma-separated header value lists `token` (any case).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token))
}
