//! The Audit page and the credential page in headless Chromium (issue 12):
//! a change clicked through in the UI shows on the audit trail with the
//! signed-in admin as actor and the browser's address as source; the
//! credential page draws the usage chart and lists the actions called
//! after real sidecar calls; "Tighten" asks first, then replaces the roles.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium`, like
//! `ui_browser.rs` (SKIPPED without them unless
//! `KEYGATE_TEST_BROWSER_REQUIRED=1`).

mod browser;

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use browser::Ui;
use fantoccini::key::Key;
use fantoccini::Locator;
use keygate_core::model::Lifecycle;
use keygate_store::RoleInput;
use keygate_testkit::ui::ADMIN;

/// One browser at a time: the machines running this have few cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A role "Support" (GetClients, GetInvoices, AddOrder) and a credential
/// "Billing app" holding it: (identifier, secret).
async fn seed(ui: &Ui) -> Result<(String, String)> {
    let input = RoleInput {
        name: "Support".into(),
        actions: vec!["GetClients".into(), "GetInvoices".into(), "AddOrder".into()],
        ..RoleInput::default()
    };
    ui.app.manager.create_role(input).await?;
    let (credential, secret) = ui
        .app
        .manager
        .generate_credential(
            ADMIN,
            "Billing app",
            &["Support".into()],
            Lifecycle::default(),
        )
        .await?;
    Ok((credential.identifier, secret.expose().to_string()))
}

/// Text of the first element matching `selector` inside `row`.
async fn cell(ui: &Ui, row: &str, selector: &str) -> Result<String> {
    Ok(ui.css(&format!("{row} {selector}")).await?.text().await?)
}

#[tokio::test]
async fn a_ui_change_shows_on_the_audit_page_with_its_admin() {
    let _turn = ONE_AT_A_TIME.lock().await;
    browser::with_browser("audit-trail", |ui| {
        Box::pin(async move {
            let (identifier, _) = seed(ui).await?;
            ui.log_in().await?;
            ui.go("/admin/api-credentials?tab=credentials").await?;
            let row = Ui::row(&identifier);
            ui.css(&format!("{row} button[aria-label^='Disable credential ']"))
                .await?
                .click()
                .await?;
            ui.css("#confirm-form button[type='submit']")
                .await?
                .click()
                .await?;
            ui.wait_text("[data-flash]", "disabled").await?;

            // The row's own Audit link: only this credential's events.
            ui.css(&format!(
                "{row} a[aria-label^='Audit trail of credential ']"
            ))
            .await?
            .click()
            .await?;
            let event = "tr.audit-row[data-verb='credential.disable']";
            ensure!(cell(ui, event, ".audit-actor").await? == ADMIN, "actor");
            ensure!(
                cell(ui, event, "td[data-label='Source']").await? == "127.0.0.1",
                "source address"
            );
            let details = cell(ui, event, "td[data-label='Details']").await?;
            ensure!(
                details.contains("enabled: yes") && details.trim_end().ends_with("no"),
                "the change is spelled out: {details:?}"
            );
            ensure!(ui.path().await?.starts_with("/admin/audit?target="));
            let listed = ui.c.find_all(Locator::Css("tr.audit-row")).await?;
            ensure!(listed.len() == 2, "generate and disable: {}", listed.len());
            ensure!(
                ui.css("tr.audit-row:first-child")
                    .await?
                    .attr("data-verb")
                    .await?
                    .as_deref()
                    == Some("credential.disable"),
                "newest first"
            );

            // The navigation and the filter form.
            ui.css("nav.mainnav a[href='/admin/audit']")
                .await?
                .click()
                .await?;
            ui.fill("#audit-actor", "nobody").await?;
            ui.click_button("Filter").await?;
            ui.wait_text("#no-events", "No changes match").await?;
            ui.fill("#audit-actor", ADMIN).await?;
            ui.click_button("Filter").await?;
            ui.css(event).await?;
            ensure!(
                ui.c.find_all(Locator::Css("tr.audit-row")).await?.len() == 1,
                "only alice's change (the seed ran as the system)"
            );
            ui.shot("audit").await?;
            Ok(())
        })
    })
    .await;
}

/// Waits until the usage the server counts is in the database.
async fn wait_for_usage(ui: &Ui, identifier: &str, calls: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let usage = ui.app.manager.credential_usage(identifier, 1).await?;
        let counted: u64 = usage.buckets.iter().map(|b| b.count).sum();
        if counted >= calls {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "usage never reached {calls} calls ({counted})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the Tighten dialog has closed (its page was left).
async fn wait_closed(ui: &Ui) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let open = ui.path().await?.contains("/tighten");
        let dialog = ui.c.find_all(Locator::Css("[role='alertdialog']")).await?;
        if !open && dialog.is_empty() {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "the dialog stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_credential_page_charts_usage_and_tightens_through_the_dialog() {
    let _turn = ONE_AT_A_TIME.lock().await;
    browser::with_browser("credential-page", |ui| {
        Box::pin(async move {
            let credential = seed(ui).await?;
            let identifier = credential.0.clone();
            for _ in 0..3 {
                ensure!(
                    ui.authorize(&credential.0, &credential.1, "GetClients")
                        .await?
                        == 200
                );
            }
            for _ in 0..2 {
                ensure!(
                    ui.authorize(&credential.0, &credential.1, "DeleteClient")
                        .await?
                        == 403
                );
            }
            wait_for_usage(ui, &identifier, 5).await?;
            ui.log_in().await?;
            ui.go("/admin/api-credentials?tab=credentials").await?;
            ui.css(&format!("{} a.ident-link", Ui::row(&identifier)))
                .await?
                .click()
                .await?;
            ui.wait_text("h1", &identifier).await?;

            ui.css("svg.usage-chart g.bar rect.bar-allowed").await?;
            ui.css("svg.usage-chart g.bar rect.bar-denied").await?;
            let title = ui.css("svg.usage-chart title#usage-title").await?;
            ensure!(
                title.prop("textContent").await?.as_deref()
                    == Some("Calls per day, the last 30 days")
            );
            ui.wait_text("#usage-totals", "3 allowed and 2 denied")
                .await?;
            let used = ui.css("tr[data-action='GetClients']").await?;
            ensure!(used.attr("data-allowed").await?.as_deref() == Some("3"));
            let denied = ui.css("tr[data-action='DeleteClient']").await?;
            ensure!(denied.attr("data-denied").await?.as_deref() == Some("2"));
            ensure!(denied.text().await?.contains("action not allowed: 2"));
            ui.wait_text("#advice-unused", "AddOrder").await?;
            ui.shot("credential-page").await?;
            let scroll = "document.getElementById('usage-heading').scrollIntoView()";
            ui.c.execute(scroll, vec![]).await?;
            ui.shot("credential-chart").await?;

            // Escape cancels: the dialog closes and nothing changes.
            ui.css("#tighten").await?.click().await?;
            ui.css("[role='alertdialog']").await?;
            ui.c.active_element().await?.send_keys(&Key::Escape).await?;
            wait_closed(ui).await?;
            ensure!(ui
                .css("#cred-roles")
                .await?
                .text()
                .await?
                .contains("Support"));

            ui.css("#tighten").await?.click().await?;
            let dialog = ui.css("[role='alertdialog']").await?;
            ensure!(dialog
                .text()
                .await?
                .contains("It loses 2 actions: AddOrder, GetInvoices."));
            ui.shot("tighten-dialog").await?;
            ui.css("#confirm-form button[type='submit']")
                .await?
                .click()
                .await?;
            ui.wait_text("[data-flash]", "now holds only the role")
                .await?;
            ui.wait_text("#cred-roles", "Least privilege for Billing app")
                .await?;
            ensure!(!ui
                .css("#cred-roles")
                .await?
                .text()
                .await?
                .contains("Support"));
            ui.expect_authorize(&credential, "GetClients", 200).await?;
            ui.expect_authorize(&credential, "GetInvoices", 403).await?;

            ui.css("a[href^='/admin/audit?target=']")
                .await?
                .click()
                .await?;
            let event = "tr.audit-row[data-verb='credential.tighten']";
            ensure!(cell(ui, event, ".audit-actor").await? == ADMIN);
            Ok(())
        })
    })
    .await;
}
