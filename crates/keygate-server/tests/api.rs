//! The management API (`/api/v1`) in process (`oneshot` on
//! `App::router()`), over a real SQLite file: every route against every
//! kind of token, the role and credential stories with ETags, secrets that
//! work on `/v1/authorize`, the audit trail, cursor paging and the error
//! shapes. Every JSON answer is checked against the OpenAPI document the
//! server serves (status documented, body matching its schema).

mod api_support;

use api_support::{conforms, Api};
use axum::http::{Method, StatusCode};
use keygate_core::audit::Actor;
use keygate_store::{now_secs, AuditQuery, Manager, RoleInput};
use keygate_testkit::app::TestApp;
use serde_json::{json, Value};

// ---- fixtures ----

/// The token holder.
const ALICE: &str = "alice";

/// An app with admins alice (with a token) and bob; roles Support
/// (GetClients) and Doomed; returns the app, alice's token and the ids.
struct World {
    app: TestApp,
    api: Api,
    token: String,
    support: i64,
    doomed: i64,
}

async fn world() -> World {
    let app = TestApp::builder().start().await;
    let m = &app.manager;
    m.add_admin(ALICE, "alice-password-1").await.unwrap();
    m.add_admin("bob", "bob-password-1").await.unwrap();
    let support = role(m, "Support", &["GetClients"]).await;
    let doomed = role(m, "Doomed", &[]).await;
    let (_, token) = m.create_token(ALICE, "tests", None).await.unwrap();
    let api = Api::new(&app).await;
    World {
        app,
        api,
        token: token.expose().to_string(),
        support,
        doomed,
    }
}

async fn role(manager: &Manager, name: &str, actions: &[&str]) -> i64 {
    let input = RoleInput {
        name: name.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        ..RoleInput::default()
    };
    manager.create_role(input).await.unwrap().id.0
}

/// Everything the API can change, to prove a refused call changed nothing.
async fn dump(manager: &Manager) -> String {
    format!(
        "{:?}\n{:?}\n{:?}",
        manager.list_roles().await.unwrap(),
        manager.list_credentials(None).await.unwrap(),
        manager.list_admins().await.unwrap()
    )
}

// ---- the route matrix ----

struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    ok: StatusCode,
}

fn case(method: Method, path: impl Into<String>, body: Option<Value>, ok: StatusCode) -> Case {
    Case {
        method,
        path: path.into(),
        body,
        ok,
    }
}

/// Every route × {no token, malformed token, revoked token, disabled
/// admin's token, valid token}. Every refused call is 401 `unauthorized`
/// with `WWW-Authenticate: Bearer` and changes nothing; with the valid
/// token each route does its job.
#[tokio::test]
async fn api_route_matrix() {
    let w = world().await;
    let m = &w.app.manager;
    m.add_admin("carol", "carol-password-1").await.unwrap();
    let (kept, _) = m
        .generate_credential(ALICE, "kept", &["Support".into()], Default::default())
        .await
        .unwrap();
    let (gone, _) = m
        .generate_credential(ALICE, "gone", &["Support".into()], Default::default())
        .await
        .unwrap();
    let (revoked, revoked_token) = m.create_token(ALICE, "revoked", None).await.unwrap();
    m.revoke_token(revoked.id).await.unwrap();
    let (_, bobs_token) = m.create_token("bob", "bob's", None).await.unwrap();
    m.set_admin_enabled("bob", false).await.unwrap();
    let refused = [
        None,
        Some("kgat_not-a-token".to_string()),
        Some(revoked_token.expose().to_string()),
        Some(bobs_token.expose().to_string()),
    ];
    let (s, d) = (w.support, w.doomed);
    let (k, g) = (&kept.identifier, &gone.identifier);
    let cases = vec![
        case(Method::GET, "/api/v1/admins", None, StatusCode::OK),
        case(
            Method::POST,
            "/api/v1/admins",
            Some(json!({"username": "dave", "password": "dave-password-1"})),
            StatusCode::CREATED,
        ),
        case(Method::GET, "/api/v1/admins/carol", None, StatusCode::OK),
        case(
            Method::PATCH,
            "/api/v1/admins/carol",
            Some(json!({"enabled": false})),
            StatusCode::OK,
        ),
        case(
            Method::DELETE,
            "/api/v1/admins/dave",
            None,
            StatusCode::NO_CONTENT,
        ),
        case(Method::GET, "/api/v1/roles", None, StatusCode::OK),
        case(
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": "New", "actions": ["GetClients"]})),
            StatusCode::CREATED,
        ),
        case(
            Method::GET,
            format!("/api/v1/roles/{s}"),
            None,
            StatusCode::OK,
        ),
        case(
            Method::PATCH,
            format!("/api/v1/roles/{s}"),
            Some(json!({"description": "changed"})),
            StatusCode::OK,
        ),
        case(
            Method::DELETE,
            format!("/api/v1/roles/{d}"),
            None,
            StatusCode::NO_CONTENT,
        ),
        case(Method::GET, "/api/v1/credentials", None, StatusCode::OK),
        case(
            Method::POST,
            "/api/v1/credentials",
            Some(json!({"roles": [s]})),
            StatusCode::CREATED,
        ),
        case(
            Method::GET,
            format!("/api/v1/credentials/{k}"),
            None,
            StatusCode::OK,
        ),
        case(
            Method::PATCH,
            format!("/api/v1/credentials/{k}"),
            Some(json!({"enabled": false})),
            StatusCode::OK,
        ),
        case(
            Method::POST,
            format!("/api/v1/credentials/{k}/rotate"),
            Some(json!({})),
            StatusCode::OK,
        ),
        case(
            Method::GET,
            format!("/api/v1/credentials/{k}/usage?days=7"),
            None,
            StatusCode::OK,
        ),
        case(
            Method::DELETE,
            format!("/api/v1/credentials/{g}"),
            None,
            StatusCode::NO_CONTENT,
        ),
        case(Method::GET, "/api/v1/actions", None, StatusCode::OK),
        case(Method::GET, "/api/v1/audit", None, StatusCode::OK),
    ];
    // Every route is in the matrix (the document lists one more: itself).
    assert_eq!(cases.len() + 1, keygate_server::api::routes().len());
    for case in &cases {
        let before = dump(m).await;
        for token in &refused {
            let reply = w
                .api
                .call(
                    case.method.clone(),
                    &case.path,
                    token.as_deref(),
                    case.body.clone(),
                    &[],
                )
                .await;
            let what = format!("{} {} with {token:?}", case.method, case.path);
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(reply.code(), "unauthorized", "{what}");
            assert!(
                reply.header("www-authenticate").starts_with("Bearer"),
                "{what}"
            );
            assert_eq!(dump(m).await, before, "{what} changed something");
        }
        let reply = w
            .api
            .call(
                case.method.clone(),
                &case.path,
                Some(&w.token),
                case.body.clone(),
                &[],
            )
            .await;
        assert_eq!(
            reply.status, case.ok,
            "{} {}: {}",
            case.method, case.path, reply.body
        );
        assert_eq!(reply.header("cache-control"), "no-store");
    }
    // The document itself needs no token.
    let reply = w
        .api
        .call(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// An expired token is refused like any other.
#[tokio::test]
async fn an_expired_token_is_refused() {
    let w = world().await;
    let (_, token) = w
        .app
        .manager
        .create_token(ALICE, "short", Some(now_secs() + 3))
        .await
        .unwrap();
    // Valid for two seconds at least (whole seconds), expired after three.
    let reply = w.api.get("/api/v1/roles", token.expose()).await;
    assert_eq!(reply.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let reply = w.api.get("/api/v1/roles", token.expose()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "unauthorized");
}

// ---- roles ----

#[tokio::test]
async fn role_story_with_etags() {
    let w = world().await;
    let (api, t) = (&w.api, w.token.as_str());
    let created = api
        .send(
            Method::POST,
            "/api/v1/roles",
            t,
            json!({"name": "Billing", "description": "invoices", "actions": ["getinvoices"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["actions"], json!(["GetInvoices"]));
    let location = created.header("location").to_string();
    let etag = created.header("etag").to_string();
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    let read = api.get(&location, t).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("etag"), etag, "GET answers the same version");
    assert_eq!(read.body, created.body);

    let patched = api
        .call(
            Method::PATCH,
            &location,
            Some(t),
            Some(json!({"allow": ["GetClients"], "revoke": ["GetInvoices"]})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["actions"], json!(["GetClients"]));
    let new_etag = patched.header("etag").to_string();
    assert_ne!(new_etag, etag);

    // A second automation still holding the old version is stopped.
    let stale = api
        .call(
            Method::PATCH,
            &location,
            Some(t),
            Some(json!({"name": "Overwritten"})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.code(), "precondition_failed");
    assert_eq!(api.get(&location, t).await.body["name"], "Billing");
    let stale_delete = api
        .call(
            Method::DELETE,
            &location,
            Some(t),
            None,
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);

    let taken = api
        .send(Method::POST, "/api/v1/roles", t, json!({"name": "billing"}))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.code(), "conflict");
    let unknown = api
        .send(
            Method::POST,
            "/api/v1/roles",
            t,
            json!({"name": "X", "actions": ["Nope"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.code(), "invalid");
    let by_category = api
        .send(
            Method::POST,
            "/api/v1/roles",
            t,
            json!({"name": "Y", "categories": ["Billing"]}),
        )
        .await;
    assert_eq!(
        by_category.status,
        StatusCode::CREATED,
        "{}",
        by_category.body
    );
    assert!(by_category.body["actions"].as_array().unwrap().len() > 1);

    let deleted = api
        .call(
            Method::DELETE,
            &location,
            Some(t),
            None,
            &[("if-match", &new_etag)],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let missing = api.get(&location, t).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    let not_a_number = api.get("/api/v1/roles/abc", t).await;
    assert_eq!(not_a_number.status, StatusCode::BAD_REQUEST);
}

// ---- credentials ----

async fn authorize(app: &TestApp, identifier: &str, secret: &str, action: &str) -> Value {
    let (_, body) = app
        .authorize(json!({"identifier": identifier, "secret": secret, "action": action}))
        .await;
    body
}

#[tokio::test]
async fn credential_story_secret_once_etags_rotation() {
    let w = world().await;
    let (api, t, app) = (&w.api, w.token.as_str(), &w.app);
    let expires = now_secs() + 3600;
    let created = api
        .send(
            Method::POST,
            "/api/v1/credentials",
            t,
            json!({
                "description": "ci job",
                "roles": [w.support],
                "expires_at": expires,
                "rate_limit": "600/m",
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let credential = &created.body["credential"];
    let identifier = credential["identifier"].as_str().unwrap().to_string();
    let secret = created.body["secret"].as_str().unwrap().to_string();
    assert_eq!(credential["admin"], ALICE, "owned by the token's admin");
    assert_eq!(credential["rate_limit"], "600/m");
    assert_eq!(credential["expires_at"], expires);
    assert_eq!(
        credential["roles"],
        json!([{"id": w.support, "name": "Support"}])
    );
    let location = created.header("location").to_string();
    assert_eq!(location, format!("/api/v1/credentials/{identifier}"));

    // The secret works, within the role; it is never shown again.
    let allowed = authorize(app, &identifier, &secret, "GetClients").await;
    assert_eq!(allowed["allowed"], true, "{allowed}");
    let denied = authorize(app, &identifier, &secret, "GetInvoices").await;
    assert_eq!(denied["reason"], "action_not_allowed");
    let read = api.get(&location, t).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(!read.body.to_string().contains(&secret));
    assert!(read.body.get("secret").is_none());
    let etag = read.header("etag").to_string();
    assert_eq!(etag, created.header("etag"));

    // Disable with If-Match; the old version is then stale.
    let disabled = api
        .call(
            Method::PATCH,
            &location,
            Some(t),
            Some(json!({"enabled": false})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["enabled"], false);
    let refused = authorize(app, &identifier, &secret, "GetClients").await;
    assert_eq!(refused["allowed"], false);
    let stale = api
        .call(
            Method::PATCH,
            &location,
            Some(t),
            Some(json!({"enabled": true})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(api.get(&location, t).await.body["enabled"], false);

    // null clears; values are checked.
    let cleared = api
        .send(
            Method::PATCH,
            &location,
            t,
            json!({"enabled": true, "expires_at": null, "rate_limit": null, "client_ids": []}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["expires_at"], Value::Null);
    assert_eq!(cleared.body["rate_limit"], Value::Null);
    for bad in [
        json!({"allow_ips": ["not-a-net"]}),
        json!({"rate_limit": "lots"}),
        json!({"expires_at": 1}),
        json!({"client_ids": [0]}),
        json!({"roles": [999999]}),
        json!({"enabled": "yes"}),
        json!({"colour": "blue"}),
    ] {
        let reply = api.send(Method::PATCH, &location, t, bad.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.body
        );
        assert_eq!(reply.code(), "invalid", "{bad}");
    }

    // Rotation: the default overlap keeps the old secret working.
    let rotated = api
        .call(
            Method::POST,
            &format!("{location}/rotate"),
            Some(t),
            None,
            &[],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = rotated.body["secret"].as_str().unwrap().to_string();
    assert_ne!(second, secret);
    let until = rotated.body["old_secret_valid_until"].as_i64().unwrap();
    assert!((until - now_secs() - 86_400).abs() < 10, "24h overlap");
    assert_eq!(
        authorize(app, &identifier, &second, "GetClients").await["allowed"],
        true
    );
    assert_eq!(
        authorize(app, &identifier, &secret, "GetClients").await["allowed"],
        true
    );
    // With no overlap, the previous secret stops at once.
    let now = api
        .send(
            Method::POST,
            &format!("{location}/rotate"),
            t,
            json!({"overlap_seconds": 0}),
        )
        .await;
    assert_eq!(now.status, StatusCode::OK);
    assert_eq!(now.body["old_secret_valid_until"], Value::Null);
    let third = now.body["secret"].as_str().unwrap();
    assert_eq!(
        authorize(app, &identifier, third, "GetClients").await["allowed"],
        true
    );
    assert_eq!(
        authorize(app, &identifier, &second, "GetClients").await["allowed"],
        false
    );

    let too_long = api
        .send(
            Method::POST,
            &format!("{location}/rotate"),
            t,
            json!({"overlap_seconds": 9_223_372_036_854_775_808_u64}),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let usage = api.get(&format!("{location}/usage?days=7"), t).await;
    assert_eq!(usage.status, StatusCode::OK);
    assert_eq!(usage.body["identifier"], identifier.as_str());
    assert_eq!(usage.body["days"], 7);
    let bad_days = api.get(&format!("{location}/usage?days=0"), t).await;
    assert_eq!(bad_days.status, StatusCode::UNPROCESSABLE_ENTITY);

    let gone = api
        .call(Method::DELETE, &location, Some(t), None, &[])
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        authorize(app, &identifier, third, "GetClients").await["allowed"],
        false
    );
    assert_eq!(api.get(&location, t).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn generating_checks_the_admin_roles_and_lifecycle() {
    let w = world().await;
    let (api, t) = (&w.api, w.token.as_str());
    let for_bob = api
        .send(
            Method::POST,
            "/api/v1/credentials",
            t,
            json!({
                "admin": "bob",
                "roles": [w.support],
                "allow_ips": ["198.51.100.0/24"],
                "enabled": false,
                "client_ids": [3, 1, 3],
            }),
        )
        .await;
    assert_eq!(for_bob.status, StatusCode::CREATED, "{}", for_bob.body);
    assert_eq!(for_bob.body["credential"]["admin"], "bob");
    assert_eq!(for_bob.body["credential"]["enabled"], false);
    assert_eq!(for_bob.body["credential"]["client_ids"], json!([1, 3]));
    assert_eq!(
        for_bob.body["credential"]["allow_ips"],
        json!(["198.51.100.0/24"])
    );
    for bad in [
        json!({"admin": "nobody"}),
        json!({"roles": [424242]}),
        json!({"roles": ["Support"]}),
        json!({"expires_at": 10}),
        json!({"allow_ips": ["300.0.0.1"]}),
    ] {
        let reply = api
            .send(Method::POST, "/api/v1/credentials", t, bad.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.body
        );
    }
    let listed = api.get("/api/v1/credentials?admin=bob", t).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let none = api.get("/api/v1/credentials?admin=nobody", t).await;
    assert_eq!(none.body["items"], json!([]));
    let disabled = api.get("/api/v1/credentials?state=disabled", t).await;
    assert_eq!(disabled.body["items"].as_array().unwrap().len(), 1);
    let bad_state = api.get("/api/v1/credentials?state=sleepy", t).await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
}

// ---- admins ----

#[tokio::test]
async fn admins_are_managed_without_password_hashes() {
    let w = world().await;
    let (api, t) = (&w.api, w.token.as_str());
    let added = api
        .send(
            Method::POST,
            "/api/v1/admins",
            t,
            json!({"username": "erin", "password": "erin-password-1"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.header("location"), "/api/v1/admins/erin");
    let listed = api.get("/api/v1/admins", t).await;
    assert!(!listed.body.to_string().contains("argon2"));
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "erin"]);
    let twin = api
        .send(
            Method::POST,
            "/api/v1/admins",
            t,
            json!({"username": "ERIN", "password": "erin-password-1"}),
        )
        .await;
    assert_eq!(twin.status, StatusCode::CONFLICT);
    let weak = api
        .send(
            Method::POST,
            "/api/v1/admins",
            t,
            json!({"username": "f", "password": "x"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let password = api
        .send(
            Method::PATCH,
            "/api/v1/admins/erin",
            t,
            json!({"password": "erin-password-2"}),
        )
        .await;
    assert_eq!(password.status, StatusCode::OK);
    let m = &w.app.manager;
    assert!(m
        .check_login("erin", "erin-password-2")
        .await
        .unwrap()
        .is_some());
    // A token cannot lock out its own admin.
    for (method, body) in [
        (Method::PATCH, Some(json!({"enabled": false}))),
        (Method::DELETE, None),
    ] {
        let reply = api
            .call(method, "/api/v1/admins/alice", Some(t), body, &[])
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    }
    let removed = api
        .call(Method::DELETE, "/api/v1/admins/erin", Some(t), None, &[])
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/admins/erin", t).await.status,
        StatusCode::NOT_FOUND
    );
}

// ---- audit ----

#[tokio::test]
async fn changes_are_audited_as_the_tokens_admin_from_the_peer() {
    let w = world().await;
    let (api, t) = (&w.api, w.token.as_str());
    let created = api
        .send(Method::POST, "/api/v1/roles", t, json!({"name": "Audited"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let generated = api
        .send(
            Method::POST,
            "/api/v1/credentials",
            t,
            json!({"roles": [w.support]}),
        )
        .await;
    let identifier = generated.body["credential"]["identifier"].as_str().unwrap();
    let events = w
        .app
        .manager
        .audit_events(&AuditQuery {
            actor: Some(ALICE.into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .events;
    let verbs: Vec<&str> = events.iter().map(|e| e.verb.as_str()).collect();
    assert_eq!(verbs, ["credential.generate", "role.create"]);
    for event in &events {
        assert_eq!(event.source.as_deref(), Some("203.0.113.7"));
    }
    assert!(!format!("{events:?}").contains(generated.body["secret"].as_str().unwrap()));

    // The same through the API, with its filters.
    let mine = api.get("/api/v1/audit?actor=alice", t).await;
    assert_eq!(mine.status, StatusCode::OK);
    let items = mine.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["verb"], "credential.generate");
    assert_eq!(items[0]["actor"], ALICE);
    assert_eq!(items[0]["source"], "203.0.113.7");
    assert!(items[0]["changes"].is_object());
    let about = api
        .get(&format!("/api/v1/audit?target={identifier}"), t)
        .await;
    assert_eq!(about.body["items"].as_array().unwrap().len(), 1);
    let future = api
        .get(&format!("/api/v1/audit?since={}", now_secs() + 3600), t)
        .await;
    assert_eq!(future.body["items"], json!([]));
    let bad_since = api.get("/api/v1/audit?since=yesterday", t).await;
    assert_eq!(bad_since.status, StatusCode::BAD_REQUEST);
    // Another actor's events are told apart.
    let cli = w.app.manager.acting_as(Actor::cli("root"));
    cli.create_role(RoleInput {
        name: "By CLI".into(),
        ..RoleInput::default()
    })
    .await
    .unwrap();
    let mine = api.get("/api/v1/audit?actor=alice", t).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 2);
}

// ---- paging ----

/// Follows `next_cursor` from `first` to the end; the items' `key` values.
async fn walk(api: &Api, token: &str, first: &str, key: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut path = first.to_string();
    loop {
        let page = api.get(&path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 3, "{path}: over the limit");
        seen.extend(items.iter().map(|i| i[key].clone()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                let base = first.split("limit=").next().unwrap();
                path = format!("{base}limit=3&cursor={cursor}");
            }
            None => return seen,
        }
    }
}

#[tokio::test]
async fn lists_page_with_cursors() {
    let w = world().await;
    let (api, t) = (&w.api, w.token.as_str());
    let m = &w.app.manager;
    for n in 1..=5 {
        role(m, &format!("Paged {n}"), &[]).await;
        m.generate_credential(
            ALICE,
            &format!("paged {n}"),
            &["Support".into()],
            Default::default(),
        )
        .await
        .unwrap();
    }
    let roles = walk(api, t, "/api/v1/roles?limit=3", "name").await;
    let expected: Vec<Value> = m
        .list_roles()
        .await
        .unwrap()
        .iter()
        .map(|r| json!(r.name))
        .collect();
    assert_eq!(roles.len(), expected.len());
    for name in &expected {
        assert!(roles.contains(name), "{name} missing");
    }
    let credentials = walk(api, t, "/api/v1/credentials?limit=3", "identifier").await;
    assert_eq!(credentials.len(), 5);
    let searched = walk(
        api,
        t,
        "/api/v1/credentials?search=paged&limit=3",
        "identifier",
    )
    .await;
    assert_eq!(searched.len(), 5);
    let audit = walk(api, t, "/api/v1/audit?limit=3", "id").await;
    let ids: Vec<i64> = audit.iter().map(|v| v.as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] > p[1]), "newest first: {ids:?}");
    let total = m
        .audit_events(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .total;
    assert_eq!(ids.len() as u64, total);
    let actions = walk(api, t, "/api/v1/actions?limit=3&category=Billing", "name").await;
    assert!(actions.len() > 3);
    let admins = walk(api, t, "/api/v1/admins?limit=3", "username").await;
    assert_eq!(admins, [json!("alice"), json!("bob")]);

    let empty_cursor = api.get("/api/v1/roles?cursor=", t).await;
    assert_eq!(
        empty_cursor.status,
        StatusCode::OK,
        "an empty cursor is the start"
    );
    let all = api.get("/api/v1/actions?limit=1000", t).await;
    assert_eq!(all.body["next_cursor"], Value::Null);
    assert!(all.body["items"][0]["category"].is_string());
    for bad in [
        "/api/v1/roles?cursor=nonsense",
        "/api/v1/roles?cursor=b2s",
        "/api/v1/roles?limit=0",
        "/api/v1/roles?limit=1001",
        "/api/v1/roles?limit=-1",
        "/api/v1/audit?limit=x",
    ] {
        let reply = api.get(bad, t).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.code(), "bad_request", "{bad}");
    }
    let unknown = api.get("/api/v1/actions?category=Nope", t).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

// ---- errors ----

#[tokio::test]
async fn every_failure_is_json_with_the_right_status() {
    let w = world().await;
    let (api, t) = (&w.api, Some(w.token.as_str()));
    let cases: Vec<(Method, &str, Option<&str>, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/v1/roles",
            Some("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            Some(""),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            Some("[1,2"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            Some("{}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            Some(r#"{"name":5}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            Some(r#"{"name":""}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Method::POST,
            "/api/v1/roles",
            Some("null"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Method::PATCH,
            "/api/v1/admins/bob",
            Some("[null, null]"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Method::GET,
            "/api/v1/nothing-here",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/api/v1",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/api/v1/",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::PUT,
            "/api/v1/roles",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::DELETE,
            "/api/v1/audit",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/v1/credentials/nope",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/api/v1/admins/nope",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::POST,
            "/api/v1/credentials/nope/rotate",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let reply = api.raw(method.clone(), path, t, body, &[]).await;
        conforms(&api.doc, &method, path, &reply);
        assert_eq!(
            reply.status, status,
            "{method} {path} {body:?}: {}",
            reply.body
        );
        assert_eq!(reply.code(), code, "{method} {path} {body:?}");
        assert!(!reply.body["error"]["message"].as_str().unwrap().is_empty());
    }
    // No name or identifier holds a NUL (PostgreSQL cannot compare one).
    let nul_path = api
        .raw(Method::GET, "/api/v1/credentials/a%00b", t, None, &[])
        .await;
    assert_eq!(nul_path.status, StatusCode::BAD_REQUEST);
    let nul_body = api
        .raw(
            Method::POST,
            "/api/v1/roles",
            t,
            Some(r#"{"name":"a\u0000b"}"#),
            &[],
        )
        .await;
    assert_eq!(nul_body.status, StatusCode::UNPROCESSABLE_ENTITY);
    // 405 says what is allowed.
    let wrong = api.raw(Method::PUT, "/api/v1/roles", t, None, &[]).await;
    assert!(wrong.header("allow").contains("GET"), "{:?}", wrong.headers);
    // A form is not JSON.
    let form = api
        .raw(
            Method::POST,
            "/api/v1/roles",
            t,
            Some("{}"),
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(form.code(), "unsupported_media_type");
    // A body over the limit is refused before it is read.
    let huge = format!(
        r#"{{"name":"big","description":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let big = api
        .raw(Method::POST, "/api/v1/roles", t, Some(&huge), &[])
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.code(), "payload_too_large");
    // Other schemes than Bearer are refused.
    let basic = api
        .raw(
            Method::GET,
            "/api/v1/roles",
            None,
            None,
            &[("authorization", "Basic YTpi")],
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(w.app.manager.list_roles().await.unwrap().len(), 2);
}

/// Over real HTTP (the server on port 0, peer addresses as `keygate
/// serve`): the token works, and the change is audited from the peer.
#[tokio::test]
async fn over_real_http_the_peer_is_the_source() {
    let w = world().await;
    let response = w
        .app
        .client
        .post(w.app.url("/api/v1/roles"))
        .bearer_auth(&w.token)
        .json(&json!({"name": "Over HTTP", "actions": ["GetClients"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert!(response.headers().get("etag").is_some());
    let events = w
        .app
        .manager
        .audit_events(&AuditQuery {
            target: Some("Over HTTP".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, ALICE);
    assert_eq!(events[0].source.as_deref(), Some("127.0.0.1"));
    let refused = w
        .app
        .client
        .get(w.app.url("/api/v1/roles"))
        .bearer_auth("kgat_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
}

/// Behind a trusted proxy, the audited source is the forwarded client.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_the_source() {
    let app = TestApp::builder()
        .trusted_proxies(&["127.0.0.1/32"])
        .start()
        .await;
    app.manager
        .add_admin(ALICE, "alice-password-1")
        .await
        .unwrap();
    let (_, token) = app.manager.create_token(ALICE, "t", None).await.unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/roles"))
        .bearer_auth(token.expose())
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"name": "Proxied"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let query = AuditQuery {
        target: Some("Proxied".into()),
        limit: 1,
        ..AuditQuery::default()
    };
    let events = app.manager.audit_events(&query).await.unwrap().events;
    assert_eq!(events[0].source.as_deref(), Some("198.51.100.9"));
}

/// Refused tokens count as failed authentications of the address: over
/// the limit it gets 429 with `Retry-After`, even with a valid token.
#[tokio::test]
async fn refused_tokens_throttle_the_address() {
    let app = TestApp::builder()
        .rate_limit(keygate_server::config::RateLimitConfig {
            failed_auth_per_minute: 3,
            ..Default::default()
        })
        .start()
        .await;
    app.manager
        .add_admin(ALICE, "alice-password-1")
        .await
        .unwrap();
    let (_, token) = app.manager.create_token(ALICE, "t", None).await.unwrap();
    let api = Api::new(&app).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let reply = api
            .call(Method::GET, "/api/v1/roles", Some("kgat_guess"), None, &[])
            .await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses[..3], [401, 401, 401]);
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    let cooling = api.get("/api/v1/roles", token.expose()).await;
    assert_eq!(cooling.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(cooling.code(), "rate_limited");
    assert!(cooling.header("retry-after").parse::<u64>().unwrap() > 0);
}
