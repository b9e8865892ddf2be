//! The Audit page and the per-credential page in process (`oneshot` on
//! `App::router()`, issue 12): login required, CSRF on Tighten, the
//! filters and paging of the audit trail, UI changes audited in the
//! signed-in admin's name, the usage chart, the actions table and the
//! advisor over usage recorded in the real SQLite store.

use axum::http::StatusCode;
use keygate_core::usage::{hour_of, UsageOutcome};
use keygate_store::{AuditQuery, Manager, UsageCount};
use keygate_testkit::app::TestApp;
use keygate_testkit::ui::{role, Client, ADMIN};

fn now() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    elapsed.map_or(0, |d| d.as_secs() as i64)
}

/// Calls counted for `identifier`: (hours ago, action, outcome, count).
async fn record(manager: &Manager, identifier: &str, calls: &[(i64, &str, UsageOutcome, u64)]) {
    let counts: Vec<UsageCount> = calls
        .iter()
        .map(|&(ago, action, outcome, count)| UsageCount {
            identifier: identifier.to_string(),
            hour: hour_of(now() - ago * 3600),
            action: action.to_string(),
            outcome,
            count,
        })
        .collect();
    manager.store().record_usage(&counts).await.unwrap();
}

/// A role "Support" (GetClients, GetInvoices, AddOrder) and a credential
/// "Billing app" holding it; its identifier.
async fn seed(app: &TestApp) -> String {
    role(
        &app.manager,
        "Support",
        &["GetClients", "GetInvoices", "AddOrder"],
    )
    .await;
    let (credential, _) = app
        .manager
        .generate_credential(
            ADMIN,
            "Billing app",
            &["Support".into()],
            Default::default(),
        )
        .await
        .unwrap();
    credential.identifier
}

/// How many audit rows a page lists.
fn rows(body: &str) -> usize {
    body.matches("class=\"audit-row\"").count()
}

#[tokio::test]
async fn pages_need_a_session_and_tighten_needs_the_csrf_token() {
    let app = TestApp::start_ui(false).await;
    let identifier = seed(&app).await;
    let page = format!("/admin/api-credentials/{identifier}");
    let mut anonymous = app.ui_client();
    for path in ["/admin/audit", page.as_str(), &format!("{page}/tighten")] {
        let answer = anonymous.get(path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert!(answer.location().starts_with("/admin/login"), "{path}");
    }
    record(
        &app.manager,
        &identifier,
        &[(1, "GetClients", UsageOutcome::Allowed, 3)],
    )
    .await;
    let tighten = format!("{page}/tighten");
    let answer = anonymous.post(&tighten, &[("days", "30")]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(answer.location().starts_with("/admin/login"));

    let (mut client, csrf) = app.logged_in().await;
    for bad in ["", "not-the-token"] {
        let answer = client
            .post(&tighten, &[("csrf", bad), ("days", "30")])
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    }
    let credential = app.manager.credential(&identifier).await.unwrap();
    assert_eq!(credential.roles.len(), 1);
    assert_eq!(
        credential.roles[0].name, "Support",
        "a refused POST changes nothing"
    );

    let answer = client
        .post(&tighten, &[("csrf", &csrf), ("days", "30")])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), page);
    let credential = app.manager.credential(&identifier).await.unwrap();
    let names: Vec<&str> = credential.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Least privilege for Billing app"]);
    let shown = client.get(&page).await;
    assert!(
        shown.body.contains("now holds only the role"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Least privilege for Billing app"));
}

#[tokio::test]
async fn ui_changes_are_audited_as_the_signed_in_admin() {
    let app = TestApp::start_ui(false).await;
    let (mut client, csrf) = app.logged_in().await;
    let answer = client
        .post(
            "/admin/api-credentials/roles/new",
            &[
                ("csrf", &csrf),
                ("name", "Helpdesk"),
                ("description", "Tickets"),
                ("actions", "GetTickets"),
                ("actions", "OpenTicket"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let answer = client
        .post(
            "/admin/admins/add",
            &[
                ("csrf", &csrf),
                ("username", "bob"),
                ("password", "bob-password-1"),
                ("password_repeat", "bob-password-1"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);

    let found = app
        .manager
        .audit_events(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let verbs: Vec<(&str, &str)> = found
        .events
        .iter()
        .map(|e| (e.verb.as_str(), e.actor.as_str()))
        .collect();
    assert!(verbs.contains(&("role.create", ADMIN)), "{verbs:?}");
    assert!(verbs.contains(&("admin.add", ADMIN)), "{verbs:?}");

    let page = client.get("/admin/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(
        body.contains(r#"href="/admin/audit" aria-current="page""#),
        "navigation"
    );
    let helpdesk = body
        .find(r#"data-verb="role.create""#)
        .expect("role event listed");
    let bob = body.find(r#"data-verb="admin.add" data-actor="alice" data-target="bob""#);
    assert!(bob.expect("admin event listed") < helpdesk, "newest first");
    assert!(
        body.contains("actions:"),
        "the actions of a new role are shown"
    );
    assert!(body.contains("GetTickets, OpenTicket"), "{body}");
}

#[tokio::test]
async fn filters_narrow_and_bad_values_are_explained() {
    let app = TestApp::start_ui(false).await;
    let identifier = seed(&app).await;
    let other = role(&app.manager, "Other", &["GetOrders"]).await;
    let (mut client, _) = app.logged_in().await;

    let all = client.get("/admin/audit").await;
    assert!(rows(&all.body) >= 3, "{}", all.body);

    let mine = client
        .get(&format!("/admin/audit?target={identifier}"))
        .await;
    assert_eq!(rows(&mine.body), 1, "{}", mine.body);
    assert!(mine.body.contains(r#"data-verb="credential.generate""#));
    assert!(mine
        .body
        .contains(&format!(r#"href="/admin/api-credentials/{identifier}""#)));

    let by_description = client.get("/admin/audit?target=billing+APP").await;
    assert_eq!(
        rows(&by_description.body),
        1,
        "descriptions match ignoring case"
    );

    let role_events = client.get(&format!("/admin/audit?target={other}")).await;
    assert_eq!(rows(&role_events.body), 1);
    assert!(role_events.body.contains(r#"data-verb="role.create""#));

    let nobody = client.get("/admin/audit?actor=nobody").await;
    assert_eq!(nobody.status, StatusCode::OK);
    assert_eq!(rows(&nobody.body), 0);
    assert!(nobody.body.contains("No changes match"));

    let future = client.get("/admin/audit?since=2999-01-01").await;
    assert_eq!(rows(&future.body), 0);
    let past = client.get("/admin/audit?since=2000-01-01").await;
    assert_eq!(rows(&past.body), rows(&all.body));

    for bad in ["yesterday", "2026-02-30", "31.01.2026"] {
        let answer = client.get(&format!("/admin/audit?since={bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.body.contains("YYYY-MM-DD"), "{}", answer.body);
        assert!(
            answer.body.contains(r#"id="audit-filters""#),
            "the form stays"
        );
    }
    let long = client
        .get(&format!("/admin/audit?actor={}", "a".repeat(300)))
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.body.contains("too long"));
}

#[tokio::test]
async fn the_trail_is_paged_fifty_at_a_time() {
    let app = TestApp::start_ui(false).await;
    // With the admin added at start: 58 events.
    for i in 0..57 {
        role(&app.manager, &format!("Role {i:02}"), &["GetClients"]).await;
    }
    let (mut client, _) = app.logged_in().await;
    let first = client.get("/admin/audit").await;
    assert_eq!(rows(&first.body), 50);
    assert!(
        first.body.contains("Showing 1–50 of 58 changes"),
        "{}",
        first.body
    );
    assert!(first
        .body
        .contains(r#"rel="next" href="/admin/audit?page=2""#));
    assert!(first.body.contains("Role 56") && !first.body.contains("Role 06<"));
    let second = client.get("/admin/audit?page=2").await;
    assert_eq!(rows(&second.body), 8);
    assert!(second.body.contains("Showing 51–58 of 58 changes"));
    assert!(second.body.contains(r#"rel="prev" href="/admin/audit""#));
    for huge in ["18446744073709551615", "99999999999999999999999", "-3"] {
        let answer = client.get(&format!("/admin/audit?page={huge}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{huge}: {}", answer.body);
    }
    let beyond = client.get("/admin/audit?page=99").await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert!(
        beyond.body.contains("Showing 51–58 of 58 changes"),
        "past the end: the last page"
    );
    let filtered = client.get("/admin/audit?actor=system&page=2").await;
    assert!(
        filtered.body.contains("href=\"/admin/audit?actor=system\""),
        "page links keep the filters"
    );
}

#[tokio::test]
async fn credential_page_shows_usage_actions_and_advice() {
    let app = TestApp::start_ui(false).await;
    let identifier = seed(&app).await;
    record(
        &app.manager,
        &identifier,
        &[
            (2, "GetClients", UsageOutcome::Allowed, 7),
            (30, "GetClients", UsageOutcome::Allowed, 2),
            (5, "DeleteClient", UsageOutcome::ActionNotAllowed, 4),
            (3, "GetInvoices", UsageOutcome::RateLimited, 1),
        ],
    )
    .await;
    let (mut client, _) = app.logged_in().await;
    let page = format!("/admin/api-credentials/{identifier}");
    let answer = client.get(&page).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = &answer.body;
    assert!(body.contains("<svg class=\"usage-chart\""), "chart");
    assert!(body.contains("9 allowed and 5 denied calls in the last 30 days."));
    assert!(body.contains("<title id=\"usage-title\">Calls per day, the last 30 days</title>"));
    assert!(body.contains(r#"data-action="GetClients" data-allowed="9" data-denied="0""#));
    assert!(body.contains(r#"data-action="DeleteClient" data-allowed="0" data-denied="4""#));
    assert!(body.contains("action not allowed: 4"));
    assert!(body.contains("rate limited: 1"));
    assert!(body.contains("Billing app") && body.contains(">Support</a>"));
    assert!(body.contains(&format!("/admin/audit?target={identifier}")));
    assert!(body.contains("“Least privilege for Billing app” with exactly the 1 action used"));
    assert!(
        body.contains(r#"id="advice-denied""#),
        "denied attempts listed"
    );
    assert!(body.contains(r#"<button type="submit" class="btn btn-primary" id="tighten">"#));

    let hourly = client.get(&format!("{page}?days=1")).await;
    assert!(hourly.body.contains("Calls per hour, the last 24 hours"));
    assert!(
        hourly.body.contains("7 allowed and 5 denied calls"),
        "{}",
        hourly.body
    );

    let dialog = client.get(&format!("{page}/tighten?days=30")).await;
    assert_eq!(dialog.status, StatusCode::OK);
    assert!(dialog.body.contains("role=\"alertdialog\""));
    assert!(
        dialog
            .body
            .contains("It loses 2 actions: AddOrder, GetInvoices."),
        "{}",
        dialog.body
    );
    assert!(dialog.body.contains(&format!(r#"action="{page}/tighten""#)));

    for bad in ["0", "91", "x"] {
        let answer = client.get(&format!("{page}?days={bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.body.contains("from 1 to 90"));
    }
    let missing = client.get("/admin/api-credentials/NoSuchCredential").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("not found"), "{}", missing.body);

    let tab = client.get("/admin/api-credentials?tab=credentials").await;
    assert!(
        tab.body.contains(&format!(r#"href="{page}""#)),
        "rows link to the page"
    );
    assert!(tab
        .body
        .contains(&format!(r#"href="/admin/audit?target={identifier}""#)));
    let roles = client.get("/admin/api-credentials?tab=roles").await;
    assert!(
        roles.body.contains(r#"href="/admin/audit?target=1""#),
        "roles link to their trail"
    );
}

#[tokio::test]
async fn nothing_to_tighten_is_explained_and_refused() {
    let app = TestApp::start_ui(false).await;
    let identifier = seed(&app).await;
    let (mut client, csrf) = app.logged_in().await;
    let page = format!("/admin/api-credentials/{identifier}");
    let idle = client.get(&page).await;
    assert!(
        idle.body.contains(r#"id="tighten" disabled"#),
        "{}",
        idle.body
    );
    assert!(idle.body.contains("It called none of its allowed actions"));
    assert!(idle.body.contains("No calls in the last 30 days."));
    let dialog = client.get(&format!("{page}/tighten")).await;
    assert!(
        !dialog.body.contains("alertdialog"),
        "no dialog when nothing changes"
    );

    let answer = client
        .post(
            &format!("{page}/tighten"),
            &[("csrf", &csrf), ("days", "30")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let after = client.get(answer.location()).await;
    assert!(
        after
            .body
            .contains("nothing to base a least-privilege role on"),
        "{}",
        after.body
    );
    let credential = app.manager.credential(&identifier).await.unwrap();
    assert_eq!(credential.roles[0].name, "Support");

    record(
        &app.manager,
        &identifier,
        &[
            (1, "GetClients", UsageOutcome::Allowed, 1),
            (1, "GetInvoices", UsageOutcome::Allowed, 1),
            (1, "AddOrder", UsageOutcome::Allowed, 1),
        ],
    )
    .await;
    let full = client.get(&page).await;
    assert!(
        full.body.contains("already has least privilege"),
        "{}",
        full.body
    );
    assert!(full.body.contains(r#"id="tighten" disabled"#));
}

/// Identifiers with characters that are not safe in a path (imported
/// legacy identifiers may hold any printable character) still get a page.
#[tokio::test]
async fn odd_identifiers_get_a_page() {
    let app = TestApp::start_ui(false).await;
    seed(&app).await;
    let odd = "legacy.id/with?odd%chars#";
    app.manager
        .import_credential(ADMIN, odd, "legacy-secret-value", "Legacy")
        .await
        .unwrap();
    let (mut client, _): (Client, String) = app.logged_in().await;
    let tab = client.get("/admin/api-credentials?tab=credentials").await;
    let href = "/admin/api-credentials/legacy.id%2Fwith%3Fodd%25chars%23";
    assert!(tab.body.contains(href), "{}", tab.body);
    let page = client.get(href).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("legacy.id/with?odd%chars#"));

    // Identifiers that are also names of the screen's own paths.
    for name in ["roles", "credentials"] {
        app.manager
            .import_credential(ADMIN, name, "legacy-secret-value", "")
            .await
            .unwrap();
        let page = client.get(&format!("/admin/api-credentials/{name}")).await;
        assert_eq!(page.status, StatusCode::OK, "{name}: {}", page.body);
        assert!(page.body.contains(&format!("data-identifier=\"{name}\"")));
    }
}
