//! Reading requests: JSON bodies, query strings and path segments, each
//! failure turned into the API's error shape. A body that is not JSON at
//! all is 400 `invalid_json`; JSON of the wrong shape (a missing field, a
//! wrong type, an unknown field) is 422 `invalid`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::errors::ApiError;

/// A JSON request body.
pub struct ApiJson<T>(pub T);

/// A JSON request body that may be left out (empty or `null`:
/// `T::default()`).
pub struct OptionalJson<T>(pub T);

/// A query string.
pub struct ApiQuery<T>(pub T);

/// Path segments.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "a JSON body is required",
            ));
        }
        parse(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        // `null` is as good as no body.
        let value: Option<T> = parse(&bytes)?;
        Ok(OptionalJson(value.unwrap_or_default()))
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(e) => Err(ApiError::bad_request(format!(
                "invalid query string: {}",
                e.body_text()
            ))),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) => Err(ApiError::bad_request(format!(
                "invalid path: {}",
                e.body_text()
            ))),
        }
    }
}

/// The body, once its type is known to be JSON (or unstated).
async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    check_content_type(request.headers())?;
    Bytes::from_request(request, state)
        .await
        .map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is too large",
                )
            } else {
                ApiError::bad_request(format!("cannot read the request body: {}", e.body_text()))
            }
        })
}

/// A stated type must be JSON (`application/json`, `…+json`).
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as JSON with `Content-Type: application/json`",
    ))
}

/// Syntax errors are 400 `invalid_json`; shape errors 422 `invalid`.
/// The text is read as JSON first, so broken JSON is told apart from a
/// wrong shape wherever the break is.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    // Serde would also read a struct from an array; every body is an object.
    if !value.is_object() && !value.is_null() {
        return Err(ApiError::invalid(
            "invalid request body: expected a JSON object",
        ));
    }
    if holds_nul(&value) {
        return Err(ApiError::invalid(
            "invalid request body: text must not contain NUL characters",
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}

/// Whether any string (or key) in `value` holds a NUL, which no name,
/// identifier or description may (and PostgreSQL cannot store).
fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, field)| key.contains('\0') || holds_nul(field)),
        _ => false,
    }
}

/// Refuses a path or query string with an encoded NUL (`%00`) before any
/// handler looks it up: no name or identifier holds one, and PostgreSQL
/// cannot even compare text holding one.
pub fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    let text = uri.path_and_query().map_or("", |p| p.as_str());
    if text.to_ascii_lowercase().contains("%00") {
        return Err(ApiError::bad_request(
            "the path or query string holds a NUL character (%00)",
        ));
    }
    Ok(())
}

/// Deserializes a field that may be absent (outer `None`), `null`
/// (`Some(None)`: clear it) or a value; use with `#[serde(default)]`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
