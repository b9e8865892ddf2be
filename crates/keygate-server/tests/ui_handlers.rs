//! The admin UI's handlers in process (`oneshot` on `App::router()`): one
//! matrix of every route against every kind of caller, then the security
//! and validation behaviour that needs no browser.

use axum::http::{Method, StatusCode};
use keygate_store::Manager;
use keygate_testkit::app::TestApp;
use keygate_testkit::ui::{csrf_of, encode, role, Answer, Client, ADMIN, PASSWORD};

/// Everything the UI can change, to prove a refused request changed nothing.
async fn dump(manager: &Manager) -> String {
    format!(
        "{:?}\n{:?}\n{:?}",
        manager.list_roles().await.unwrap(),
        manager.list_credentials(None).await.unwrap(),
        manager.list_admins().await.unwrap()
    )
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

async fn call(client: &mut Client, case: &Case, csrf: &str) -> Answer {
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
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    m.add_admin("bob", "bob-password-1").await.unwrap();
    m.add_admin("carol", "carol-password-1").await.unwrap();
    let support = role(m, "Support", &["GetClients"]).await;
    let doomed = role(m, "Doomed", &[]).await;
    let (kept, _) = m
        .generate_credential(ADMIN, "kept", &["Support".into()], Default::default())
        .await
        .unwrap();
    let (gone, _) = m
        .generate_credential(ADMIN, "gone", &[], Default::default())
        .await
        .unwrap();
    let (toggled, _) = m
        .generate_credential(ADMIN, "toggled", &[], Default::default())
        .await
        .unwrap();
    let (mut alice, csrf) = app.logged_in().await;
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
        get(
            format!(
                "/admin/api-credentials/credentials/rotate?identifier={}",
                kept.identifier
            ),
            ok,
            "",
        ),
        get(
            format!(
                "/admin/api-credentials/credentials/disable?identifier={}",
                toggled.identifier
            ),
            ok,
            "",
        ),
        get("/admin/admins", ok, ""),
        get("/admin/admins/add", ok, ""),
        get("/admin/admins/password?username=bob", ok, ""),
        get("/admin/admins/disable?username=bob", ok, ""),
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
            "/admin/api-credentials/credentials/edit",
            vec![
                ("identifier", kept.identifier.clone()),
                ("roles", support.to_string()),
                ("expires", id("90d")),
                ("allow_ips", id("203.0.113.0/24")),
                ("rate_limit", id("600/m")),
            ],
            "/admin/api-credentials?tab=credentials",
        ),
        post(
            "/admin/api-credentials/credentials/rotate",
            vec![
                ("identifier", kept.identifier.clone()),
                ("overlap", id("24h")),
            ],
            "/admin/api-credentials/credentials/created",
        ),
        post(
            "/admin/api-credentials/credentials/disable",
            vec![("identifier", toggled.identifier.clone())],
            "/admin/api-credentials?tab=credentials",
        ),
        post(
            "/admin/api-credentials/credentials/enable",
            vec![("identifier", toggled.identifier.clone())],
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

        let answer = call(&mut app.ui_client(), case, &csrf).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "no session: {what}");
        assert!(
            answer.location().starts_with("/admin/login"),
            "no session: {what}: {}",
            answer.location()
        );

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
    assert!(answer
        .location()
        .starts_with("/admin/login?next=%2Fadmin%2Fapi-credentials"));

    // Routes open to everyone, for every caller.
    let mut bob = app.ui_client();
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
        let anonymous = app.ui_client().get(path).await;
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
    assert_eq!(
        app.ui_client().get("/admin/").await.location(),
        "/admin/login"
    );

    // The login form itself needs its token.
    let mut stranger = app.ui_client();
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
    let app = TestApp::start_ui(false).await;
    let mut client = app.ui_client();
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

    let mut other = app.ui_client();
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

    let secure = TestApp::start_ui(true).await;
    let answer = secure.ui_client().login(ADMIN, PASSWORD).await;
    let session = answer
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("keygate_session="))
        .unwrap();
    assert!(session.contains("; Secure"), "{session}");
}

#[tokio::test]
async fn disabled_or_removed_admin_loses_its_session() {
    let app = TestApp::start_ui(false).await;
    app.manager.add_admin("bob", "bob-password").await.unwrap();
    let mut bob = app.ui_client();
    bob.login("bob", "bob-password").await;
    assert_eq!(bob.get("/admin/admins").await.status, StatusCode::OK);
    app.manager.set_admin_enabled("bob", false).await.unwrap();
    assert_eq!(
        bob.get("/admin/admins").await.location(),
        "/admin/login?next=%2Fadmin%2Fadmins&ended=1"
    );
    app.manager.set_admin_enabled("bob", true).await.unwrap();
    assert!(
        bob.get("/admin/admins")
            .await
            .location()
            .starts_with("/admin/login?next=%2Fadmin%2Fadmins"),
        "the session stays ended"
    );

    bob.login("bob", "bob-password").await;
    assert_eq!(bob.get("/admin/admins").await.status, StatusCode::OK);
    app.manager.remove_admin("bob").await.unwrap();
    app.manager.add_admin("bob", "bob-password").await.unwrap();
    assert_eq!(
        bob.get("/admin/admins").await.location(),
        "/admin/login?next=%2Fadmin%2Fadmins&ended=1",
        "same name, new admin"
    );

    // An admin cannot disable or remove itself from the UI.
    let (mut alice, csrf) = app.logged_in().await;
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
    let app = TestApp::start_ui(false).await;
    let (mut alice, csrf) = app.logged_in().await;
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
            .app()
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
    let app = TestApp::start_ui(false).await;
    let (mut alice, csrf) = app.logged_in().await;
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
    let app = TestApp::start_ui(false).await;
    role(&app.manager, "Support", &[]).await;
    let (credential, _) = app
        .manager
        .generate_credential(ADMIN, "old", &[], Default::default())
        .await
        .unwrap();
    let (mut alice, csrf) = app.logged_in().await;
    let body = encode(&[
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
    let body = encode(&[
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
    let app = TestApp::start_ui(false).await;
    let mut client = app.ui_client();
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

// ---- credential lifecycle: expiry, allowlist, rate limit, disable, rotate ----

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The credentials table's row of `identifier` in a page.
fn row<'a>(page: &'a str, identifier: &str) -> &'a str {
    let start = page
        .find(&format!(r#"data-identifier="{identifier}""#))
        .unwrap_or_else(|| panic!("no row for {identifier}"));
    let rest = &page[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

/// The opening tag of the element with this id.
fn tag<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let open = page[..start].rfind('<').unwrap();
    &page[open..start + page[start..].find('>').unwrap()]
}

/// The secret shown by the one-time dialog.
fn shown_secret(page: &str) -> String {
    let marker = r#"id="new-secret" class="secret-value">"#;
    let start = page.find(marker).expect("the secret is shown") + marker.len();
    page[start..].split('<').next().unwrap().to_string()
}

/// Asks the sidecar (through the same router) until it answers `status`
/// with `reason` (`None`: allowed); returns the last answer's body.
async fn sidecar(
    client: &mut Client,
    identifier: &str,
    secret: &str,
    status: u16,
    reason: Option<&str>,
) {
    let body =
        serde_json::json!({ "identifier": identifier, "secret": secret, "action": "GetClients" })
            .to_string();
    let mut last = String::new();
    for _ in 0..100 {
        let answer = client
            .send(Method::POST, "/v1/authorize", Some(body.clone()), &[])
            .await;
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        if answer.status.as_u16() == status && json["reason"].as_str() == reason {
            return;
        }
        last = format!("{} {}", answer.status, answer.body);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("expected {status} {reason:?} from the sidecar, got {last}");
}

/// Generate with an expiry, an allowlist and a rate limit. Each mistake
/// re-renders the dialog (422) with a message naming it, the field marked
/// invalid and everything typed kept, and creates nothing.
#[tokio::test]
async fn generate_with_expiry_allowlist_and_rate_limit() {
    let app = TestApp::start_ui(false).await;
    let support = role(&app.manager, "Support", &["GetClients"])
        .await
        .to_string();
    let (mut alice, csrf) = app.logged_in().await;
    let form = alice.get("/admin/api-credentials/credentials/new").await;
    assert!(tag(&form.body, "gen-expires").contains(r#"name="expires""#));
    assert!(form
        .body
        .contains(r#"<option value="never" selected>Never</option>"#));
    for field in ["gen-expires-at", "gen-allow-ips", "gen-rate-limit"] {
        assert!(
            form.body.contains(&format!(r#"<label for="{field}">"#)),
            "{field} has a label"
        );
    }
    let base = [
        ("csrf", csrf.as_str()),
        ("admin", ADMIN),
        ("description", "Partner feed"),
        ("roles", support.as_str()),
    ];
    // Extra fields, the message shown, the id of the field marked invalid.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 6] = [
        (
            &[
                ("expires", "never"),
                ("allow_ips", "203.0.113.0/24\n10.0.0.300"),
            ],
            "line 2: &#34;10.0.0.300&#34; is not an IP address or network",
            "gen-allow-ips",
        ),
        (
            &[("expires", "never"), ("rate_limit", "600/day")],
            "Rate limit &#34;600/day&#34; is not a rate",
            "gen-rate-limit",
        ),
        (
            &[("expires", "custom"), ("expires_at", "2020-01-01T00:00")],
            "The expiry must be in the future: 2020-01-01 00:00 UTC has passed.",
            "gen-expires-at",
        ),
        (
            &[("expires", "custom"), ("expires_at", "")],
            "Enter the expiry date and time (UTC)",
            "gen-expires-at",
        ),
        (
            &[("expires", "custom"), ("expires_at", "31/12/2030")],
            "is not a date",
            "gen-expires-at",
        ),
        (
            &[("expires", "someday")],
            "Unknown expiry choice",
            "gen-expires",
        ),
    ];
    let before = dump(&app.manager).await;
    for (extra, message, invalid) in cases {
        let mut fields = base.to_vec();
        fields.extend_from_slice(extra);
        fields.push(("allow_ips", "2001:db8::/32"));
        let answer = alice
            .post("/admin/api-credentials/credentials/new", &fields)
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{extra:?}");
        assert!(answer.body.contains("generate-form"), "the dialog again");
        assert!(answer.body.contains(message), "{extra:?}: {}", answer.body);
        let marked = tag(&answer.body, invalid);
        assert!(
            marked.contains(r#"aria-invalid="true""#) && marked.contains("form-error"),
            "{invalid} marked: {marked}"
        );
        assert!(
            answer.body.contains(r#"value="Partner feed""#),
            "typed values kept"
        );
        assert!(
            tag(&answer.body, &format!("gen-role-{support}")).contains("checked"),
            "ticks kept"
        );
        assert_eq!(
            dump(&app.manager).await,
            before,
            "{extra:?} created something"
        );
    }
    // Everything typed comes back, the first allowlist line included.
    let answer = alice
        .post(
            "/admin/api-credentials/credentials/new",
            &[
                base.as_slice(),
                &[
                    ("expires", "custom"),
                    ("expires_at", "2031-05-20T12:30"),
                    ("allow_ips", "203.0.113.0/24\nnope"),
                    ("rate_limit", "7/s"),
                ],
            ]
            .concat(),
        )
        .await;
    assert!(answer.body.contains(r#"<option value="custom" selected>"#));
    assert!(tag(&answer.body, "gen-expires-at").contains(r#"value="2031-05-20T12:30""#));
    assert!(answer.body.contains(">203.0.113.0/24\nnope</textarea>"));
    assert!(tag(&answer.body, "gen-rate-limit").contains(r#"value="7/s""#));

    let fields = [
        base.as_slice(),
        &[
            ("expires", "custom"),
            ("expires_at", "2031-05-20T12:30"),
            ("allow_ips", "203.0.113.0/24\r\n2001:db8::/32\n\n10.0.0.1"),
            ("rate_limit", " 600/m "),
        ],
    ]
    .concat();
    let generated = alice
        .post("/admin/api-credentials/credentials/new", &fields)
        .await;
    assert_eq!(
        generated.status,
        StatusCode::SEE_OTHER,
        "{}",
        generated.body
    );
    assert_eq!(
        generated.location(),
        "/admin/api-credentials/credentials/created"
    );
    let shown = alice.get(generated.location()).await;
    assert!(shown.body.contains("API Credential Generated"));
    assert!(!shown.body.contains("old-secret-until"));
    let credential = app
        .manager
        .list_credentials(None)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let lifecycle = &credential.lifecycle;
    assert!(lifecycle.enabled);
    assert_eq!(lifecycle.expires_at, Some(1_937_046_600));
    let nets: Vec<String> = lifecycle.allow_ips.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["203.0.113.0/24", "2001:db8::/32", "10.0.0.1/32"]);
    assert_eq!(lifecycle.rate_limit.unwrap().to_string(), "600/m");
    let list = alice.get("/admin/api-credentials?tab=credentials").await;
    let listed = row(&list.body, &credential.identifier);
    assert!(listed.contains(r#"data-status="Enabled""#), "{listed}");
    assert!(listed.contains(">Enabled</span>"));
    assert!(listed.contains(r#"datetime="2031-05-20T12:30:00Z""#));
    assert!(listed.contains("2031-05-20") && listed.contains("12:30 UTC"));
    assert!(listed.contains("203.0.113.0/24") && listed.contains("2001:db8::/32"));
    assert!(listed.contains("Rate limit <code>600/m</code>"));

    // A preset counts from now; no expiry, allowlist or rate by default.
    let preset = [base.as_slice(), &[("expires", "30d")]].concat();
    alice
        .post("/admin/api-credentials/credentials/new", &preset)
        .await;
    let credential = app
        .manager
        .list_credentials(None)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let at = credential.lifecycle.expires_at.unwrap();
    assert!(
        (now() + 30 * 86_400 - 5..=now() + 30 * 86_400).contains(&at),
        "{at}"
    );
    assert!(credential.lifecycle.allow_ips.is_empty());
    assert_eq!(credential.lifecycle.rate_limit, None);
    let list = alice.get("/admin/api-credentials?tab=credentials").await;
    let listed = row(&list.body, &credential.identifier);
    assert!(
        listed.contains("Any IP address") && listed.contains("Default rate"),
        "{listed}"
    );
}

/// The Edit dialog extends (or clears) the expiry and replaces the
/// allowlist and rate limit, together with the roles in one transaction:
/// a mistake in any field changes nothing at all.
#[tokio::test]
async fn edit_extends_the_expiry_and_replaces_the_limits() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    let support = role(m, "Support", &["GetClients"]).await;
    let billing = role(m, "Billing", &["GetInvoices"]).await.to_string();
    let expires = now() + 3600;
    let lifecycle = keygate_core::model::Lifecycle {
        expires_at: Some(expires),
        allow_ips: vec!["10.0.0.0/8".parse().unwrap()],
        rate_limit: Some("10/s".parse().unwrap()),
        ..Default::default()
    };
    let (credential, _) = m
        .generate_credential(ADMIN, "sync", &["Support".into()], lifecycle)
        .await
        .unwrap();
    let id = credential.identifier.clone();
    let (mut alice, csrf) = app.logged_in().await;
    let form = alice
        .get(&format!(
            "/admin/api-credentials/credentials/edit?identifier={id}"
        ))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body
            .contains(r#"<option value="keep" selected>Keep (expires "#),
        "{}",
        form.body
    );
    assert!(form.body.contains(">10.0.0.0/8</textarea>"));
    assert!(tag(&form.body, "edit-rate-limit").contains(r#"value="10/s""#));
    assert!(form.body.contains("Currently expires"));
    let edit = "/admin/api-credentials/credentials/edit";
    let base = [
        ("csrf", csrf.as_str()),
        ("identifier", id.as_str()),
        ("roles", billing.as_str()),
    ];
    let before = dump(m).await;
    for (extra, message) in [
        (
            [
                ("expires", "custom"),
                ("expires_at", "2001-01-01T00:00"),
                ("rate_limit", ""),
            ],
            "The expiry must be in the future",
        ),
        (
            [
                ("expires", "1y"),
                ("allow_ips", "::1/129"),
                ("rate_limit", ""),
            ],
            "&#34;::1/129&#34; is not an IP address or network",
        ),
        (
            [("expires", "1y"), ("allow_ips", ""), ("rate_limit", "fast")],
            "Rate limit &#34;fast&#34; is not a rate",
        ),
    ] {
        let fields = [base.as_slice(), extra.as_slice()].concat();
        let answer = alice.post(edit, &fields).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{extra:?}");
        assert!(answer.body.contains("edit-credential-form"));
        assert!(answer.body.contains(message), "{extra:?}: {}", answer.body);
        assert!(
            tag(&answer.body, &format!("edit-role-{billing}")).contains("checked"),
            "the roles picked are kept"
        );
        assert_eq!(dump(m).await, before, "{extra:?}: nothing is half-written");
    }
    let refused = alice
        .post(edit, &[("identifier", id.as_str()), ("expires", "never")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(dump(m).await, before);

    // Keep the expiry, any address, the default rate, other roles.
    let fields = [
        base.as_slice(),
        &[
            ("expires", "keep"),
            ("expires_at", ""),
            ("allow_ips", ""),
            ("rate_limit", ""),
        ],
    ]
    .concat();
    let saved = alice.post(edit, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let list = alice.get(saved.location()).await;
    assert!(list.body.contains(&format!("API credential {id} saved.")));
    let c = m.credential(&id).await.unwrap();
    assert_eq!(c.lifecycle.expires_at, Some(expires));
    assert!(c.lifecycle.allow_ips.is_empty());
    assert_eq!(c.lifecycle.rate_limit, None);
    assert_eq!(c.roles.len(), 1);
    assert_ne!(c.roles[0].id.0, support);

    // Extend by a year, then a custom date, then never.
    let fields = [
        base.as_slice(),
        &[("expires", "1y"), ("allow_ips", "192.0.2.1\n192.0.2.0/24")],
    ]
    .concat();
    alice.post(edit, &fields).await;
    let c = m.credential(&id).await.unwrap();
    let at = c.lifecycle.expires_at.unwrap();
    assert!((now() + 365 * 86_400 - 5..=now() + 365 * 86_400).contains(&at));
    assert_eq!(c.lifecycle.allow_ips.len(), 2);
    let fields = [
        base.as_slice(),
        &[("expires", "custom"), ("expires_at", "2040-02-29T23:59")],
    ]
    .concat();
    alice.post(edit, &fields).await;
    let c = m.credential(&id).await.unwrap();
    assert_eq!(c.lifecycle.expires_at, Some(2_214_172_740));
    assert_eq!(c.lifecycle.allow_ips.len(), 2, "a field not sent stays");
    alice
        .post(edit, &[base.as_slice(), &[("expires", "never")]].concat())
        .await;
    assert_eq!(m.credential(&id).await.unwrap().lifecycle.expires_at, None);

    let missing = alice
        .post(
            edit,
            &[
                ("csrf", csrf.as_str()),
                ("identifier", "nope"),
                ("expires", "never"),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// The client scope (DESIGN.md "Client scope") in the Generate and Edit
/// dialogs: a labelled "Client IDs" field (commas or spaces), a mistake
/// re-rendered (422) with the field marked and the text kept, nothing
/// written; the list shows one "Client #N" badge per client.
#[tokio::test]
async fn generate_and_edit_bind_a_credential_to_clients() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    let support = role(m, "Support", &["GetClients"]).await.to_string();
    let (mut alice, csrf) = app.logged_in().await;
    let form = alice.get("/admin/api-credentials/credentials/new").await;
    assert!(
        form.body
            .contains(r#"<label for="gen-client-ids">Client IDs</label>"#),
        "a labelled field"
    );
    let field = tag(&form.body, "gen-client-ids");
    assert!(field.contains(r#"name="client_ids""#), "{field}");
    assert!(field.contains(r#"value="""#), "empty by default: {field}");
    assert!(!field.contains("aria-invalid"), "{field}");
    let new = "/admin/api-credentials/credentials/new";
    let base = [
        ("csrf", csrf.as_str()),
        ("admin", ADMIN),
        ("description", "Client portal"),
        ("roles", support.as_str()),
        ("expires", "never"),
    ];
    let before = dump(m).await;
    for (typed, message) in [
        ("12, acme", "Client IDs: &#34;acme&#34; is not a client ID"),
        ("0", "&#34;0&#34; is not a client ID"),
        ("-5", "&#34;-5&#34; is not a client ID"),
        ("12;40", "&#34;12;40&#34; is not a client ID"),
        ("99999999999999999999", "a positive whole number"),
    ] {
        let fields = [base.as_slice(), &[("client_ids", typed)]].concat();
        let answer = alice.post(new, &fields).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{typed}");
        assert!(answer.body.contains("generate-form"), "the dialog again");
        assert!(answer.body.contains(message), "{typed}: {}", answer.body);
        let marked = tag(&answer.body, "gen-client-ids");
        assert!(
            marked.contains(r#"aria-invalid="true""#) && marked.contains("form-error"),
            "marked: {marked}"
        );
        assert!(
            marked.contains(&format!(r#"value="{typed}""#)),
            "typed value kept: {marked}"
        );
        assert!(answer.body.contains(r#"value="Client portal""#));
        assert_eq!(dump(m).await, before, "{typed}: nothing created");
    }
    let many: String = (1..=65).map(|i| format!("{i},")).collect();
    let fields = [base.as_slice(), &[("client_ids", many.as_str())]].concat();
    let answer = alice.post(new, &fields).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("at most 64 clients (65 given)"));
    assert_eq!(dump(m).await, before);

    // Commas, spaces, new lines, duplicates: stored sorted, once each.
    let fields = [base.as_slice(), &[("client_ids", " 40, 12\n12  7 ")]].concat();
    let generated = alice.post(new, &fields).await;
    assert_eq!(
        generated.status,
        StatusCode::SEE_OTHER,
        "{}",
        generated.body
    );
    let scoped = m.list_credentials(None).await.unwrap().pop().unwrap();
    let ids: Vec<i64> = scoped.lifecycle.client_ids.iter().map(|c| c.0).collect();
    assert_eq!(ids, [7, 12, 40]);
    // Without the field (or empty): not scoped.
    let (open, _) = m
        .generate_credential(ADMIN, "open", &["Support".into()], Default::default())
        .await
        .unwrap();
    let fields = [base.as_slice(), &[("client_ids", "")]].concat();
    alice.post(new, &fields).await;
    let empty = m.list_credentials(None).await.unwrap().pop().unwrap();
    assert!(empty.lifecycle.client_ids.is_empty());

    let list = alice.get("/admin/api-credentials?tab=credentials").await;
    let listed = row(&list.body, &scoped.identifier);
    for id in [7, 12, 40] {
        assert!(
            listed.contains(&format!(
                r#"<span class="chip chip-client">Client #{id}</span>"#
            )),
            "a badge for client {id}: {listed}"
        );
    }
    assert_eq!(listed.matches("chip-client").count(), 3, "one per client");
    let badges: Vec<usize> = ["Client #7<", "Client #12<", "Client #40<"]
        .iter()
        .map(|b| listed.find(b).unwrap())
        .collect();
    assert!(badges.windows(2).all(|w| w[0] < w[1]), "in order");
    for unscoped in [&open.identifier, &empty.identifier] {
        assert!(
            !row(&list.body, unscoped).contains("Client #"),
            "no badge without a scope"
        );
    }

    // Edit shows the ids, replaces them, keeps them when the field is not
    // sent, and clears them when it is empty.
    let edit = "/admin/api-credentials/credentials/edit";
    let id = scoped.identifier.clone();
    let form = alice.get(&format!("{edit}?identifier={id}")).await;
    assert!(form
        .body
        .contains(r#"<label for="edit-client-ids">Client IDs</label>"#));
    assert!(tag(&form.body, "edit-client-ids").contains(r#"value="7, 12, 40""#));
    let edit_base = [
        ("csrf", csrf.as_str()),
        ("identifier", id.as_str()),
        ("roles", support.as_str()),
        ("expires", "keep"),
    ];
    let before = dump(m).await;
    let answer = alice
        .post(
            edit,
            &[edit_base.as_slice(), &[("client_ids", "12 x")]].concat(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.body.contains("edit-credential-form"));
    assert!(answer.body.contains("&#34;x&#34; is not a client ID"));
    let marked = tag(&answer.body, "edit-client-ids");
    assert!(marked.contains(r#"aria-invalid="true""#), "{marked}");
    assert!(marked.contains(r#"value="12 x""#), "{marked}");
    assert_eq!(dump(m).await, before, "nothing is half-written");

    let saved = alice
        .post(
            edit,
            &[edit_base.as_slice(), &[("client_ids", "#99, 5")]].concat(),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let ids: Vec<i64> = m
        .credential(&id)
        .await
        .unwrap()
        .lifecycle
        .client_ids
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(ids, [5, 99]);
    alice
        .post(
            edit,
            &[edit_base.as_slice(), &[("allow_ips", "10.0.0.0/8")]].concat(),
        )
        .await;
    let c = m.credential(&id).await.unwrap();
    assert_eq!(c.lifecycle.client_ids.len(), 2, "a field not sent stays");
    assert_eq!(c.lifecycle.allow_ips.len(), 1);
    alice
        .post(
            edit,
            &[edit_base.as_slice(), &[("client_ids", " ")]].concat(),
        )
        .await;
    let c = m.credential(&id).await.unwrap();
    assert!(c.lifecycle.client_ids.is_empty(), "cleared");
    let list = alice.get("/admin/api-credentials?tab=credentials").await;
    assert!(!row(&list.body, &id).contains("Client #"));
}

/// Disable asks first and then refuses the credential (`disabled`) with a
/// Disabled badge; Enable (no question) makes it work again.
#[tokio::test]
async fn disable_asks_first_and_enable_restores() {
    let app = TestApp::start_ui(false).await;
    role(&app.manager, "Support", &["GetClients"]).await;
    let (credential, secret) = app
        .manager
        .generate_credential(
            ADMIN,
            "Billing sync",
            &["Support".into()],
            Default::default(),
        )
        .await
        .unwrap();
    let (id, secret) = (credential.identifier.clone(), secret.expose().to_string());
    let (mut alice, csrf) = app.logged_in().await;
    let list = alice.get("/admin/api-credentials?tab=credentials").await;
    let listed = row(&list.body, &id);
    assert!(
        listed.contains(&format!(
            r#"aria-label="Disable credential {id} (Billing sync)">Disable</button>"#
        )),
        "{listed}"
    );
    assert!(listed.contains(&format!(
        r#"aria-label="Rotate the secret of credential {id} (Billing sync)">Rotate</button>"#
    )));

    let confirm = alice
        .get(&format!(
            "/admin/api-credentials/credentials/disable?identifier={id}"
        ))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm
        .body
        .contains(&format!("Disable the API credential {id} (Billing sync)?")));
    assert!(confirm
        .body
        .contains(r#"action="/admin/api-credentials/credentials/disable""#));
    assert!(
        app.manager.credential(&id).await.unwrap().lifecycle.enabled,
        "asking changes nothing"
    );

    let disable = "/admin/api-credentials/credentials/disable";
    let refused = alice.post(disable, &[("identifier", id.as_str())]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no CSRF token");
    assert!(app.manager.credential(&id).await.unwrap().lifecycle.enabled);
    let mut anonymous = app.ui_client();
    let answer = anonymous
        .post(
            disable,
            &[("csrf", csrf.as_str()), ("identifier", id.as_str())],
        )
        .await;
    assert_eq!(answer.location(), "/admin/login?ended=unsaved");
    assert!(app.manager.credential(&id).await.unwrap().lifecycle.enabled);

    let done = alice
        .post(
            disable,
            &[("csrf", csrf.as_str()), ("identifier", id.as_str())],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), "/admin/api-credentials?tab=credentials");
    assert!(!app.manager.credential(&id).await.unwrap().lifecycle.enabled);
    sidecar(&mut alice, &id, &secret, 401, Some("disabled")).await;
    let list = alice.get(done.location()).await;
    assert!(list
        .body
        .contains("disabled: it is refused until it is enabled again"));
    let listed = row(&list.body, &id);
    assert!(listed.contains(r#"data-status="Disabled""#));
    assert!(listed.contains(r#"<span class="badge-status status-disabled">Disabled</span>"#));
    assert!(listed.contains(&format!(
        r#"aria-label="Enable credential {id} (Billing sync)">Enable</button>"#
    )));
    assert!(listed.contains(r#"action="/admin/api-credentials/credentials/enable""#));
    assert!(listed.contains(&format!(r#"name="csrf" value="{csrf}""#)));

    let enable = "/admin/api-credentials/credentials/enable";
    let refused = alice
        .post(
            enable,
            &[
                ("csrf", "WRONGxTOKENxWRONGxTOKENxWRONGxTO"),
                ("identifier", id.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!app.manager.credential(&id).await.unwrap().lifecycle.enabled);
    let done = alice
        .post(
            enable,
            &[("csrf", csrf.as_str()), ("identifier", id.as_str())],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(app.manager.credential(&id).await.unwrap().lifecycle.enabled);
    sidecar(&mut alice, &id, &secret, 200, None).await;
    let list = alice.get(done.location()).await;
    assert!(list.body.contains(&format!("API credential {id} enabled.")));
    assert!(row(&list.body, &id).contains(r#"data-status="Enabled""#));

    for path in [disable, enable] {
        let answer = alice
            .post(path, &[("csrf", csrf.as_str()), ("identifier", "nope")])
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.body.contains("not found"));
    }
    let answer = alice
        .get("/admin/api-credentials/credentials/disable?identifier=nope")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

/// Rotate: the overlap choice (24 hours unless changed), the new secret
/// shown once in the same dialog as a generated one, with the old secret's
/// end; both secrets work during the overlap, and the list shows its end.
#[tokio::test]
async fn rotate_shows_the_new_secret_once_and_keeps_the_old_one_for_the_overlap() {
    let app = TestApp::start_ui(false).await;
    role(&app.manager, "Support", &["GetClients"]).await;
    let (credential, first) = app
        .manager
        .generate_credential(
            ADMIN,
            "Billing sync",
            &["Support".into()],
            Default::default(),
        )
        .await
        .unwrap();
    let (id, first) = (credential.identifier.clone(), first.expose().to_string());
    let (mut alice, csrf) = app.logged_in().await;
    let form = alice
        .get(&format!(
            "/admin/api-credentials/credentials/rotate?identifier={id}"
        ))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("rotate-form"));
    assert!(
        tag(&form.body, "overlap-24h").contains("checked"),
        "24 hours by default"
    );
    for other in ["overlap-0", "overlap-1h", "overlap-7d"] {
        assert!(!tag(&form.body, other).contains("checked"), "{other}");
    }
    assert!(!form.body.contains("pending-rotation"));

    let rotate = "/admin/api-credentials/credentials/rotate";
    let before = dump(&app.manager).await;
    for overlap in ["2h", ""] {
        let answer = alice
            .post(
                rotate,
                &[
                    ("csrf", csrf.as_str()),
                    ("identifier", id.as_str()),
                    ("overlap", overlap),
                ],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{overlap:?}"
        );
        assert!(answer.body.contains("rotate-form"));
        assert!(answer
            .body
            .contains("Choose how long the old secret keeps working"));
        assert!(tag(&answer.body, "overlap-24h").contains("checked"));
    }
    let refused = alice
        .post(rotate, &[("identifier", id.as_str()), ("overlap", "24h")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no CSRF token");
    let unknown = alice
        .post(
            rotate,
            &[
                ("csrf", csrf.as_str()),
                ("identifier", "nope"),
                ("overlap", "24h"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(dump(&app.manager).await, before, "nothing rotated");
    sidecar(&mut alice, &id, &first, 200, None).await;

    let started = now();
    let rotated = alice
        .post(
            rotate,
            &[
                ("csrf", csrf.as_str()),
                ("identifier", id.as_str()),
                ("overlap", "24h"),
            ],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER, "{}", rotated.body);
    assert_eq!(
        rotated.location(),
        "/admin/api-credentials/credentials/created"
    );
    let until = app
        .manager
        .credential(&id)
        .await
        .unwrap()
        .old_secret_valid_until
        .unwrap();
    assert!(
        (started + 86_400..=now() + 86_400 + 1).contains(&until),
        "{until}"
    );
    let shown = alice.get(rotated.location()).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.header("cache-control"), "no-store");
    assert!(shown.body.contains("Secret Rotated"));
    assert!(shown.body.contains("Copy the secret now."));
    assert!(shown.body.contains(&id));
    let second = shown_secret(&shown.body);
    assert_eq!(second.len(), 32);
    assert_ne!(second, first);
    let old = &shown.body[shown.body.find(r#"id="old-secret-until""#).unwrap()..];
    assert!(old.starts_with(r#"id="old-secret-until">The old secret keeps working until"#));
    let iso = stamp_iso(until);
    assert!(old.contains(&format!(r#"datetime="{iso}""#)), "{old}");
    sidecar(&mut alice, &id, &second, 200, None).await;
    sidecar(&mut alice, &id, &first, 200, None).await;

    let again = alice.get(rotated.location()).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "shown once");
    let list = alice.get(again.location()).await;
    assert!(!list.body.contains(&second));
    assert!(list.body.contains("shown only once"));
    let listed = row(&list.body, &id);
    assert!(listed.contains("Old secret until"), "{listed}");
    assert!(listed.contains(&format!(r#"datetime="{iso}""#)));

    // Rotating again warns that the pending old secret stops, and with no
    // overlap the replaced secret stops at once.
    let form = alice
        .get(&format!(
            "/admin/api-credentials/credentials/rotate?identifier={id}"
        ))
        .await;
    assert!(form.body.contains("pending-rotation"));
    let rotated = alice
        .post(
            rotate,
            &[
                ("csrf", csrf.as_str()),
                ("identifier", id.as_str()),
                ("overlap", "0"),
            ],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER);
    let shown = alice.get(rotated.location()).await;
    assert!(shown.body.contains("The old secret has stopped working."));
    let third = shown_secret(&shown.body);
    assert_eq!(
        app.manager
            .credential(&id)
            .await
            .unwrap()
            .old_secret_valid_until,
        None
    );
    sidecar(&mut alice, &id, &third, 200, None).await;
    sidecar(&mut alice, &id, &second, 401, Some("authentication_failed")).await;
    sidecar(&mut alice, &id, &first, 401, Some("authentication_failed")).await;
    let list = alice.get("/admin/api-credentials?tab=credentials").await;
    assert!(!row(&list.body, &id).contains("Old secret until"));
}

/// RFC 3339 of unix seconds, as `<time datetime>` carries it.
fn stamp_iso(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rest = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A credential past its expiry is listed as Expired (also when disabled:
/// both badges), the Edit dialog says so and offers to extend it.
#[tokio::test]
async fn expired_credentials_are_marked() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    role(m, "Support", &["GetClients"]).await;
    let soon = now() + 2;
    let lifecycle = keygate_core::model::Lifecycle {
        expires_at: Some(soon),
        ..Default::default()
    };
    let (short, secret) = m
        .generate_credential(ADMIN, "short", &["Support".into()], lifecycle.clone())
        .await
        .unwrap();
    let (both, _) = m
        .generate_credential(ADMIN, "both", &["Support".into()], lifecycle)
        .await
        .unwrap();
    m.set_credential_enabled(&both.identifier, false)
        .await
        .unwrap();
    while now() <= soon {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (mut alice, csrf) = app.logged_in().await;
    sidecar(
        &mut alice,
        &short.identifier,
        secret.expose(),
        401,
        Some("expired"),
    )
    .await;
    let list = alice.get("/admin/api-credentials?tab=credentials").await;
    let listed = row(&list.body, &short.identifier);
    assert!(listed.contains(r#"data-status="Expired""#), "{listed}");
    assert!(listed.contains(r#"<span class="badge-status status-expired">Expired</span>"#));
    assert!(!listed.contains("status-enabled"));
    assert!(listed.contains("(expired)"));
    let listed = row(&list.body, &both.identifier);
    assert!(
        listed.contains(">Disabled</span>") && listed.contains(">Expired</span>"),
        "{listed}"
    );

    let form = alice
        .get(&format!(
            "/admin/api-credentials/credentials/edit?identifier={}",
            short.identifier
        ))
        .await;
    assert!(form
        .body
        .contains(r#"<option value="keep" selected>Keep (expired "#));
    assert!(form.body.contains("Expired</strong> on"));
    // Enabling does not revive an expired credential: the notice says so.
    let answer = alice
        .post(
            "/admin/api-credentials/credentials/enable",
            &[
                ("csrf", csrf.as_str()),
                ("identifier", both.identifier.as_str()),
            ],
        )
        .await;
    let list = alice.get(answer.location()).await;
    assert!(
        list.body.contains("enabled, but it expired on"),
        "{}",
        list.body
    );
    // Extending it does.
    let saved = alice
        .post(
            "/admin/api-credentials/credentials/edit",
            &[
                ("csrf", csrf.as_str()),
                ("identifier", short.identifier.as_str()),
                ("roles", &m.role("Support").await.unwrap().id.0.to_string()),
                ("expires", "90d"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    sidecar(&mut alice, &short.identifier, secret.expose(), 200, None).await;
    let list = alice.get(saved.location()).await;
    assert!(row(&list.body, &short.identifier).contains(r#"data-status="Enabled""#));
}
