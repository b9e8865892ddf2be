//! What the management API tests share: an in-process client on
//! `App::router()` whose every answer is checked against the OpenAPI
//! document the server serves (status documented, body matching its
//! schema), and the small JSON Schema check behind that.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keygate_testkit::app::TestApp;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The address requests come from (audited as the change's source).
const PEER: &str = "203.0.113.7:40000";

/// An answer: status, headers and the body as JSON (`Null` when empty).
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
}

impl Reply {
    /// A header as text (empty when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The error code of an error answer (empty otherwise).
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// The router plus the document its answers are checked against.
pub struct Api {
    router: Router,
    /// The OpenAPI document the server serves.
    pub doc: Value,
}

impl Api {
    /// A client for `app`, with the document it serves.
    pub async fn new(app: &TestApp) -> Self {
        let router = app.app().router();
        let mut api = Self {
            router,
            doc: Value::Null,
        };
        let reply = api
            .raw(Method::GET, "/api/v1/openapi.json", None, None, &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        api.doc = reply.body;
        api
    }

    /// Sends a request; the body, when given, as JSON.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let typed = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !typed {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request
            .body(Body::from(body.unwrap_or_default().to_string()))
            .unwrap();
        let peer: SocketAddr = PEER.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Sends a request and checks the answer against the document.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let text = body.map(|b| b.to_string());
        let reply = self
            .raw(method.clone(), path, token, text.as_deref(), headers)
            .await;
        conforms(&self.doc, &method, path, &reply);
        reply
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    /// A method with a token and a JSON body.
    pub async fn send(&self, method: Method, path: &str, token: &str, body: Value) -> Reply {
        self.call(method, path, Some(token), Some(body), &[]).await
    }
}

// ---- checking answers against the OpenAPI document ----

/// Every answer is JSON in the error shape or the documented schema, with
/// a status the operation documents.
pub fn conforms(doc: &Value, method: &Method, path: &str, reply: &Reply) {
    let what = format!("{method} {path} -> {}", reply.status);
    if reply.status == StatusCode::NO_CONTENT {
        assert_eq!(reply.body, Value::Null, "{what}: 204 with a body");
        return;
    }
    assert!(
        reply.header("content-type").starts_with("application/json"),
        "{what}: not JSON"
    );
    if !reply.status.is_success() {
        assert_shape(doc, "ErrorBody", &reply.body, &what);
    }
    let Some(operation) = operation(doc, method, path) else {
        return;
    };
    let Some(response) = operation["responses"].get(reply.status.as_str()) else {
        // Transport-level refusals no operation lists.
        let undocumented_ok = [405, 413, 415, 500, 503];
        assert!(
            undocumented_ok.contains(&reply.status.as_u16()),
            "{what}: status not documented"
        );
        return;
    };
    let schema = &response["content"]["application/json"]["schema"];
    if let Err(e) = check(doc, schema, &reply.body, "$") {
        panic!(
            "{what}: body does not match the schema: {e}\n{}",
            reply.body
        );
    }
}

fn assert_shape(doc: &Value, schema: &str, value: &Value, what: &str) {
    let reference = json!({ "$ref": format!("#/components/schemas/{schema}") });
    if let Err(e) = check(doc, &reference, value, "$") {
        panic!("{what}: not a {schema}: {e}\n{value}");
    }
}

/// The operation a concrete path and method fall under.
fn operation<'a>(doc: &'a Value, method: &Method, path: &str) -> Option<&'a Value> {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let (_, item) = doc["paths"].as_object()?.iter().find(|(template, _)| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| t.starts_with('{') || t == s)
    })?;
    item.get(method.as_str().to_lowercase())
}

/// A small JSON Schema check: the keywords utoipa writes.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("{at}: dangling $ref {reference}"));
        }
        return check(doc, target, value, at);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|s| check(doc, s, value, at).is_ok())
            .count();
        if matching != 1 {
            return Err(format!("{at}: matches {matching} oneOf branches"));
        }
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(doc, part, value, at)?;
    }
    check_type(schema, value, at)?;
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} not in {allowed:?}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            return Err(format!("{at}: {n} below {min}"));
        }
    }
    match value {
        Value::Object(fields) => check_object(doc, schema, fields, at),
        Value::Array(items) => match schema.get("items") {
            Some(item_schema) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| check(doc, item_schema, item, &format!("{at}[{i}]"))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

fn check_type(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let fits = |t: &&str| match *t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    if types.iter().any(fits) {
        Ok(())
    } else {
        Err(format!("{at}: {value} is not {types:?}"))
    }
}

fn check_object(
    doc: &Value,
    schema: &Value,
    fields: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or("");
        if !fields.contains_key(name) {
            return Err(format!("{at}: required field {name} missing"));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, field) in fields {
        let here = format!("{at}.{name}");
        match properties.and_then(|p| p.get(name)) {
            Some(property) => check(doc, property, field, &here)?,
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => return Err(format!("{here}: not in the schema")),
                Some(extra) if extra.is_object() => check(doc, extra, field, &here)?,
                // A schema that lists its properties allows no others here:
                // every answer type is a closed struct.
                _ if properties.is_some() => return Err(format!("{here}: not in the schema")),
                _ => {}
            },
        }
    }
    Ok(())
}
