//! Admin API tokens on the Admins page, handlers in process: a created
//! token is shown once (a reload does not show it again) and works with the
//! management API's check; the list never shows a token, only its prefix,
//! admin, description and times; revoking asks first and needs the CSRF
//! token; changes are audited as the signed-in admin; bad input re-renders
//! the dialog with a clear message. Then the same workflow in headless
//! Chromium (`tests/browser/`), with screenshots.

mod browser;

use anyhow::{ensure, Result};
use axum::http::StatusCode;
use keygate_store::{AuditQuery, TokenRefusal};
use keygate_testkit::app::TestApp;
use keygate_testkit::ui::{Client, ADMIN};

const ADMINS: &str = "/admin/admins";
const NEW: &str = "/admin/admins/tokens/new";
const CREATED: &str = "/admin/admins/tokens/created";
const REVOKE: &str = "/admin/admins/tokens/revoke";

/// A form's fields.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// The text of the shown token in a page, if any.
fn shown_token(page: &str) -> Option<String> {
    let marker = r#"id="new-token" class="secret-value">"#;
    let start = page.find(marker)? + marker.len();
    Some(page[start..].split('<').next()?.to_string())
}

/// Creates a token through the dialog; the answer to the POST.
async fn create(client: &mut Client, csrf: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    let answer = client.post(NEW, &form).await;
    let location = answer.location().to_string();
    (
        answer.status,
        if location.is_empty() {
            answer.body
        } else {
            location
        },
    )
}

#[tokio::test]
async fn a_created_token_is_shown_once_and_works() {
    let app = TestApp::start_ui(false).await;
    let (mut alice, csrf) = app.logged_in().await;
    let page = alice.get(ADMINS).await;
    assert!(page.body.contains("Create API Token"));
    assert!(page.body.contains("No API token yet."));
    let form = alice.get(NEW).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"id="token-form""#));

    let fields = [
        ("admin", ADMIN),
        ("description", "terraform"),
        ("expires", "90d"),
    ];
    let (status, location) = create(&mut alice, &csrf, &fields).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, CREATED)
    );
    let shown = alice.get(CREATED).await;
    assert_eq!(shown.status, StatusCode::OK);
    let token = shown_token(&shown.body).expect("the token is shown");
    assert!(token.starts_with("kgat_"), "{token}");
    assert!(shown.body.contains("Copy the token now."));

    let checked = app.manager.authenticate_token(&token).await.unwrap();
    let made = checked.expect("the token works");
    assert_eq!(made.admin, ADMIN);
    assert_eq!(made.description, "terraform");
    assert!(made.expires_at.is_some());

    let reload = alice.get(CREATED).await;
    assert_eq!(reload.status, StatusCode::SEE_OTHER, "shown only once");
    let list = alice.get(reload.location()).await;
    assert!(list.body.contains("An API token is shown only once"));
    assert!(
        !list.body.contains(&token),
        "the list never shows the token"
    );
    assert!(!list.body.contains(&token[9..]));
    assert!(list.body.contains(&made.prefix), "its prefix is shown");
    assert!(list.body.contains("terraform"));
    assert!(list.body.contains(r#"aria-label="Revoke API token"#));

    let query = AuditQuery {
        limit: 5,
        ..AuditQuery::default()
    };
    let events = app.manager.audit_events(&query).await.unwrap().events;
    let event = events.iter().find(|e| e.verb == "token.create").unwrap();
    assert_eq!(event.actor, ADMIN, "audited as the signed-in admin");
    assert!(!event.changes.contains(&token[9..]));
}

#[tokio::test]
async fn revoking_asks_first_and_needs_the_csrf_token() {
    let app = TestApp::start_ui(false).await;
    let (made, token) = app.manager.create_token(ADMIN, "ci", None).await.unwrap();
    let (mut alice, csrf) = app.logged_in().await;
    let id = made.id.0.to_string();

    let confirm = alice.get(&format!("{REVOKE}?id={id}")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Revoke API Token"));
    assert!(confirm.body.contains(&made.prefix));
    let works = app
        .manager
        .authenticate_token(token.expose())
        .await
        .unwrap();
    assert!(works.is_ok(), "asking revokes nothing");

    let refused = alice.post(REVOKE, &[("id", &id)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no CSRF token");
    let forged = alice.post(REVOKE, &[("id", &id), ("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let works = app
        .manager
        .authenticate_token(token.expose())
        .await
        .unwrap();
    assert!(works.is_ok(), "refused requests revoke nothing");

    let revoked = alice.post(REVOKE, &[("id", &id), ("csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.location(), ADMINS);
    let page = alice.get(ADMINS).await;
    assert!(page
        .body
        .contains(&format!("API token {} of alice revoked.", made.prefix)));
    assert_eq!(
        app.manager
            .authenticate_token(token.expose())
            .await
            .unwrap(),
        Err(TokenRefusal::Unknown)
    );
    let events = app
        .manager
        .audit_events(&AuditQuery {
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(
        (events[0].verb.as_str(), events[0].actor.as_str()),
        ("token.revoke", ADMIN)
    );

    for path in [format!("{REVOKE}?id={id}"), format!("{REVOKE}?id=abc")] {
        assert_eq!(
            alice.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let gone = alice.post(REVOKE, &[("id", &id), ("csrf", &csrf)]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_rerenders_the_dialog() {
    let app = TestApp::start_ui(false).await;
    let (mut alice, csrf) = app.logged_in().await;
    let cases: [(Fields, StatusCode, &str); 4] = [
        (
            &[("admin", "nobody"), ("expires", "never")],
            StatusCode::NOT_FOUND,
            "Admin &#34;nobody&#34; not found",
        ),
        (
            &[
                ("admin", ADMIN),
                ("expires", "custom"),
                ("expires_at", "soon"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "is not a date",
        ),
        (
            &[
                ("admin", ADMIN),
                ("expires", "custom"),
                ("expires_at", "2001-01-01"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "in the future",
        ),
        (
            &[("admin", ADMIN), ("expires", "tomorrow")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unknown expiry choice",
        ),
    ];
    for (fields, status, message) in cases {
        let (got, body) = create(&mut alice, &csrf, fields).await;
        assert_eq!(got, status, "{fields:?}: {body}");
        assert!(body.contains(r#"id="token-form""#), "the dialog again");
        assert!(body.contains(message), "{message}: {body}");
    }
    assert!(app.manager.list_tokens(None).await.unwrap().is_empty());
    let no_csrf = alice
        .post(NEW, &[("admin", ADMIN), ("expires", "never")])
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert!(app.manager.list_tokens(None).await.unwrap().is_empty());
}

async fn browser_steps(ui: &browser::Ui) -> Result<()> {
    ui.log_in().await?;
    ui.go(ADMINS).await?;
    ui.click_button("Create API Token").await?;
    ui.fill("#token-description", "terraform").await?;
    ui.click_button("Create").await?;
    let token = ui.css("#new-token").await?.text().await?;
    ensure!(token.starts_with("kgat_"), "{token}");
    ui.shot("token-created").await?;
    let checked = ui.app.manager.authenticate_token(&token).await?;
    ensure!(checked.is_ok(), "the token shown works");

    ui.go(ADMINS).await?;
    let row = ui.css("tr.token-row").await?.text().await?;
    ensure!(row.contains("terraform") && row.contains("kgat_"), "{row}");
    ensure!(
        !ui.page_has(&token).await?,
        "the list never shows the token"
    );
    ui.shot("admins-tokens").await?;
    ui.xpath("//button[starts-with(@aria-label, 'Revoke API token')]")
        .await?
        .click()
        .await?;
    ui.wait_text("#dialog-title", "Revoke API Token").await?;
    // The row behind the dialog has a "Revoke" button too.
    ui.css("#confirm-form button[type=submit]")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-flash]", "revoked").await?;
    let refused = ui.app.manager.authenticate_token(&token).await?;
    ensure!(refused == Err(TokenRefusal::Unknown), "revoked");
    Ok(())
}

/// The workflow in a browser: create, see once, list, revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_the_browser() {
    browser::with_browser("ui_tokens", |ui| Box::pin(browser_steps(ui))).await;
}
