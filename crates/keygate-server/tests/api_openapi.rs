//! The management API's OpenAPI 3.1 document: generated from the code,
//! served without a token, and complete. The router is built from
//! `keygate_server::api::routes()`; every route there must be in the
//! document and every documented operation must be served.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use keygate_server::api::{routes, PREFIX};
use keygate_testkit::app::TestApp;
use serde_json::Value;
use tower::ServiceExt;

/// The document as the server serves it.
async fn document(app: &TestApp) -> Value {
    let (status, body) = send(app, Method::GET, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    body
}

async fn send(app: &TestApp, method: Method, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = app.app().router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// Every (method, path) the document describes.
fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations.sort();
    operations
}

/// Every (method, path) the router is built from.
fn served() -> Vec<(String, String)> {
    let mut operations: Vec<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.to_string(), format!("{PREFIX}{}", r.path)))
        .collect();
    operations.sort();
    operations
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_exactly_the_routes_served() {
    let app = TestApp::builder().start().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let served = served();
    let documented = documented(&doc);
    for route in &served {
        assert!(
            documented.contains(route),
            "route {route:?} is served but missing from the OpenAPI document"
        );
    }
    for operation in &documented {
        assert!(
            served.contains(operation),
            "{operation:?} is documented but not served"
        );
    }
    // The contract's names (DESIGN.md "Management API").
    for path in [
        "admins",
        "roles",
        "roles/{id}",
        "credentials",
        "credentials/{identifier}",
        "credentials/{identifier}/rotate",
        "credentials/{identifier}/usage",
        "actions",
        "audit",
        "openapi.json",
    ] {
        assert!(
            doc["paths"].get(format!("/api/v1/{path}")).is_some(),
            "contract path {path} missing"
        );
    }
}

#[tokio::test]
async fn every_operation_but_the_document_needs_the_bearer_token() {
    let app = TestApp::builder().start().await;
    let doc = document(&app).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        if path.ends_with("/openapi.json") {
            assert!(operation.get("security").is_none());
            continue;
        }
        assert_eq!(
            operation["security"],
            serde_json::json!([{"bearer": []}]),
            "{method} {path}"
        );
        assert!(
            operation["responses"].get("401").is_some(),
            "{method} {path} documents no 401"
        );
        // Served, and refused without a token (not 404 or 405).
        let concrete = path
            .replace("{id}", "1")
            .replace("{identifier}", "x")
            .replace("{username}", "x");
        let (status, body) = send(&app, method.parse().unwrap(), &concrete).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn every_schema_reference_resolves_and_every_field_is_described() {
    let app = TestApp::builder().start().await;
    let doc = document(&app).await;
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    for (name, schema) in schemas {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for (field, property) in properties {
            let described = property.get("description").is_some()
                || property.get("$ref").is_some()
                || property["allOf"].is_array()
                || property["oneOf"].is_array();
            assert!(described, "{name}.{field} has no description");
        }
    }
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let app = TestApp::builder().start().await;
    let doc = document(&app).await;
    let mut ids = Vec::new();
    for (method, path) in documented(&doc) {
        let id = doc["paths"][&path][method.to_lowercase()]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_string();
        assert!(!ids.contains(&id), "operationId {id} is used twice");
        ids.push(id);
    }
}
