//! The WHMCS-compatible gateway through a real server on port 0, with a
//! recording stand-in for WHMCS: the whole error table in all three
//! formats, forwarding fidelity, and changes taking effect at once.

use std::time::Duration;

use keygate_testkit::app::{FakeWhmcs, Reply, TestApp};

/// One row of the error table: server, form, status, message.
type ErrorRow<'a> = (&'a TestApp, Vec<(&'a str, &'a str)>, u16, &'a str);

/// Expected body of an error in each format.
fn expected(format: &str, message: &str) -> (String, &'static str) {
    match format {
        "json" => (serde_json::json!({"result": "error", "message": message}).to_string(), "application/json"),
        "xml" => (
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<whmcsapi><result>error</result><message>{}</message></whmcsapi>",
                message.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
            ),
            "application/xml",
        ),
        _ => (format!("result=error;message={message};"), "text/plain"),
    }
}

#[tokio::test]
async fn every_error_row_in_every_format() {
    let dead_upstream = "http://127.0.0.1:9/includes/api.php";
    let app = TestApp::builder().upstream(dead_upstream).start().await;
    let no_upstream = TestApp::builder().start().await;
    let (id, secret) = app.seed().await;
    let (id2, secret2) = no_upstream.seed().await;
    let not_allowed = "Invalid Permissions: API action \"getinvoices\" is not allowed";
    let not_in_catalog = "Invalid Permissions: API action \"nosuchaction\" is not allowed";
    let names: Vec<String> = (0..1000).map(|i| format!("p{i}")).collect();
    let too_many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    for format in ["json", "xml", "nvp", ""] {
        let rows: Vec<ErrorRow> = vec![
            (
                &app,
                vec![("action", "GetTickets")],
                403,
                "Authentication Failed",
            ),
            (
                &app,
                vec![
                    ("identifier", "unknown"),
                    ("secret", &secret),
                    ("action", "GetTickets"),
                ],
                403,
                "Authentication Failed",
            ),
            (
                &app,
                vec![
                    ("identifier", &id),
                    ("secret", "wrong"),
                    ("action", "GetTickets"),
                ],
                403,
                "Authentication Failed",
            ),
            (
                &app,
                vec![("identifier", &id), ("secret", &secret)],
                400,
                "Parameter action is required",
            ),
            (
                &app,
                vec![("identifier", &id), ("secret", &secret), ("action", "")],
                400,
                "Parameter action is required",
            ),
            (
                &app,
                vec![
                    ("identifier", &id),
                    ("secret", &secret),
                    ("action", "GetInvoices"),
                ],
                403,
                not_allowed,
            ),
            (
                &app,
                vec![
                    ("identifier", &id),
                    ("secret", &secret),
                    ("action", "NoSuchAction"),
                ],
                403,
                not_in_catalog,
            ),
            (
                &app,
                vec![
                    ("identifier", &id),
                    ("secret", &secret),
                    ("action", "GetTickets"),
                    (" action", "DeleteClient"),
                ],
                400,
                "Ambiguous parameter: action",
            ),
            (
                &app,
                vec![
                    ("identifier", &id),
                    ("secret", &secret),
                    ("action[x]", "GetTickets"),
                ],
                400,
                "Ambiguous parameter: action",
            ),
            (
                &app,
                vec![
                    ("identifier", &id),
                    ("Secret", &secret),
                    ("secret", &secret),
                    ("action", "GetTickets"),
                ],
                400,
                "Ambiguous parameter: secret",
            ),
            (
                &app,
                [
                    vec![
                        ("identifier", id.as_str()),
                        ("secret", &secret),
                        ("action", "GetTickets"),
                    ],
                    too_many.clone(),
                ]
                .concat(),
                400,
                "Too many parameters",
            ),
            (
                &no_upstream,
                vec![
                    ("identifier", &id2),
                    ("secret", &secret2),
                    ("action", "GetTickets"),
                ],
                503,
                "No upstream is configured",
            ),
            (
                &app,
                vec![
                    ("identifier", &id),
                    ("secret", &secret),
                    ("action", "GetTickets"),
                ],
                502,
                "Upstream unavailable",
            ),
        ];
        for (target, mut form, status, message) in rows {
            if !format.is_empty() {
                form.push(("responsetype", format));
            }
            let answer = target.gateway_form(&form).await;
            let (body, content_type) = expected(format, message);
            assert_eq!(answer.status, status, "{format} {form:?}: {}", answer.body);
            assert_eq!(answer.body, body, "{format} {form:?}");
            assert_eq!(answer.content_type, content_type, "{format} {form:?}");
        }
    }
}

#[tokio::test]
async fn upstream_timeout_is_a_502() {
    let whmcs = FakeWhmcs::start().await;
    whmcs.reply_with(Reply {
        delay: Duration::from_secs(3),
        ..Reply::default()
    });
    let app = TestApp::builder()
        .upstream(&whmcs.url)
        .timeout(Duration::from_millis(300))
        .start()
        .await;
    let (id, secret) = app.seed().await;
    let answer = app
        .gateway_form(&[
            ("identifier", &id),
            ("secret", &secret),
            ("action", "GetTickets"),
            ("responsetype", "json"),
        ])
        .await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.body, expected("json", "Upstream unavailable").0);
}

#[tokio::test]
async fn forwarding_substitutes_the_credential_and_keeps_everything_else() {
    let whmcs = FakeWhmcs::start().await;
    whmcs.reply_with(Reply {
        status: 418,
        content_type: "text/x-whmcs; charset=utf-8",
        body: "result=success;teapot=1;",
        delay: Duration::ZERO,
    });
    let app = TestApp::builder()
        .upstream(&whmcs.url)
        .accesskey("ACCESS-KEY")
        .start()
        .await;
    let (id, secret) = app.seed().await;
    let url = app.url("/includes/api.php?action=GetTickets&status=Open&limitnum=5&note=from-query");
    let body = [
        ("identifier", id.as_str()),
        ("secret", secret.as_str()),
        ("accesskey", "client-supplied"),
        ("responsetype", "json"),
        ("pid[]", "1"),
        ("pid[]", "2"),
        ("customfields[0]", "a b&c=d"),
        ("note", "ünïcödé ✓"),
    ];
    let response = app.client.post(url).form(&body).send().await.unwrap();
    let answer = keygate_testkit::app::answer(response).await;
    assert_eq!(answer.status, 418, "upstream status passes through");
    assert_eq!(answer.content_type, "text/x-whmcs; charset=utf-8");
    assert_eq!(answer.body, "result=success;teapot=1;");

    let got = whmcs.last();
    assert_eq!(got.content_type, "application/x-www-form-urlencoded");
    // Canonical: arrays with explicit indexes, the body's value over the
    // query's in the query's place, `responsetype` after the parameters.
    let expected: Vec<(String, String)> = [
        ("action", "GetTickets"),
        ("status", "Open"),
        ("limitnum", "5"),
        ("note", "ünïcödé ✓"),
        ("pid[0]", "1"),
        ("pid[1]", "2"),
        ("customfields[0]", "a b&c=d"),
        ("responsetype", "json"),
        ("identifier", "MASTER-ID"),
        ("secret", "MASTER-SECRET"),
        ("accesskey", "ACCESS-KEY"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got.form, expected);
}

#[tokio::test]
async fn credential_variants_are_accepted() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let md5 = keygate_core::secret::hex(&md5_digest(&secret));
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("identifier", &id),
            ("secret", &secret),
            ("action", "GetTickets"),
        ],
        vec![
            ("identifier", &id),
            ("secret", &md5),
            ("action", "GetTickets"),
        ],
        vec![
            ("username", &id),
            ("password", &secret),
            ("action", "gettickets"),
        ],
        vec![
            ("username", &id),
            ("password", &md5),
            ("action", "GETTICKETS"),
        ],
        vec![
            ("identifier", &id),
            ("secret", &secret),
            ("action", "GetClientsData"),
        ],
        vec![
            ("identifier", &id),
            ("secret", &secret),
            ("action", "getclientsdatabyemail"),
        ],
    ];
    for form in cases {
        let answer = app.gateway_form(&form).await;
        assert_eq!(answer.status, 200, "{form:?}: {}", answer.body);
        let forwarded = whmcs.last().form;
        assert!(!forwarded
            .iter()
            .any(|(k, v)| (k == "username" || k == "password") || v == &secret || v == &md5));
    }
    // GET with everything in the query string.
    let answer = app
        .gateway_get(&[
            ("identifier", &id),
            ("secret", &secret),
            ("action", "GetTickets"),
        ])
        .await;
    assert_eq!(answer.status, 200);
    // Action in the query, credential in the body.
    let url = app.url("/includes/api.php?action=OpenTicket");
    let response = app
        .client
        .post(url)
        .form(&[("identifier", &id), ("secret", &secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(whmcs
        .last()
        .form
        .contains(&("action".into(), "OpenTicket".into())));
    // Multipart bodies.
    let form = reqwest::multipart::Form::new()
        .text("identifier", id.clone())
        .text("secret", secret.clone())
        .text("action", "GetTickets")
        .text("pid[0]", "7");
    let response = app
        .client
        .post(app.url("/includes/api.php"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(whmcs.last().form.contains(&("pid[0]".into(), "7".into())));
}

fn md5_digest(text: &str) -> Vec<u8> {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).to_vec()
}

#[tokio::test]
async fn changes_take_effect_at_once() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let call = |action: &'static str| {
        let (id, secret) = (id.clone(), secret.clone());
        let app = &app;
        async move {
            app.gateway_form(&[("identifier", &id), ("secret", &secret), ("action", action)])
                .await
                .status
        }
    };
    assert_eq!(call("GetTickets").await, 200);
    let edit = keygate_store::RoleEdit {
        allow: vec!["GetInvoices".into()],
        revoke: vec!["GetTickets".into()],
        ..Default::default()
    };
    app.manager.edit_role("Tickets", edit).await.unwrap();
    assert!(eventually(|| call("GetInvoices"), 200).await, "role edit");
    assert_eq!(call("GetTickets").await, 403);
    app.manager.set_admin_enabled("alice", false).await.unwrap();
    assert!(
        eventually(|| call("GetInvoices"), 403).await,
        "admin disabled"
    );
    app.manager.set_admin_enabled("alice", true).await.unwrap();
    assert!(
        eventually(|| call("GetInvoices"), 200).await,
        "admin enabled"
    );
    app.manager.delete_credential(&id).await.unwrap();
    assert!(
        eventually(|| call("GetInvoices"), 403).await,
        "credential deleted"
    );
}

/// Whether `call` answers `status` within one second.
async fn eventually<F, Fut>(mut call: F, status: u16) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        if call().await == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn oversized_bodies_get_413_in_the_requested_format() {
    let app = TestApp::builder().max_body(1024).start().await;
    let big = "x".repeat(4096);
    let url = app.url("/includes/api.php?responsetype=json");
    let response = app
        .client
        .post(url)
        .form(&[("action", "GetTickets"), ("blob", big.as_str())])
        .send()
        .await
        .unwrap();
    let answer = keygate_testkit::app::answer(response).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.content_type, "application/json");
    assert!(
        answer
            .body
            .contains("Request body too large (limit 1024 bytes)"),
        "{}",
        answer.body
    );
    let response = app
        .client
        .post(app.url("/includes/api.php"))
        .form(&[("blob", big.as_str())])
        .send()
        .await
        .unwrap();
    let answer = keygate_testkit::app::answer(response).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (413, "text/plain")
    );
}

#[tokio::test]
async fn many_parallel_clients_without_an_error() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let mut tasks = Vec::new();
    for client in 0..32 {
        let (client_http, url) = (app.client.clone(), app.url("/includes/api.php"));
        let (id, secret) = (id.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..25 {
                let action = if (client + i) % 2 == 0 {
                    "GetTickets"
                } else {
                    "GetInvoices"
                };
                let response = client_http
                    .post(&url)
                    .form(&[
                        ("identifier", id.as_str()),
                        ("secret", secret.as_str()),
                        ("action", action),
                    ])
                    .send()
                    .await
                    .unwrap();
                statuses.push((action, response.status().as_u16()));
            }
            statuses
        }));
    }
    let mut total = 0;
    for task in tasks {
        for (action, status) in task.await.unwrap() {
            let expected = if action == "GetTickets" { 200 } else { 403 };
            assert_eq!(status, expected);
            total += 1;
        }
    }
    assert_eq!(total, 800);
    assert_eq!(whmcs.count(), 400);
}

#[tokio::test]
async fn last_access_is_recorded_in_batches() {
    let app = TestApp::builder().start().await;
    let (id, secret) = app.seed().await;
    assert_eq!(app.manager.credential(&id).await.unwrap().last_access, None);
    app.authorize(serde_json::json!({"identifier": id, "secret": secret, "action": "GetTickets"}))
        .await;
    let mut recorded = None;
    for _ in 0..50 {
        recorded = app.manager.credential(&id).await.unwrap().last_access;
        if recorded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = keygate_store::now_secs();
    assert!(
        recorded.is_some_and(|t| (now - t).abs() < 5),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn last_access_is_flushed_on_shutdown() {
    let mut app = TestApp::builder().start().await;
    let (id, secret) = app.seed().await;
    app.gateway_form(&[
        ("identifier", &id),
        ("secret", &secret),
        ("action", "GetTickets"),
    ])
    .await;
    app.shutdown().await;
    assert!(app
        .manager
        .credential(&id)
        .await
        .unwrap()
        .last_access
        .is_some());
}
