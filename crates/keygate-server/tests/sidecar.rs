//! `/v1/authorize`, `/healthz` and `/metrics` through a real server.

use keygate_testkit::app::TestApp;
use serde_json::json;

#[tokio::test]
async fn authorize_answers() {
    let app = TestApp::builder().start().await;
    let (id, secret) = app.seed().await;
    let allowed = app
        .authorize(json!({"identifier": id, "secret": secret, "action": "gettickets"}))
        .await;
    assert_eq!(
        allowed,
        (
            200,
            json!({"allowed": true, "action": "GetTickets", "identifier": id, "admin": "alice", "roles": ["Tickets"]})
        )
    );
    let alias = app
        .authorize(json!({"identifier": id, "secret": secret, "action": "GetClientsData"}))
        .await;
    assert_eq!(alias.1["action"], "GetClientsDetails");
    let cases = [
        (
            json!({"identifier": id, "secret": "wrong", "action": "GetTickets"}),
            401,
            json!({"allowed": false, "reason": "authentication_failed"}),
        ),
        (
            json!({"identifier": "nobody", "secret": secret, "action": "GetTickets"}),
            401,
            json!({"allowed": false, "reason": "authentication_failed"}),
        ),
        (
            json!({"identifier": id, "secret": secret, "action": "GetInvoices"}),
            403,
            json!({"allowed": false, "reason": "action_not_allowed"}),
        ),
        (
            json!({"identifier": id, "secret": secret, "action": "NoSuchAction"}),
            403,
            json!({"allowed": false, "reason": "action_not_allowed"}),
        ),
    ];
    for (body, status, expected) in cases {
        assert_eq!(
            app.authorize(body.clone()).await,
            (status, expected),
            "{body}"
        );
    }
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let app = TestApp::builder().start().await;
    for body in [
        "",
        "not json",
        "{}",
        r#"{"identifier":1,"secret":"s","action":"a"}"#,
        r#"{"identifier":"i","secret":"s"}"#,
    ] {
        let response = app
            .client
            .post(app.url("/v1/authorize"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["allowed"], false);
        assert_eq!(json["reason"], "bad_request");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn healthz_and_metrics() {
    let app = TestApp::builder().start().await;
    let (id, secret) = app.seed().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    app.authorize(json!({"identifier": id, "secret": secret, "action": "GetTickets"}))
        .await;
    app.authorize(json!({"identifier": id, "secret": "bad", "action": "GetTickets"}))
        .await;
    app.gateway_form(&[
        ("identifier", &id),
        ("secret", &secret),
        ("action", "GetInvoices"),
    ])
    .await;
    let metrics = app.metrics().await;
    for line in [
        "keygate_requests_total{endpoint=\"authorize\",decision=\"allowed\"} 1",
        "keygate_requests_total{endpoint=\"authorize\",decision=\"authentication_failed\"} 1",
        "keygate_requests_total{endpoint=\"gateway\",decision=\"action_not_allowed\"} 1",
        "keygate_action_requests_total{action=\"GetTickets\",result=\"allowed\"} 1",
        "keygate_action_requests_total{action=\"GetInvoices\",result=\"denied\"} 1",
        "keygate_request_duration_seconds_count{endpoint=\"authorize\"} 2",
        "keygate_snapshot_credentials 1",
        "keygate_store_degraded 0",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    assert!(metrics.contains("keygate_snapshot_revision "));
    assert!(!metrics.contains(&secret));
}
