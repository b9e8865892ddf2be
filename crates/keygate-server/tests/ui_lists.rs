//! The admin UI's lists at scale (issue 16, items 3 and 4): newest
//! credentials first, the list state (page, sort, search, filter) kept
//! through every action, a jump to a freshly generated credential, search
//! and a state filter on the credentials tab, search and paging on the
//! roles tab, natural role order, and the filter boxes of the dialogs.
//! Browser cases run in headless Chromium (see `browser/mod.rs`); the
//! cheaper checks run on the handlers in process.

mod browser;

use anyhow::{ensure, Result};
use axum::http::StatusCode;
use browser::Ui;
use fantoccini::Locator;
use keygate_core::model::Lifecycle;
use keygate_store::{Manager, RoleInput};
use keygate_testkit::app::TestApp;
use keygate_testkit::ui::ADMIN;

const LIST: &str = "/admin/api-credentials?tab=credentials";

async fn add_role(manager: &Manager, name: &str, description: &str) {
    let input = RoleInput {
        name: name.into(),
        description: description.into(),
        actions: vec!["GetClients".into()],
        ..RoleInput::default()
    };
    manager.create_role(input).await.unwrap();
}

/// `count` credentials of alice described "bulk N", holding `role`.
async fn add_credentials(manager: &Manager, count: usize, role: &str) -> Vec<String> {
    let mut identifiers = Vec::new();
    for i in 0..count {
        let (credential, _) = manager
            .generate_credential(
                ADMIN,
                &format!("bulk {i}"),
                &[role.to_string()],
                Lifecycle::default(),
            )
            .await
            .unwrap();
        identifiers.push(credential.identifier);
    }
    identifiers
}

/// Identifiers of the credential rows of a page, in order.
fn row_identifiers(body: &str) -> Vec<String> {
    body.split("class=\"cred-row")
        .skip(1)
        .filter_map(|row| {
            let start = row.find("data-identifier=\"")? + "data-identifier=\"".len();
            Some(row[start..].split('"').next()?.to_string())
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

/// Newest first by default; a `return` field leads back to the list state
/// it names, and nowhere else; bad list parameters fall back to defaults.
#[tokio::test]
async fn list_state_is_kept_and_return_is_validated() {
    let app = TestApp::start_ui(false).await;
    add_role(&app.manager, "Support", "").await;
    let ids = add_credentials(&app.manager, 60, "Support").await;
    let (mut alice, csrf) = app.logged_in().await;
    let first = alice.get(LIST).await;
    assert_eq!(first.status, StatusCode::OK);
    let rows = row_identifiers(&first.body);
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[0], ids[59], "newest first by default");
    let back = "/admin/api-credentials?tab=credentials&sort=identifier&page=2&q=bulk";
    for (given, expected) in [
        (back, back),
        (
            "https://evil.example/admin/api-credentials?tab=credentials",
            LIST,
        ),
        ("//evil.example/x", LIST),
        ("/admin/api-credentials?tab=roles&page=2", LIST),
        (
            "/admin/api-credentials?tab=credentials&sort=x&dir=y&page=-3&state=z",
            LIST,
        ),
    ] {
        let done = alice
            .post(
                "/admin/api-credentials/credentials/disable",
                &[("csrf", &csrf), ("identifier", &ids[0]), ("return", given)],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{given}");
        assert_eq!(done.location(), expected, "{given}");
    }
    for query in [
        "page=abc",
        "page=99999",
        "sort=%FF&dir=%00",
        "state=nope&q=%ZZ",
    ] {
        let page = alice.get(&format!("{LIST}&{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
    }
    let confirm = alice
        .get(&format!(
            "/admin/api-credentials/credentials/delete?identifier={}&return={}",
            ids[3],
            keygate_testkit::ui::encode(&[("r", back)]).trim_start_matches("r=")
        ))
        .await;
    let carried = "name=\"return\" value=\"/admin/api-credentials?tab=credentials&#38;sort=identifier&#38;page=2&#38;q=bulk\"";
    let form = confirm.body.split("id=\"confirm-form\"").nth(1).unwrap();
    assert!(
        form.contains(carried),
        "the confirmation carries the list state"
    );
    assert!(confirm.body.contains("Page 2 of 2"), "and shows it behind");
}

/// Search (identifier, description, admin, role, client id) and the state
/// filter narrow the credentials; roles search, page by 25 and sort
/// naturally, in the table and in the credential dialogs.
#[tokio::test]
async fn search_filter_and_role_paging() {
    let app = TestApp::start_ui(false).await;
    for i in 1..=40 {
        add_role(&app.manager, &format!("Role {i}"), &format!("desk {i}")).await;
    }
    add_role(&app.manager, "Billing", "invoices").await;
    let ids = add_credentials(&app.manager, 5, "Role 7").await;
    let scoped = Lifecycle {
        client_ids: vec![keygate_core::model::ClientId(4242)],
        ..Lifecycle::default()
    };
    let (special, _) = app
        .manager
        .generate_credential(ADMIN, "Partner feed", &["Billing".into()], scoped)
        .await
        .unwrap();
    app.manager
        .set_credential_enabled(&ids[1], false)
        .await
        .unwrap();
    let (mut alice, _) = app.logged_in().await;
    let search = |q: &str| format!("{LIST}&q={q}");
    for (q, expected) in [
        ("partner", vec![special.identifier.clone()]),
        ("billing", vec![special.identifier.clone()]),
        ("4242", vec![special.identifier.clone()]),
        (&ids[2][..12], vec![ids[2].clone()]),
        ("ALICE", {
            let mut all: Vec<String> = ids.iter().rev().cloned().collect();
            all.insert(0, special.identifier.clone());
            all
        }),
    ] {
        let page = alice.get(&search(q)).await;
        assert_eq!(row_identifiers(&page.body), expected, "search {q}");
    }
    let disabled = alice.get(&format!("{LIST}&state=disabled")).await;
    assert_eq!(row_identifiers(&disabled.body), [ids[1].clone()]);
    let none = alice.get(&format!("{LIST}&q=nothing-like-this")).await;
    assert!(none.body.contains("No API credentials match."));
    let roles = alice.get("/admin/api-credentials?tab=roles").await;
    let names = role_names(&roles.body);
    assert_eq!(names.len(), 25);
    assert_eq!(&names[..4], ["Billing", "Role 1", "Role 2", "Role 3"]);
    assert!(roles.body.contains("Page 1 of 2"));
    let second = alice.get("/admin/api-credentials?tab=roles&page=2").await;
    assert_eq!(role_names(&second.body).len(), 16);
    assert_eq!(role_names(&second.body).last().unwrap(), "Role 40");
    let found = alice.get("/admin/api-credentials?tab=roles&q=desk+3").await;
    let found = role_names(&found.body);
    assert_eq!(found.len(), 11, "{found:?}");
    assert_eq!(&found[..3], ["Role 3", "Role 30", "Role 31"]);
    let dialog = alice.get("/admin/api-credentials/credentials/new").await;
    let at = |name: &str| dialog.body.find(&format!("<span>{name}</span>")).unwrap();
    assert!(at("Role 2") < at("Role 10"), "natural order in the dialog");
}

async fn row_ids(ui: &Ui) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for row in ui.c.find_all(Locator::Css("tr.cred-row")).await? {
        ids.push(row.attr("data-identifier").await?.unwrap_or_default());
    }
    Ok(ids)
}

/// Item 3: after Generate the list shows (and highlights) the page holding
/// the new credential, in the sort it came from; actions return there.
async fn generate_jumps_and_actions_keep_the_page(ui: &Ui) -> Result<()> {
    add_role(&ui.app.manager, "Support", "").await;
    let ids = add_credentials(&ui.app.manager, 60, "Support").await;
    ui.log_in().await?;
    ui.go(LIST).await?;
    ui.xpath("//th[@aria-sort='descending'][contains(., 'Created')]")
        .await?;
    ensure!(
        row_ids(ui).await?.first() == Some(&ids[59]),
        "newest first by default"
    );
    let sorted = "/admin/api-credentials?tab=credentials&sort=identifier&page=2";
    ui.go(sorted).await?;
    ui.wait_text(".pager", "Page 2 of 2").await?;
    ui.click_button("Generate New API Credential").await?;
    ui.fill("#gen-description", "fresh one").await?;
    ui.xpath("//label[normalize-space()='Support']/input")
        .await?
        .click()
        .await?;
    ui.click_button("Generate").await?;
    let identifier = ui.css("#new-identifier").await?.text().await?;
    if let Ok(gate) = ui.c.find(Locator::Css("[data-secret-copied]")).await {
        gate.click().await?;
    }
    ui.click_button("Close").await?;
    let row = format!("tr.cred-row.row-new[data-identifier='{identifier}']");
    // The list behind the dialog has the row too: wait for the page without it.
    ui.css(&format!("body:not(.modal-open) {row}")).await?;
    let path = ui.path().await?;
    ensure!(
        path.contains("sort=identifier") && path.contains(&format!("hl={identifier}")),
        "{path}"
    );
    let mut all = ids.clone();
    all.push(identifier.clone());
    all.sort();
    let page = all.iter().position(|i| *i == identifier).unwrap() / 50 + 1;
    ui.wait_text(".pager", &format!("Page {page} of 2")).await?;
    ensure!(
        ui.css(&row).await?.is_displayed().await?,
        "highlighted row in view"
    );
    ui.shot("lists-new-row").await?;
    // Disable a row on this page: the confirmation and the flash keep the page.
    let other = row_ids(ui).await?.into_iter().find(|i| *i != identifier);
    let other = other.expect("another row");
    ui.css(&format!(
        "tr[data-identifier='{other}'] form[action$='/disable'] button"
    ))
    .await?
    .click()
    .await?;
    ui.css("#confirm-form").await?;
    ui.xpath("//form[@id='confirm-form']//button[normalize-space()='Disable']")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-flash]", "disabled").await?;
    let path = ui.path().await?;
    let expected = if page > 1 {
        format!("/admin/api-credentials?tab=credentials&sort=identifier&page={page}")
    } else {
        "/admin/api-credentials?tab=credentials&sort=identifier".to_string()
    };
    ensure!(path == expected, "{path} != {expected}");
    ui.wait_status(&other, "Disabled").await?;
    Ok(())
}

#[tokio::test]
async fn browser_generate_jumps_to_new_row_and_keeps_page() {
    browser::with_browser("lists-generate", |ui| {
        Box::pin(generate_jumps_and_actions_keep_the_page(ui))
    })
    .await;
}

/// Item 4: searching credentials and roles, the roles pager, the role
/// filter of the credential dialogs and the action filter of the role dialog.
async fn search_and_filter_steps(ui: &Ui) -> Result<()> {
    for i in 1..=30 {
        add_role(&ui.app.manager, &format!("Role {i}"), "").await;
    }
    let ids = add_credentials(&ui.app.manager, 3, "Role 2").await;
    ui.app
        .manager
        .generate_credential(
            ADMIN,
            "Partner feed",
            &["Role 30".into()],
            Lifecycle::default(),
        )
        .await?;
    ui.log_in().await?;
    // Roles: natural order, 25 a page, search.
    ui.go("/admin/api-credentials?tab=roles").await?;
    ui.wait_text(".pager", "Page 1 of 2").await?;
    let second = ui.css("tr.role-row:nth-of-type(3)").await?;
    ensure!(second.attr("data-role").await?.as_deref() == Some("Role 2"));
    ui.xpath("//nav[@class='pager']/a[normalize-space()='Next']")
        .await?
        .click()
        .await?;
    ui.wait_text(".pager", "Page 2 of 2").await?;
    ui.fill("#role-q", "Role 3").await?;
    ui.click_button("Search").await?;
    ui.css("tr.role-row[data-role='Role 30']").await?;
    let shown = ui.c.find_all(Locator::Css("tr.role-row")).await?.len();
    ensure!(shown == 2, "Role 3 and Role 30, got {shown}");
    // Credentials: search and state filter, kept after an action.
    ui.go(LIST).await?;
    ui.fill("#cred-q", "partner").await?;
    ui.click_button("Search").await?;
    ui.wait_text("tbody", "Partner feed").await?;
    ensure!(row_ids(ui).await?.len() == 1);
    ui.go(LIST).await?;
    ui.css("#cred-state")
        .await?
        .select_by_value("enabled")
        .await?;
    ui.click_button("Search").await?;
    ui.wait_text(".table-meta", "of 4").await?;
    ui.css(&format!(
        "tr[data-identifier='{}'] form[action$='/disable'] button",
        ids[0]
    ))
    .await?
    .click()
    .await?;
    ui.xpath("//form[@id='confirm-form']//button[normalize-space()='Disable']")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-flash]", "disabled").await?;
    ensure!(ui.path().await?.ends_with("state=enabled"), "filter kept");
    ensure!(
        row_ids(ui).await?.len() == 3,
        "the disabled one left the list"
    );
    // Generate dialog: the role filter keeps ticked roles visible.
    ui.click_button("Generate New API Credential").await?;
    ui.xpath("//label[normalize-space()='Role 2']/input")
        .await?
        .click()
        .await?;
    ui.fill("#gen-role-filter", "Role 1").await?;
    let visible = |name: &'static str| async move {
        ui.xpath(&format!(
            "//div[@id='gen-roles']/label[normalize-space()='{name}']"
        ))
        .await?
        .is_displayed()
        .await
        .map_err(anyhow::Error::from)
    };
    ensure!(visible("Role 10").await? && visible("Role 1").await?);
    ensure!(!visible("Role 3").await?, "non-matching role hidden");
    ensure!(visible("Role 2").await?, "ticked role stays visible");
    ui.shot("lists-generate-filter").await?;
    // Role dialog: the action filter spans categories and keeps ticks.
    ui.go("/admin/api-credentials?tab=roles").await?;
    ui.click_button("Create API Role").await?;
    ui.fill("#role-name", "Invoices only").await?;
    ui.fill("#picker-filter", "invoice").await?;
    ui.wait_text("[data-picker-filter-status]", "matching")
        .await?;
    ensure!(ui.css("#act-GetInvoices").await?.is_displayed().await?);
    ensure!(
        ui.css("#act-AddInvoicePayment")
            .await?
            .is_displayed()
            .await?
    );
    ensure!(!ui.css("#act-GetClients").await?.is_displayed().await?);
    ui.css("#act-GetInvoices").await?.click().await?;
    ui.fill("#picker-filter", "getclients").await?;
    ensure!(ui.css("#act-GetClients").await?.is_displayed().await?);
    ui.css("#act-GetClients").await?.click().await?;
    ensure!(
        ui.checked("#act-GetInvoices").await?,
        "tick kept while hidden"
    );
    ui.wait_text("[data-picker-count]", "2").await?;
    ui.shot("lists-action-filter").await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "Invoices only").await?;
    let role = ui.app.manager.role("Invoices only").await?;
    ensure!(role.actions.len() == 2, "{:?}", role.actions);
    Ok(())
}

#[tokio::test]
async fn browser_search_filter_and_role_paging() {
    browser::with_browser("lists-search", |ui| Box::pin(search_and_filter_steps(ui))).await;
}
