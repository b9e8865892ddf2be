//! The credentials tab flags what is unused (issue 12): credentials not
//! used for 90 days (never used and created that long ago, or last used
//! that long ago) carry a badge with text and have a filter of their own,
//! and a notice names the roles no credential holds, linking to them on
//! the roles tab. In process on the handlers, then in headless Chromium
//! (see `browser/mod.rs`).

mod browser;

use anyhow::{ensure, Result};
use axum::http::StatusCode;
use browser::Ui;
use fantoccini::Locator;
use keygate_core::model::Lifecycle;
use keygate_store::{CredentialEdit, Manager, RoleInput};
use keygate_testkit::app::TestApp;
use keygate_testkit::ui::ADMIN;

const LIST: &str = "/admin/api-credentials?tab=credentials";
const DAY: i64 = 86_400;

fn now() -> i64 {
    keygate_store::now_secs()
}

async fn add_role(manager: &Manager, name: &str) {
    let input = RoleInput {
        name: name.into(),
        actions: vec!["GetClients".into()],
        ..RoleInput::default()
    };
    manager.create_role(input).await.unwrap();
}

async fn add_credential(manager: &Manager, description: &str) -> String {
    let (credential, _) = manager
        .generate_credential(ADMIN, description, &["Used".into()], Lifecycle::default())
        .await
        .unwrap();
    credential.identifier
}

/// Makes a credential look created and last used at these times, as only
/// SQL can.
async fn age(db_url: &str, identifier: &str, created_at: i64, last_access: Option<i64>) {
    let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
    sqlx::query("UPDATE credentials SET created_at = $1, last_access = $2 WHERE identifier = $3")
        .bind(created_at)
        .bind(last_access)
        .bind(identifier)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// The roles "Used" (held), "Spare 10" and "Spare 2" (held by none), and
/// four credentials: two unused, two not.
struct Scene {
    never_used: String,
    long_unused: String,
    fresh: String,
    recently_used: String,
}

async fn scene(app: &TestApp) -> Scene {
    for role in ["Used", "Spare 10", "Spare 2"] {
        add_role(&app.manager, role).await;
    }
    let scene = Scene {
        never_used: add_credential(&app.manager, "never used").await,
        long_unused: add_credential(&app.manager, "long unused").await,
        fresh: add_credential(&app.manager, "fresh").await,
        recently_used: add_credential(&app.manager, "recently used").await,
    };
    let now = now();
    age(&app.db_url, &scene.never_used, now - 100 * DAY, None).await;
    age(
        &app.db_url,
        &scene.long_unused,
        now - 200 * DAY,
        Some(now - 95 * DAY),
    )
    .await;
    age(&app.db_url, &scene.fresh, now - 89 * DAY, None).await;
    age(
        &app.db_url,
        &scene.recently_used,
        now - 300 * DAY,
        Some(now - DAY),
    )
    .await;
    scene
}

/// Identifiers of the credential rows of a page, in order, with whether
/// each carries the unused badge.
fn rows(body: &str) -> Vec<(String, bool)> {
    body.split("class=\"cred-row")
        .skip(1)
        .filter_map(|row| {
            let row = row.split("</tr>").next()?;
            let start = row.find("data-identifier=\"")? + "data-identifier=\"".len();
            let identifier = row[start..].split('"').next()?.to_string();
            let badge = row.contains("data-unused") && row.contains(">Unused 90+ days</span>");
            Some((identifier, badge))
        })
        .collect()
}

/// Role names of the roles tab, in order.
fn role_names(body: &str) -> Vec<String> {
    body.split("<tr class=\"role-row\" data-role=\"")
        .skip(1)
        .filter_map(|row| Some(row.split('"').next()?.to_string()))
        .collect()
}

#[tokio::test]
async fn unused_credentials_and_unheld_roles_are_flagged() {
    let app = TestApp::start_ui(false).await;
    let s = scene(&app).await;
    let (mut alice, _) = app.logged_in().await;

    // Every credential, newest first; only the unused carry the badge.
    let page = alice.get(LIST).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        rows(&page.body),
        [
            (s.fresh.clone(), false),
            (s.never_used.clone(), true),
            (s.long_unused.clone(), true),
            (s.recently_used.clone(), false),
        ]
    );
    assert!(page
        .body
        .contains("title=\"Never used, and created more than 90 days ago"));
    assert!(page.body.contains("title=\"Not used for more than 90 days"));

    // The filter keeps the unused alone, and the select says so.
    let unused = alice.get(&format!("{LIST}&state=unused")).await;
    assert_eq!(
        rows(&unused.body),
        [(s.never_used.clone(), true), (s.long_unused.clone(), true)]
    );
    assert!(unused
        .body
        .contains("<option value=\"unused\" selected>Unused for 90 days</option>"));
    let searched = alice.get(&format!("{LIST}&state=unused&q=long")).await;
    assert_eq!(rows(&searched.body), [(s.long_unused.clone(), true)]);

    // The notice names the roles nobody holds, in natural order, and leads
    // to them on the roles tab.
    let notice = page.body.split("id=\"unheld-roles\"").nth(1).unwrap();
    let notice = notice.split("</div>").next().unwrap();
    assert!(notice.contains("2 API roles are held by no credential:"));
    let (two, ten) = (
        notice.find(">Spare 2</a>").unwrap(),
        notice.find(">Spare 10</a>").unwrap(),
    );
    assert!(two < ten, "natural order: {notice}");
    assert!(!notice.contains(">Used</a>"));
    assert!(notice.contains("href=\"/admin/api-credentials?tab=roles&amp;unheld=1\""));
    let roles = alice.get("/admin/api-credentials?tab=roles&unheld=1").await;
    assert_eq!(role_names(&roles.body), ["Spare 2", "Spare 10"]);
    assert!(roles.body.contains("name=\"unheld\" value=\"1\" checked"));
    let searched = alice
        .get("/admin/api-credentials?tab=roles&unheld=1&q=10")
        .await;
    assert_eq!(role_names(&searched.body), ["Spare 10"]);
    let all = alice.get("/admin/api-credentials?tab=roles").await;
    assert_eq!(role_names(&all.body), ["Spare 2", "Spare 10", "Used"]);

    // Once every role is held the notice goes.
    let held = CredentialEdit {
        roles: Some(vec!["Used".into(), "Spare 2".into(), "Spare 10".into()]),
        ..CredentialEdit::default()
    };
    app.manager.edit_credential(&s.fresh, held).await.unwrap();
    let page = alice.get(LIST).await;
    assert!(!page.body.contains("id=\"unheld-roles\""));
}

async fn unused_steps(ui: &Ui) -> Result<()> {
    let s = scene(&ui.app).await;
    ui.log_in().await?;
    ui.go(LIST).await?;
    let badge = ui
        .wait_text(
            &format!("tr[data-identifier='{}'] [data-unused]", s.long_unused),
            "Unused 90+ days",
        )
        .await?;
    ensure!(badge == "Unused 90+ days", "{badge:?}");
    let fresh_badges =
        ui.c.find_all(Locator::Css(&format!(
            "tr[data-identifier='{}'] [data-unused]",
            s.fresh
        )))
        .await?;
    ensure!(fresh_badges.is_empty(), "a fresh credential is not flagged");
    ui.wait_text("#unheld-roles", "2 API roles are held by no credential")
        .await?;
    ui.wait_text("#unheld-roles", "Spare 2, Spare 10").await?;
    ui.shot("unused-flags").await?;

    // The filter, through the form.
    ui.css("#cred-state")
        .await?
        .select_by_value("unused")
        .await?;
    ui.click_button("Search").await?;
    ui.wait_text(".table-meta", "of 2").await?;
    let mut shown = Vec::new();
    for row in ui.c.find_all(Locator::Css("tr.cred-row")).await? {
        shown.push(row.attr("data-identifier").await?.unwrap_or_default());
    }
    ensure!(
        shown == [s.never_used.clone(), s.long_unused.clone()],
        "{shown:?}"
    );
    ensure!(ui.path().await?.contains("state=unused"));

    // The notice's link lists the roles nobody holds.
    ui.css("#unheld-roles-link").await?.click().await?;
    ui.css("tr.role-row[data-role='Spare 10']").await?;
    let mut names = Vec::new();
    for row in ui.c.find_all(Locator::Css("tr.role-row")).await? {
        names.push(row.attr("data-role").await?.unwrap_or_default());
    }
    ensure!(names == ["Spare 2", "Spare 10"], "{names:?}");
    ensure!(
        ui.checked("#role-unheld").await?,
        "the filter shows as ticked"
    );
    ui.shot("unused-roles-tab").await?;
    Ok(())
}

#[tokio::test]
async fn browser_unused_badge_filter_and_unheld_roles() {
    browser::with_browser("unused", |ui| Box::pin(unused_steps(ui))).await;
}
