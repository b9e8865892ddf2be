//! The gateway decides on parameter names as PHP reads them and forwards
//! only its own canonical form: the bypass vectors of the gateway-bypass
//! issue through a real server, with a recording stand-in for WHMCS that
//! shows what would have run. (The differential test against real PHP is
//! `php_differential.rs`.)

use keygate_testkit::app::{answer, Answer, FakeWhmcs, TestApp};

/// POSTs `body` with `content_type` (and `query`) to the gateway.
async fn post_raw(app: &TestApp, query: &str, content_type: &str, body: String) -> Answer {
    let response = app
        .client
        .post(app.url(&format!("/includes/api.php{query}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn names_php_maps_onto_a_special_name_are_refused_and_never_forwarded() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let credential = format!("identifier={id}&secret={secret}");
    let cases: &[(&str, &str, &str)] = &[
        ("", "action=GetTickets&%20action=DeleteClient", "action"),
        ("", "action=GetTickets&+action=DeleteClient", "action"),
        ("", "action=GetTickets&action%00x=DeleteClient", "action"),
        (
            "",
            "action=GetTickets&action.=x&ACTION=DeleteClient",
            "action",
        ),
        ("", "action[]=GetTickets", "action"),
        ("", "action[x]=GetTickets", "action"),
        ("", "action=GetTickets&action[x]=DeleteClient", "action"),
        ("?action=DeleteClient", "action=GetTickets", "action"),
        ("", "action=GetTickets&identifier%00=other", "identifier"),
        ("", "action=GetTickets&%20secret=other", "secret"),
        ("", "action=GetTickets&accesskey[]=k", "accesskey"),
        ("", "action=GetTickets&username=a&Username=b", "username"),
    ];
    for (query, body, name) in cases {
        let answer = post_raw(&app, query, FORM, format!("{credential}&{body}")).await;
        assert_eq!(answer.status, 400, "{query} {body}: {}", answer.body);
        assert_eq!(
            answer.body,
            format!("result=error;message=Ambiguous parameter: {name};"),
            "{query} {body}"
        );
    }
    // Two formats asked for: answered in the last one, as PHP would read it.
    let body = format!("{credential}&action=GetTickets&responsetype=json");
    let answer = post_raw(&app, "?responsetype=xml", FORM, body).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        r#"{"message":"Ambiguous parameter: responsetype","result":"error"}"#
    );
    assert_eq!(whmcs.count(), 0, "nothing ambiguous reaches the upstream");
}

#[tokio::test]
async fn a_multipart_field_named_like_a_special_name_is_refused() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let field = |name: &str, value: &str| {
        format!("--XX\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let body = [
        field("identifier", &id),
        field("secret", &secret),
        field("action", "GetTickets"),
        field(" action", "DeleteClient"),
        "--XX--\r\n".to_string(),
    ]
    .concat();
    let answer = post_raw(
        &app,
        "?responsetype=json",
        "multipart/form-data; boundary=XX",
        body,
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.content_type, "application/json");
    assert!(
        answer.body.contains("Ambiguous parameter: action"),
        "{}",
        answer.body
    );
    let upload = [
        field("identifier", &id),
        field("secret", &secret),
        "--XX\r\nContent-Disposition: form-data; name=\"action\"; filename=\"a\"\r\n\r\nGetTickets\r\n--XX--\r\n"
            .to_string(),
    ]
    .concat();
    let answer = post_raw(&app, "", "multipart/form-data; boundary=XX", upload).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        "result=error;message=Invalid request body: file uploads are not supported;"
    );
    assert_eq!(whmcs.count(), 0);
}

#[tokio::test]
async fn canonical_spellings_are_decided_on_and_forwarded_canonically() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    // PHP reads these as `identifier`, `secret` and `action`.
    let body = format!("%20identifier={id}&secret%00junk={secret}&++action=GetTickets&act.ion=x&action_=y&a[b=z&c[d]]=w");
    let answer = post_raw(&app, "", FORM, body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let expected: Vec<(String, String)> = [
        ("action", "GetTickets"),
        ("act_ion", "x"),
        ("action_", "y"),
        ("a_b", "z"),
        ("c[d]", "w"),
        ("identifier", "MASTER-ID"),
        ("secret", "MASTER-SECRET"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(whmcs.last().form, expected);

    // The decision reads the canonical action: a look-alike of a forbidden
    // action's name is not that action, and the real one is checked.
    let body = format!("identifier={id}&secret={secret}&action=GetTickets&action_=DeleteClient");
    assert_eq!(post_raw(&app, "", FORM, body).await.status, 200);
    let body = format!("identifier={id}&secret={secret}&%20action=DeleteClient");
    let answer = post_raw(&app, "", FORM, body).await;
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("\"deleteclient\" is not allowed"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn limits_are_refused_rather_than_truncated_upstream() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let credential = format!("identifier={id}&secret={secret}&action=GetTickets");
    let deep = format!("{credential}&a{}=1", "[x]".repeat(65));
    let answer = post_raw(&app, "", FORM, deep).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (
            400,
            "result=error;message=Parameter nested too deeply (limit 64);"
        )
    );
    let ok_deep = format!("{credential}&a{}=1", "[x]".repeat(64));
    assert_eq!(post_raw(&app, "", FORM, ok_deep).await.status, 200);
    // 995 + action = 996 pairs, plus identifier, secret (and accesskey)
    // makes 999 upstream: fits. One more pair would not.
    let fits: String = (0..995).map(|i| format!("&p{i}=1")).collect();
    assert_eq!(
        post_raw(&app, "", FORM, format!("{credential}{fits}"))
            .await
            .status,
        200
    );
    let answer = post_raw(&app, "", FORM, format!("{credential}{fits}&p995=1&p996=1")).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "result=error;message=Too many parameters;")
    );
    assert_eq!(whmcs.count(), 2);
}

#[tokio::test]
async fn only_the_bodies_php_reads_carry_parameters() {
    let whmcs = FakeWhmcs::start().await;
    let app = TestApp::builder().upstream(&whmcs.url).start().await;
    let (id, secret) = app.seed().await;
    let form = format!("identifier={id}&secret={secret}&action=GetTickets");
    let send = |method: reqwest::Method, content_type: Option<&'static str>| {
        let mut request = app
            .client
            .request(method, app.url("/includes/api.php"))
            .body(form.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // PHP reads a POST's form body by its media type, cut at `;`, `,` or a
    // space and compared in lowercase.
    assert_eq!(send(reqwest::Method::POST, Some(FORM)).await, 200);
    let odd = "Application/X-WWW-Form-Urlencoded, text/plain";
    assert_eq!(send(reqwest::Method::POST, Some(odd)).await, 200);
    // No content type, another one, or not a POST: PHP's `$_POST` stays
    // empty, so there is no credential.
    assert_eq!(send(reqwest::Method::POST, None).await, 403);
    assert_eq!(send(reqwest::Method::POST, Some("text/plain")).await, 403);
    assert_eq!(send(reqwest::Method::GET, Some(FORM)).await, 403);
    assert_eq!(whmcs.count(), 2);
}
