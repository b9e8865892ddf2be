//! Reading a gateway request's raw parameters: the query string and the
//! body (`application/x-www-form-urlencoded` or `multipart/form-data`).
//! Names stay raw here; `keygate_core::params` makes them canonical.

use std::borrow::Cow;

use axum::body::Body;
use bytes::Bytes;
use keygate_core::params::{urlencoded, RawPair};

/// Why the body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// The body is larger than the configured limit.
    #[error("Request body too large (limit {0} bytes)")]
    TooLarge(usize),
    /// The body could not be read or parsed.
    #[error("Invalid request body: {0}")]
    Malformed(String),
}

/// Raw pairs of a query string (`None`: no query).
pub fn query_pairs(query: Option<&str>) -> Vec<RawPair<'_>> {
    urlencoded::parse(query.unwrap_or("").as_bytes())
}

/// Reads at most `limit` bytes of body.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ParamsError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            ParamsError::TooLarge(limit)
        } else {
            ParamsError::Malformed(e.to_string())
        }
    })
}

/// Raw body pairs, by content type (none given: a form); other content
/// types carry none.
pub async fn body_pairs<'b>(
    content_type: Option<&str>,
    body: &'b Bytes,
) -> Result<Vec<RawPair<'b>>, ParamsError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mime = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" | "" => Ok(urlencoded::parse(body)),
        "multipart/form-data" => multipart_pairs(content_type.unwrap_or(""), body.clone()).await,
        _ => Ok(Vec::new()),
    }
}

/// Multipart fields, byte for byte. A file part is refused: PHP would put
/// it in `$_FILES`, and keygate forwards a form.
async fn multipart_pairs(
    content_type: &str,
    body: Bytes,
) -> Result<Vec<RawPair<'static>>, ParamsError> {
    let malformed = |e: multer::Error| ParamsError::Malformed(format!("multipart: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut pairs = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if field.file_name().is_some() {
            return Err(ParamsError::Malformed(
                "file uploads are not supported".into(),
            ));
        }
        let Some(name) = field.name().map(|n| n.as_bytes().to_vec()) else {
            continue;
        };
        let value = field.bytes().await.map_err(malformed)?;
        pairs.push((Cow::Owned(name), Cow::Owned(value.to_vec())));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(pairs: &[RawPair<'_>]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn multipart_fields_are_read_raw() {
        let body = Bytes::from("--XX\r\nContent-Disposition: form-data; name=\" action\"\r\n\r\nGetClients\r\n--XX\r\nContent-Disposition: form-data; name=\"pid[0]\"\r\n\r\n7\r\n--XX--\r\n");
        let pairs = body_pairs(Some("multipart/form-data; boundary=XX"), &body)
            .await
            .unwrap();
        assert_eq!(
            show(&pairs),
            [
                (" action".into(), "GetClients".into()),
                ("pid[0]".into(), "7".into())
            ]
        );
        assert!(body_pairs(Some("multipart/form-data"), &body)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn multipart_files_are_refused() {
        let body = Bytes::from("--XX\r\nContent-Disposition: form-data; name=\"action\"; filename=\"a.txt\"\r\n\r\nGetClients\r\n--XX--\r\n");
        let error = body_pairs(Some("multipart/form-data; boundary=XX"), &body)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Invalid request body: file uploads are not supported"
        );
    }

    #[tokio::test]
    async fn forms_and_other_content_types() {
        let form = Bytes::from("a=1&b=%20");
        let pairs = body_pairs(None, &form).await.unwrap();
        assert_eq!(
            show(&pairs),
            [("a".into(), "1".into()), ("b".into(), " ".into())]
        );
        let json = Bytes::from("{\"action\":1}");
        assert!(body_pairs(Some("application/json"), &json)
            .await
            .unwrap()
            .is_empty());
    }
}
