//! Optimistic concurrency for roles and credentials: a strong `ETag` on
//! every read and write of one, and `If-Match` on changes, so two
//! automations cannot silently overwrite each other (412 on a stale
//! write).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, MutexGuard};

use super::errors::ApiError;

/// Conditional writes in this process take turns, so the version checked
/// is the version changed (between processes the window stays as short
/// as one read and one write).
static WRITES: Mutex<()> = Mutex::const_new(());

/// Waits for this process's turn to check a version and write.
pub async fn write_turn() -> MutexGuard<'static, ()> {
    WRITES.lock().await
}

/// The strong entity tag of `value`: a hash of its JSON form, quoted.
pub fn etag_of(value: &impl Serialize) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Passes when the request has no `If-Match`, `If-Match: *`, or lists
/// `current` (strong comparison: weak tags never match); 412 otherwise.
pub fn check_if_match(headers: &HeaderMap, current: &str) -> Result<(), ApiError> {
    let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(());
    }
    for value in values {
        let text = value
            .to_str()
            .map_err(|_| ApiError::bad_request("If-Match is not readable text"))?;
        for tag in text.split(',').map(str::trim) {
            if tag == "*" || tag == current {
                return Ok(());
            }
        }
    }
    Err(ApiError::precondition_failed())
}

/// `body` as JSON with `status` and its `ETag`.
pub fn with_etag(status: StatusCode, body: &impl Serialize, etag: &str) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn if_match(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, value.parse().unwrap());
        headers
    }

    #[test]
    fn if_match_compares_strongly() {
        let tag = etag_of(&serde_json::json!({"a": 1}));
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);
        assert!(check_if_match(&HeaderMap::new(), &tag).is_ok());
        assert!(check_if_match(&if_match("*"), &tag).is_ok());
        assert!(check_if_match(&if_match(&tag), &tag).is_ok());
        assert!(check_if_match(&if_match(&format!("\"x\", {tag}")), &tag).is_ok());
        let stale = check_if_match(&if_match("\"x\""), &tag).unwrap_err();
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert!(check_if_match(&if_match(&format!("W/{tag}")), &tag).is_err());
    }
}
