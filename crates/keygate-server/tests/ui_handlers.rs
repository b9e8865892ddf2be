//! The admin UI's handlers in process (`oneshot` on `App::router()`): one
//! matrix of every route against every kind of caller, then the security
//! and validation behaviour that needs no browser.

mod ui_support;

use axum::http::{Method, StatusCode};
use keygate_store::{Manager, RoleInput};
use ui_support::{csrf_of, Client, TestApp, ADMIN, PASSWORD};

/// Everything the UI can change, to prove a refused request changed nothing.
async fn dump(manager: &Manager) -> String {
    format!(
        "{:?}\n{:?}\n{:?}",
        manager.list_roles().await.unwrap(),
        manager.list_credentials(None).await.unwrap(),
        manager.list_admins().await.unwrap()
    )
}

async fn role(manager: &Manager, name: &str, actions: &[&str]) -> i64 {
    let input = RoleInput {
        name: name.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        ..RoleInput::default()
    };
    manager.create_role(input).await.unwrap().id.0
}

async fn logged_in(app: &TestApp) -> (Client, String) {
    let mut client = app.client();
    let answer = client.login(ADMIN, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let csrf = client.csrf().await;
    (client, csrf)
}

struct Case {
    method: Method,
    path: String,
    fields: Vec<(&'static str, String)>,
    /// Status for a logged-in caller with the right token.
    ok: StatusCode,
    /// Start of `Location` for that caller, when it redirects.
    location: &'static str,
}

fn get(path: impl Into<String>, ok: StatusCode, location: &'static str) -> Case {
    Case {
        method: Method::GET,
        path: path.into(),
        fields: Vec::new(),
        ok,
        location,
    }
}

fn post(
    path: impl Into<String>,
    fields: Vec<(&'static str, String)>,
    location: &'static str,
) -> Case {
    Case {
        method: Method::POST,
        path: path.into(),
        fields,
        ok: StatusCode::SEE_OTHER,
        location,
    }
}

async fn call(client: &mut Client, case: &Case, csrf: &str) -> ui_support::Answer {
    if case.method == Method::GET {
        return client
            .send(Method::GET, &case.path, None, &[("x-csrf-token", csrf)])
            .await;
    }
    let mut fields: Vec<(&str, &str)> = vec![("csrf", csrf)];
    fields.extend(case.fields.iter().map(|(k, v)| (*k, v.as_str())));
    client.post(&case.path, &fields).await
}

/// Every UI route × {no session, session with a wrong CSRF token, session
/// with the right one}. Without a session every protected route leads to
/// the login; with a wrong token every POST is refused with 403; neither
/// changes anything; with both, each route does its job.
#[tokio::test]
async fn ui_route_matrix() {
    let app = TestApp::start(false).await;
    let m = &app.manager;
    m.add_admin("bob", "bob-password-1").await.unwrap();
    m.add_admin("carol", "carol-password-1").await.unwrap();
    let support = role(m, "Support", &["GetClients"]).await;
    let doomed = role(m, "Doomed", &[]).await;
    let (kept, _) = m
        .generate_credential(ADMIN, "kept", &["Support".into()])
        .await
        .unwrap();
    let (gone, _) = m.generate_credential(ADMIN, "gone", &[]).await.unwrap();
    let (mut alice, csrf) = logged_in(&app).await;
    let (ok, see) = (StatusCode::OK, StatusCode::SEE_OTHER);
    let id = |s: &str| s.to_string();
    let cases = vec![
        get("/admin/api-credentials", ok, ""),
        get(
            "/admin/api-credentials?tab=credentials&sort=last_access",
            ok,
            "",
        ),
        get("/admin/api-credentials/roles/new", ok, ""),
        get(
            format!("/admin/api-credentials/roles/{support}/edit"),
            ok,
            "",
        ),
        get(
            format!("/admin/api-credentials/roles/{doomed}/delete"),
            ok,
            "",
        ),
        get("/admin/api-credentials/credentials/new", ok, ""),
        get(
            "/admin/api-credentials/credentials/created",
            see,
            "/admin/api-credentials?tab=credentials",
        ),
        get(
            format!(
                "/admin/api-credentials/credentials/edit?identifier={}",
                kept.identifier
            ),
            ok,
            "",
        ),
        get(
            format!(
                "/admin/api-credentials/credentials/delete?identifier={}",
                gone.identifier
            ),
            ok,
            "",
        ),
        get("/admin/admins", ok, ""),
        get("/admin/admins/add", ok, ""),
        get("/admin/admins/password?username=bob", ok, ""),
        get("/admin/admins/remove?username=carol", ok, ""),
        post(
            "/admin/api-credentials/roles/new",
            vec![
                ("name", id("Billing")),
                ("actions", id("AddInvoicePayment")),
            ],
            "/admin/api-credentials?tab=roles",
        ),
        post(
            format!("/admin/api-credentials/roles/{support}/edit"),
            vec![("name", id("Support desk")), ("actions", id("GetClients"))],
            "/admin/api-credentials?tab=roles",
        ),
        post(
            format!("/admin/api-credentials/roles/{doomed}/delete"),
            vec![],
            "/admin/api-credentials?tab=roles",
        ),
        post(
            "/admin/api-credentials/credentials/new",
            vec![("admin", id("bob")), ("roles", support.to_string())],
            "/admin/api-credentials/credentials/created",
        ),
        post(
            "/admin/api-credentials/credentials/edit",
            vec![("identifier", kept.identifier.clone())],
            "/admin/api-credentials?tab=credentials",
        ),
        post(
            "/admin/api-credentials/credentials/description",
            vec![
                ("identifier", kept.identifier.clone()),
                ("description", id("new text")),
            ],
            "/admin/api-credentials?tab=credentials",
        ),
        post(
            "/admin/api-credentials/credentials/delete",
            vec![("identifier", gone.identifier.clone())],
            "/admin/api-credentials?tab=credentials",
        ),
        post(
            "/admin/admins/add",
            vec![
                ("username", id("dave")),
                ("password", id("dave-password")),
                ("password_repeat", id("dave-password")),
            ],
            "/admin/admins",
        ),
        post(
            "/admin/admins/password",
            vec![
                ("username", id("bob")),
                ("password", id("new-bob-pass")),
                ("password_repeat", id("new-bob-pass")),
            ],
            "/admin/admins",
        ),
        post(
            "/admin/admins/disable",
            vec![("username", id("bob"))],
            "/admin/admins",
        ),
        post(
            "/admin/admins/enable",
            vec![("username", id("bob"))],
            "/admin/admins",
        ),
        post(
            "/admin/admins/remove",
            vec![("username", id("carol"))],
            "/admin/admins",
        ),
        post("/admin/logout", vec![], "/admin/login"),
    ];
    for case in &cases {
        let what = format!("{} {}", case.method, case.path);
        let before = dump(m).await;

        let answer = call(&mut app.client(), case, &csrf).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "no session: {what}");
        assert_eq!(answer.location(), "/admin/login", "no session: {what}");

        let wrong = call(&mut alice, case, "WRONGxTOKENxWRONGxTOKENxWRONGxTO").await;
        let expected = if case.method == Method::GET {
            case.ok
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            wrong.status, expected,
            "wrong CSRF token: {what}: {}",
            wrong.body
        );
        assert_eq!(
            dump(m).await,
            before,
            "a refused request changed something: {what}"
        );

        let right = call(&mut alice, case, &csrf).await;
        assert_eq!(right.status, case.ok, "session: {what}: {}", right.body);
        assert!(
            right.location().starts_with(case.location),
            "session: {what}: {}",
            right.location()
        );
        assert!(
            right
                .header("content-security-policy")
                .contains("frame-ancestors 'none'"),
            "{what}"
        );
    }

    // After the logout the old session cookie is worthless.
    let answer = alice.get("/admin/api-credentials").await;
    assert_eq!(answer.location(), "/admin/login");

    // Routes open to everyone, for every caller.
    let mut bob = app.client();
    bob.login("bob", "new-bob-pass").await;
    for (path, status) in [
        ("/admin/login", StatusCode::SEE_OTHER),
        ("/admin/", StatusCode::SEE_OTHER),
        ("/admin", StatusCode::SEE_OTHER),
        ("/admin/assets/app.css", StatusCode::OK),
        ("/admin/assets/app.js", StatusCode::OK),
        ("/admin/assets/icon.svg", StatusCode::OK),
        ("/admin/assets/nope.js", StatusCode::NOT_FOUND),
        ("/admin/no-such-page", StatusCode::NOT_FOUND),
    ] {
        assert_eq!(bob.get(path).await.status, status, "session: {path}");
        let anonymous = app.client().get(path).await;
        let expected = if path == "/admin/login" {
            StatusCode::OK
        } else {
            status
        };
        assert_eq!(anonymous.status, expected, "no session: {path}");
    }
    assert_eq!(
        bob.get("/admin/").await.location(),
        "/admin/api-credentials"
    );
    assert_eq!(app.client().get("/admin/").await.location(), "/admin/login");

    // The login form itself needs its token.
    let mut stranger = app.client();
    let forged = stranger
        .post(
            "/admin/login",
            &[("username", ADMIN), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("keygate_session=")));
}

#[tokio::test]
async fn login_is_refused_throttled_and_sets_strict_cookies() {
    let app = TestApp::start(false).await;
    let mut client = app.client();
    let refused = client.login(ADMIN, "wrong password").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("Invalid username or password."));
    assert!(!client.cookies.contains_key("keygate_session"));
    for _ in 0..4 {
        client.login(ADMIN, "wrong password").await;
    }
    let throttled = client.login(ADMIN, PASSWORD).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    assert!(throttled.body.contains("Too many failed logins"));

    let mut other = app.client();
    let unknown = other.login("nobody", "whatever-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("Invalid username or password."));
    app.manager
        .add_admin("erin", "erin-password")
        .await
        .unwrap();
    app.manager.set_admin_enabled("erin", false).await.unwrap();
    assert_eq!(
        other.login("erin", "erin-password").await.status,
        StatusCode::UNAUTHORIZED,
        "disabled admin"
    );
    app.manager.set_admin_enabled("erin", true).await.unwrap();
    let accepted = other.login("erin", "erin-password").await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER);
    assert_eq!(accepted.location(), "/admin/api-credentials");
    let session = accepted
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("keygate_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/admin")
    );
    assert!(!session.contains("Secure"), "plain HTTP: no Secure flag");

    let secure = TestApp::start(true).await;
    let answer = secure.client().login(ADMIN, PASSWORD).await;
    let session = answer
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("keygate_session="))
        .unwrap();
    assert!(session.contains("; Secure"), "{session}");
}

#[tokio::test]
async fn disabled_or_removed_admin_loses_its_session() {
    let app = TestApp::start(false).await;
    app.manager.add_admin("bob", "bob-password").await.unwrap();
    let mut bob = app.client();
    bob.login("bob", "bob-password").await;
    assert_eq!(bob.get("/admin/admins").await.status, StatusCode::OK);
    app.manager.set_admin_enabled("bob", false).await.unwrap();
    assert_eq!(bob.get("/admin/admins").await.location(), "/admin/login");
    app.manager.set_admin_enabled("bob", true).await.unwrap();
    assert_eq!(
        bob.get("/admin/admins").await.location(),
        "/admin/login",
        "the session stays ended"
    );

    bob.login("bob", "bob-password").await;
    assert_eq!(bob.get("/admin/admins").await.status, StatusCode::OK);
    app.manager.remove_admin("bob").await.unwrap();
    app.manager.add_admin("bob", "bob-password").await.unwrap();
    assert_eq!(
        bob.get("/admin/admins").await.location(),
        "/admin/login",
        "same name, new admin"
    );

    // An admin cannot disable or remove itself from the UI.
    let (mut alice, csrf) = logged_in(&app).await;
    alice
        .post(
            "/admin/admins/disable",
            &[("csrf", &csrf), ("username", ADMIN)],
        )
        .await;
    assert!(app.manager.admin(ADMIN).await.unwrap().enabled);
    let page = alice.get("/admin/admins").await;
    assert!(
        page.body.contains("You cannot disable your own account"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn new_secret_is_shown_once_and_never_cached() {
    let app = TestApp::start(false).await;
    let (mut alice, csrf) = logged_in(&app).await;
    let no_roles = alice.get("/admin/api-credentials/credentials/new").await;
    assert!(no_roles.body.contains(keygate_core::NO_ROLES_MESSAGE));
    let refused = alice
        .post(
            "/admin/api-credentials/credentials/new",
            &[("csrf", &csrf), ("admin", ADMIN)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains(keygate_core::NO_ROLES_MESSAGE));

    let support = role(&app.manager, "Support", &["GetClients"])
        .await
        .to_string();
    let fields = [
        ("csrf", csrf.as_str()),
        ("admin", ADMIN),
        ("description", "ci"),
        ("roles", &support),
    ];
    let generated = alice
        .post("/admin/api-credentials/credentials/new", &fields)
        .await;
    assert_eq!(
        generated.location(),
        "/admin/api-credentials/credentials/created"
    );
    let shown = alice
        .get("/admin/api-credentials/credentials/created")
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.header("cache-control"), "no-store");
    let credential = app
        .manager
        .list_credentials(None)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(shown.body.contains(&credential.identifier));
    let marker = r#"id="new-secret" class="secret-value">"#;
    let start = shown.body.find(marker).unwrap() + marker.len();
    let secret = shown.body[start..].split('<').next().unwrap().to_string();
    assert_eq!(secret.len(), 32);
    let mut works = false;
    for _ in 0..100 {
        works = app
            .app
            .state()
            .live
            .load()
            .authenticate(&credential.identifier, &secret)
            .is_some();
        if works {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(works, "the shown secret works");
    let again = alice
        .get("/admin/api-credentials/credentials/created")
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let list = alice.get(again.location()).await;
    assert!(
        !list.body.contains(&secret),
        "the secret is never shown again"
    );
    assert!(list.body.contains("shown only once"));
}

#[tokio::test]
async fn validation_errors_rerender_and_output_is_escaped() {
    let app = TestApp::start(false).await;
    let (mut alice, csrf) = logged_in(&app).await;
    let xss = "<script>alert(1)</script>";
    let created = alice
        .post(
            "/admin/api-credentials/roles/new",
            &[
                ("csrf", &csrf),
                ("name", xss),
                ("description", "\"quoted\" & <b>"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let page = alice.get("/admin/api-credentials?tab=roles").await;
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(xss));
    assert!(
        page.body.contains("&#34;quoted&#34; &#38; &#60;b&#62;"),
        "{}",
        page.body
    );

    let duplicate = alice
        .post(
            "/admin/api-credentials/roles/new",
            &[("csrf", &csrf), ("name", &xss.to_uppercase())],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(
        duplicate.body.contains("role-form"),
        "the dialog is shown again"
    );
    let empty = alice
        .post(
            "/admin/api-credentials/roles/new",
            &[("csrf", &csrf), ("name", " "), ("actions", "GetClients")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("Role name must not be empty"));
    let tick = &empty.body[empty.body.find(r#"value="GetClients""#).unwrap()..];
    assert!(
        tick[..tick.find('>').unwrap()].contains("checked"),
        "ticks are kept"
    );
    let unknown = alice
        .post(
            "/admin/api-credentials/roles/new",
            &[("csrf", &csrf), ("name", "X"), ("actions", "NoSuchAction")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mismatch = alice
        .post(
            "/admin/admins/add",
            &[
                ("csrf", &csrf),
                ("username", "zed"),
                ("password", "password-1"),
                ("password_repeat", "password-2"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.body.contains("The passwords do not match"));
    let short = alice
        .post(
            "/admin/admins/add",
            &[
                ("csrf", &csrf),
                ("username", "zed"),
                ("password", "short"),
                ("password_repeat", "short"),
            ],
        )
        .await;
    assert!(short
        .body
        .contains("Password must be at least 8 characters"));

    for path in [
        "/admin/api-credentials/roles/abc/edit",
        "/admin/api-credentials/roles/999/delete",
        "/admin/api-credentials/credentials/edit?identifier=nope",
        "/admin/api-credentials/credentials/delete",
        "/admin/admins/password?username=%00",
    ] {
        let answer = alice.get(path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.body.contains("not found"), "{path}: {}", answer.body);
    }
    let answer = alice
        .post(
            "/admin/api-credentials/roles/999/edit",
            &[("csrf", &csrf), ("name", "x")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn description_edit_answers_json_to_the_script() {
    let app = TestApp::start(false).await;
    role(&app.manager, "Support", &[]).await;
    let (credential, _) = app
        .manager
        .generate_credential(ADMIN, "old", &[])
        .await
        .unwrap();
    let (mut alice, csrf) = logged_in(&app).await;
    let body = ui_support::encode(&[
        ("identifier", &credential.identifier),
        ("description", "  new  "),
    ]);
    let headers = [
        ("x-requested-with", "fetch"),
        ("x-csrf-token", csrf.as_str()),
    ];
    let answer = alice
        .send(
            Method::POST,
            "/admin/api-credentials/credentials/description",
            Some(body),
            &headers,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, r#"{"description":"new"}"#);
    let long = "x".repeat(300);
    let body = ui_support::encode(&[
        ("identifier", &credential.identifier),
        ("description", &long),
    ]);
    let answer = alice
        .send(
            Method::POST,
            "/admin/api-credentials/credentials/description",
            Some(body.clone()),
            &headers,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("at most 255 characters"));
    let forged = [("x-requested-with", "fetch")];
    let answer = alice
        .send(
            Method::POST,
            "/admin/api-credentials/credentials/description",
            Some(body),
            &forged,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.manager
            .credential(&credential.identifier)
            .await
            .unwrap()
            .description,
        "new"
    );
    let page = alice.get("/admin/api-credentials?tab=credentials").await;
    assert_eq!(csrf_of(&page.body), csrf);
}

#[tokio::test]
async fn ui_headers_stay_off_the_gateway() {
    let app = TestApp::start(false).await;
    let mut client = app.client();
    let login = client.get("/admin/login").await;
    let csp = login.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(login.header("x-frame-options"), "DENY");
    assert_eq!(login.header("cache-control"), "no-store");
    let health = client.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.header("content-security-policy"), "");
    let css = client.get("/admin/assets/app.css").await;
    assert!(css.header("cache-control").contains("immutable"));
    assert!(css.header("content-type").starts_with("text/css"));
}
