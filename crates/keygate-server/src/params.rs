//! Reading a gateway request's raw parameters: the query string and a
//! POST's body (`application/x-www-form-urlencoded` or
//! `multipart/form-data`), exactly the bodies PHP reads. Names stay raw
//! here; `keygate_core::params` makes them canonical.

use std::borrow::Cow;

use axum::body::Body;
use axum::http;
use bytes::Bytes;
use keygate_core::params::body::{body_kind, content_disposition, BodyKind};
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

/// Raw body pairs of the bodies PHP reads (see [`body_kind`]): a POST's
/// form or multipart body; any other body carries none.
pub async fn body_pairs<'b>(
    is_post: bool,
    content_type: Option<&[u8]>,
    body: &'b Bytes,
) -> Result<Vec<RawPair<'b>>, ParamsError> {
    match body_kind(is_post, content_type) {
        BodyKind::Form => Ok(urlencoded::parse(body)),
        BodyKind::Multipart(boundary) => multipart_pairs(boundary, body.clone()).await,
        BodyKind::MultipartWithoutBoundary => Err(ParamsError::Malformed(
            "multipart: no boundary in the Content-Type".into(),
        )),
        BodyKind::Ignored => Ok(Vec::new()),
    }
}

/// Multipart fields, names read from the raw `Content-Disposition` as PHP
/// reads them (any bytes, quotes and escapes). A file part is refused: PHP
/// would put it in `$_FILES`, and keygate forwards a form.
async fn multipart_pairs(
    boundary: Vec<u8>,
    body: Bytes,
) -> Result<Vec<RawPair<'static>>, ParamsError> {
    let malformed = |e: multer::Error| ParamsError::Malformed(format!("multipart: {e}"));
    let boundary = String::from_utf8(boundary)
        .map_err(|_| ParamsError::Malformed("multipart: the boundary is not UTF-8".into()))?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut pairs = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let disposition = field
            .headers()
            .get(http::header::CONTENT_DISPOSITION)
            .map(|value| content_disposition(value.as_bytes()))
            .unwrap_or_default();
        if disposition.filename.is_some() {
            return Err(ParamsError::Malformed(
                "file uploads are not supported".into(),
            ));
        }
        let Some(name) = disposition.name else {
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
        let pairs = body_pairs(true, Some(b"multipart/form-data; boundary=XX"), &body)
            .await
            .unwrap();
        assert_eq!(
            show(&pairs),
            [
                (" action".into(), "GetClients".into()),
                ("pid[0]".into(), "7".into())
            ]
        );
        assert!(body_pairs(true, Some(b"multipart/form-data"), &body)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn multipart_files_are_refused() {
        let body = Bytes::from("--XX\r\nContent-Disposition: form-data; name=\"action\"; filename=\"a.txt\"\r\n\r\nGetClients\r\n--XX--\r\n");
        let error = body_pairs(true, Some(b"multipart/form-data; boundary=XX"), &body)
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
        let pairs = body_pairs(true, Some(b"application/x-www-form-urlencoded"), &form)
            .await
            .unwrap();
        assert_eq!(
            show(&pairs),
            [("a".into(), "1".into()), ("b".into(), " ".into())]
        );
        let json = Bytes::from("{\"action\":1}");
        assert!(body_pairs(true, Some(b"application/json"), &json)
            .await
            .unwrap()
            .is_empty());
    }
}
