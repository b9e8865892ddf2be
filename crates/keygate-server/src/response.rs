//! WHMCS-style error answers in the three response formats.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The `responsetype` a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `responsetype=json`
    Json,
    /// `responsetype=xml`
    Xml,
    /// Anything else: WHMCS's `name=value;` text.
    Nvp,
}

impl Format {
    /// The format a `responsetype` value selects (case-insensitive).
    pub fn from_param(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Format::Json,
            Some("xml") => Format::Xml,
            _ => Format::Nvp,
        }
    }

    /// [`Format::from_param`] for a raw parameter value.
    pub fn from_bytes(value: Option<&[u8]>) -> Self {
        Self::from_param(value.and_then(|v| std::str::from_utf8(v).ok()))
    }
}

/// `{"result":"error","message":M}` and its XML and NVP equivalents.
pub fn error(format: Format, status: StatusCode, message: &str) -> Response {
    let (content_type, body) = match format {
        Format::Json => (
            "application/json",
            serde_json::json!({ "result": "error", "message": message }).to_string(),
        ),
        Format::Xml => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<whmcsapi><result>error</result><message>{}</message></whmcsapi>",
                escape_xml(message)
            ),
        ),
        Format::Nvp => ("text/plain", format!("result=error;message={message};")),
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A 429 with `Retry-After: retry_secs` and `message` in `format`.
pub fn limited(format: Format, message: &str, retry_secs: u64) -> Response {
    let mut response = error(format, StatusCode::TOO_MANY_REQUESTS, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_secs));
    response
}

/// Escapes the five XML special characters.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_table() {
        let cases = [
            (Some("json"), Format::Json),
            (Some("JSON"), Format::Json),
            (Some("xml"), Format::Xml),
            (Some("nvp"), Format::Nvp),
            (Some(""), Format::Nvp),
            (None, Format::Nvp),
        ];
        for (value, expected) in cases {
            assert_eq!(Format::from_param(value), expected, "{value:?}");
        }
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(escape_xml(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
