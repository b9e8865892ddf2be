//! DESIGN.md "Credential lifecycle" through a real server on port 0: expiry,
//! disable, IP allowlists (with trusted proxies and spoofed headers),
//! rotation with overlap, per-credential and default rate limits, and the
//! failed-authentication throttle, on the gateway and the sidecar.

use std::time::Duration;

use keygate_server::config::RateLimitConfig;
use keygate_store::CredentialEdit;
use keygate_testkit::app::{FakeWhmcs, TestApp};
use serde_json::json;

/// POSTs a call as `form` with extra headers; (status, retry-after, body).
async fn call(
    app: &TestApp,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let mut request = app.client.post(app.url("/includes/api.php")).form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, response.text().await.unwrap())
}

fn form<'a>(id: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("identifier", id),
        ("secret", secret),
        ("action", "GetTickets"),
    ]
}

async fn edit(app: &TestApp, id: &str, edit: CredentialEdit) {
    app.manager.edit_credential(id, edit).await.unwrap();
}

#[tokio::test]
async fn disabled_and_expired_credentials_fail_like_unknown_ones() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    app.manager
        .set_credential_enabled(&id, false)
        .await
        .unwrap();
    let (status, _, body) = call(&app, &form(&id, &secret), &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (403, "result=error;message=Authentication Failed;")
    );
    let (status, answer) = app
        .authorize(json!({"identifier": id, "secret": secret, "action": "GetTickets"}))
        .await;
    assert_eq!((status, answer["reason"].as_str()), (401, Some("disabled")));
    // A wrong secret never learns the state.
    let (status, answer) = app
        .authorize(json!({"identifier": id, "secret": "wrong", "action": "GetTickets"}))
        .await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (401, Some("authentication_failed"))
    );

    app.manager.set_credential_enabled(&id, true).await.unwrap();
    assert_eq!(call(&app, &form(&id, &secret), &[]).await.0, 200);
    let soon = keygate_store::now_secs() + 1;
    let expiring = CredentialEdit {
        expires_at: Some(Some(soon)),
        ..CredentialEdit::default()
    };
    edit(&app, &id, expiring).await;
    assert_eq!(call(&app, &form(&id, &secret), &[]).await.0, 200);
    // Expiry takes effect at its time, without any change or reload.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, _, body) = call(&app, &form(&id, &secret), &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (403, "result=error;message=Authentication Failed;")
    );
    let (status, answer) = app
        .authorize(json!({"identifier": id, "secret": secret, "action": "GetTickets"}))
        .await;
    assert_eq!((status, answer["reason"].as_str()), (401, Some("expired")));
    assert_eq!(whmcs.count(), 2);
}

#[tokio::test]
async fn allowlists_read_the_peer_and_only_trusted_proxies() {
    let whmcs = FakeWhmcs::start().await;
    let direct = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = direct.seed().await;
    let only = |nets: &[&str]| CredentialEdit {
        allow_ips: Some(nets.iter().map(|n| n.parse().unwrap()).collect()),
        ..CredentialEdit::default()
    };
    edit(&direct, &id, only(&["203.0.113.0/24", "2001:db8::/32"])).await;
    let json = [("responsetype", "json")];
    let mut with_json = form(&id, &secret);
    with_json.extend(json);
    // The peer is 127.0.0.1; a header from an untrusted peer is ignored.
    for spoof in [&[][..], &[("x-forwarded-for", "203.0.113.9")][..]] {
        let (status, _, body) = call(&direct, &with_json, spoof).await;
        assert_eq!(status, 403, "{spoof:?}");
        assert_eq!(
            body,
            r#"{"message":"Invalid IP 127.0.0.1","result":"error"}"#
        );
    }
    edit(&direct, &id, only(&["127.0.0.0/8"])).await;
    assert_eq!(call(&direct, &form(&id, &secret), &[]).await.0, 200);

    // Behind a trusted proxy: the right-most address that is not a proxy.
    let proxied = TestApp::builder()
        .upstream(&whmcs.url)
        .trusted_proxies(&["127.0.0.1/32", "10.0.0.0/8"])
        .start()
        .await;
    let (id, secret) = proxied.seed().await;
    edit(&proxied, &id, only(&["203.0.113.0/24"])).await;
    let cases: &[(&str, u16)] = &[
        ("203.0.113.9", 200),
        ("6.6.6.6, 203.0.113.9", 200),
        ("6.6.6.6, 203.0.113.9, 10.1.2.3", 200),
        ("203.0.113.9, 6.6.6.6", 403),
        ("not-an-address", 403),
    ];
    for (forwarded, expected) in cases {
        let (status, _, body) = call(
            &proxied,
            &form(&id, &secret),
            &[("x-forwarded-for", forwarded)],
        )
        .await;
        assert_eq!(status, *expected, "{forwarded}: {body}");
    }
    let (_, _, body) = call(
        &proxied,
        &form(&id, &secret),
        &[("x-forwarded-for", "203.0.113.9, 6.6.6.6")],
    )
    .await;
    assert_eq!(body, "result=error;message=Invalid IP 6.6.6.6;");

    // The sidecar checks the address its caller names.
    let ask = |ip: serde_json::Value| json!({"identifier": id, "secret": secret, "action": "GetTickets", "ip": ip});
    let (status, _) = proxied.authorize(ask(json!("203.0.113.7"))).await;
    assert_eq!(status, 200);
    let (status, answer) = proxied.authorize(ask(json!("198.51.100.1"))).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (403, Some("ip_not_allowed"))
    );
    let (status, answer) = proxied.authorize(ask(serde_json::Value::Null)).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (403, Some("ip_not_allowed"))
    );
    let (status, answer) = proxied.authorize(ask(json!("not-an-ip"))).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (400, Some("bad_request"))
    );
}

#[tokio::test]
async fn a_rotated_secret_overlaps_then_stops_without_a_restart() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, old) = app.seed().await;
    let (_, new, until) = app
        .manager
        .rotate_credential(&id, Duration::from_secs(2))
        .await
        .unwrap();
    let new = new.expose().to_string();
    assert!(until.is_some());
    assert_eq!(call(&app, &form(&id, &old), &[]).await.0, 200);
    assert_eq!(call(&app, &form(&id, &new), &[]).await.0, 200);
    let started = std::time::Instant::now();
    while call(&app, &form(&id, &old), &[]).await.0 == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the old secret never stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(call(&app, &form(&id, &new), &[]).await.0, 200);
    // Overlap 0: the old secret stops at once.
    let (_, newest, until) = app
        .manager
        .rotate_credential(&id, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(until, None);
    assert_eq!(call(&app, &form(&id, &new), &[]).await.0, 403);
    assert_eq!(call(&app, &form(&id, newest.expose()), &[]).await.0, 200);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_in_the_requested_format() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder()
        .upstream(&whmcs.url)
        .rate_limit(RateLimitConfig {
            default: Some("5/m".parse().unwrap()),
            failed_auth_per_minute: 0,
            ..RateLimitConfig::default()
        })
        .start()
        .await;
    let (id, secret) = app.seed().await;
    let mut json_form = form(&id, &secret);
    json_form.push(("responsetype", "json"));
    // The configured default: 5 a minute.
    for _ in 0..5 {
        assert_eq!(call(&app, &json_form, &[]).await.0, 200);
    }
    let (status, retry, body) = call(&app, &json_form, &[]).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        r#"{"message":"Rate limit exceeded","result":"error"}"#
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The credential's own limit replaces the default.
    let own = CredentialEdit {
        rate_limit: Some(Some("100/s".parse().unwrap())),
        ..CredentialEdit::default()
    };
    edit(&app, &id, own).await;
    assert_eq!(call(&app, &json_form, &[]).await.0, 200);
    let tight = CredentialEdit {
        rate_limit: Some(Some("1/h".parse().unwrap())),
        ..CredentialEdit::default()
    };
    edit(&app, &id, tight).await;
    let ask = json!({"identifier": id, "secret": secret, "action": "GetTickets"});
    assert_eq!(app.authorize(ask.clone()).await.0, 200);
    let (status, answer) = app.authorize(ask).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (429, Some("rate_limited"))
    );
    assert!(
        answer["retry_after"].as_u64().is_some_and(|s| s > 3000),
        "{answer}"
    );
}

#[tokio::test]
async fn a_local_budget_survives_snapshot_rebuilds_until_its_rate_changes() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder()
        .upstream(&whmcs.url)
        .rate_limit(RateLimitConfig {
            default: Some("3/h".parse().unwrap()),
            failed_auth_per_minute: 0,
            ..RateLimitConfig::default()
        })
        .start()
        .await;
    let (id, secret) = app.seed().await;
    let calls = form(&id, &secret);
    for _ in 0..3 {
        assert_eq!(call(&app, &calls, &[]).await.0, 200);
    }
    assert_eq!(call(&app, &calls, &[]).await.0, 429);
    // Changes elsewhere rebuild the snapshot (the limiter's state lives in
    // it): the spent budget stays spent.
    let (other, _) = app
        .manager
        .generate_credential("alice", "other", &["Tickets".into()], Default::default())
        .await
        .unwrap();
    let described = CredentialEdit {
        description: Some("renamed".into()),
        ..CredentialEdit::default()
    };
    edit(&app, &id, described).await;
    assert_ne!(other.identifier, id);
    assert_eq!(
        call(&app, &calls, &[]).await.0,
        429,
        "a rebuild gave a fresh budget"
    );
    // A new rate is a new budget.
    let own = CredentialEdit {
        rate_limit: Some(Some("2/h".parse().unwrap())),
        ..CredentialEdit::default()
    };
    edit(&app, &id, own).await;
    assert_eq!(call(&app, &calls, &[]).await.0, 200);
    assert_eq!(call(&app, &calls, &[]).await.0, 200);
    assert_eq!(call(&app, &calls, &[]).await.0, 429);
}

#[tokio::test]
async fn too_many_failed_authentications_cool_an_address_down() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder()
        .upstream(&whmcs.url)
        .rate_limit(RateLimitConfig {
            failed_auth_per_minute: 3,
            ..RateLimitConfig::default()
        })
        .start()
        .await;
    let (id, secret) = app.seed().await;
    for _ in 0..3 {
        assert_eq!(call(&app, &form(&id, "wrong"), &[]).await.0, 403);
    }
    // The fourth failure within the minute starts the cool-down ...
    let (status, _, body) = call(&app, &form(&id, "wrong"), &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (429, "result=error;message=Too many failed attempts;")
    );
    // ... and now even the right secret waits: no more guesses from here.
    let (status, retry, body) = call(&app, &form(&id, &secret), &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (429, "result=error;message=Too many failed attempts;")
    );
    assert!(retry.is_some());
    assert_eq!(whmcs.count(), 0);
}

#[tokio::test]
async fn metrics_report_a_degraded_shared_limiter() {
    let app = TestApp::builder()
        .rate_limit(RateLimitConfig {
            default: Some("10/s".parse().unwrap()),
            redis_url: Some(keygate_core::ConfigSecret::new("redis://127.0.0.1:1")),
            failed_auth_per_minute: 0,
            ..RateLimitConfig::default()
        })
        .start()
        .await;
    let (id, secret) = app.seed().await;
    let (status, _) = app
        .authorize(json!({"identifier": id, "secret": secret, "action": "GetTickets"}))
        .await;
    assert_eq!(status, 200, "answered from local limits");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("keygate_ratelimit_degraded 1"),
        "{metrics}"
    );
}
