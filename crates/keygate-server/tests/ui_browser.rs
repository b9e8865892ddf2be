//! The admin UI end to end in headless Chromium, driven through
//! chromedriver with fantoccini: the real server on 127.0.0.1:0 over a fresh
//! SQLite file, every workflow clicked through as an admin would, and the
//! gateway's sidecar (`/v1/authorize`) checked after each change. Saves a
//! screenshot of each main screen under `target/test-output/screenshots/`.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium`
//! (`scripts/install-test-deps.sh`); without them it says SKIPPED, or
//! fails when `KEYGATE_TEST_BROWSER_REQUIRED=1` (CI, where they are
//! installed, must run it).

mod browser;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use browser::{Ui, WAIT};
use fantoccini::Locator;
use keygate_core::model::Lifecycle;
use keygate_testkit::ui::{ADMIN, PASSWORD};

async fn login_refused_and_accepted(ui: &Ui) -> Result<()> {
    ui.go("/admin/").await?;
    ui.css("form[action='/admin/login']").await?;
    ensure!(
        ui.path().await? == "/admin/login",
        "no session leads to the login"
    );
    ui.shot("login").await?;
    ui.fill("#username", ADMIN).await?;
    ui.fill("#password", "not the password").await?;
    ui.click_button("Log in").await?;
    ui.wait_text("#login-error", "Invalid username or password.")
        .await?;
    ui.shot("login-refused").await?;
    ui.fill("#password", PASSWORD).await?;
    ui.click_button("Log in").await?;
    ui.button("Create API Role").await?;
    ensure!(ui.path().await? == "/admin/api-credentials");
    Ok(())
}

async fn generate_needs_a_role(ui: &Ui) -> Result<()> {
    ui.xpath("//a[normalize-space()='API Credentials' and @class='tab']")
        .await?
        .click()
        .await?;
    ui.click_button("Generate New API Credential").await?;
    ui.wait_text("#no-roles", keygate_core::NO_ROLES_MESSAGE)
        .await?;
    ui.shot("generate-no-roles").await?;
    Ok(())
}

async fn open_category(ui: &Ui, category: &str) -> Result<()> {
    let link = format!("//a[@data-picker-cat][span[normalize-space()='{category}']]");
    ui.xpath(&link).await?.click().await?;
    let panel = format!("//fieldset[@data-picker-panel][legend[normalize-space()='{category}']]");
    let deadline = Instant::now() + WAIT;
    while !ui.xpath(&panel).await?.is_displayed().await? {
        ensure!(
            Instant::now() < deadline,
            "category {category} did not open"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(())
}

async fn tick(ui: &Ui, action: &str) -> Result<()> {
    ui.css(&format!("#act-{action}")).await?.click().await?;
    Ok(())
}

/// The Create API Role dialog from the roles tab: two categories, plus a
/// select-all that is undone; checks the counts as it goes.
async fn create_support_role(ui: &Ui) -> Result<()> {
    ui.go("/admin/api-credentials?tab=roles").await?;
    ui.click_button("Create API Role").await?;
    ui.fill("#role-name", "Support").await?;
    ui.fill("#role-description", "Helpdesk staff tools").await?;
    open_category(ui, "Client").await?;
    tick(ui, "GetClients").await?;
    tick(ui, "GetClientsDetails").await?;
    open_category(ui, "Orders").await?;
    tick(ui, "AddOrder").await?;
    ui.wait_text("[data-picker-count]", "3").await?;
    open_category(ui, "Servers").await?;
    ui.css("[data-picker-panel].active [data-select-all]")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-picker-count]", "5").await?;
    ensure!(ui.checked("#act-GetServers").await? && ui.checked("#act-GetHealthStatus").await?);
    ui.shot("role-create").await?;
    ui.css("[data-picker-panel].active [data-select-all]")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-picker-count]", "3").await?;
    let client_badge = ui
        .xpath("//a[span[normalize-space()='Client']]/span[@data-cat-count]")
        .await?;
    ensure!(
        client_badge.text().await?.starts_with("2/"),
        "per-category count"
    );
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "API role “Support” created with 3 actions.")
        .await?;
    Ok(())
}

async fn view_edit_and_validate_role(ui: &Ui) -> Result<()> {
    ui.css("tr[data-role='Support'] button[aria-label='View permissions of role Support']")
        .await?
        .click()
        .await?;
    let perms = ui.css("tr.perms-row:not([hidden])").await?;
    let text = perms.text().await?;
    ensure!(
        text.contains("GetClientsDetails") && text.contains("AddOrder"),
        "{text}"
    );
    ui.shot("roles").await?;
    ui.css("tr[data-role='Support'] button[aria-label='Edit role Support']")
        .await?
        .click()
        .await?;
    ensure!(ui.css("#role-name").await?.prop("value").await?.as_deref() == Some("Support"));
    ensure!(
        ui.checked("#act-GetClients").await?,
        "saved permissions are ticked"
    );
    ui.fill("#role-name", "Support Desk").await?;
    open_category(ui, "Orders").await?;
    tick(ui, "AddOrder").await?;
    open_category(ui, "Billing").await?;
    tick(ui, "GetInvoices").await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "“Support Desk” saved with 3 actions")
        .await?;

    ui.click_button("Create API Role").await?;
    ui.fill("#role-name", "support desk").await?;
    ui.click_button("Save").await?;
    ui.wait_text("#form-error", "already exists").await?;
    ui.shot("role-validation").await?;
    ui.fill("#role-name", "Reporting").await?;
    open_category(ui, "Servers").await?;
    ui.css("[data-picker-panel].active [data-select-all]")
        .await?
        .click()
        .await?;
    open_category(ui, "System").await?;
    tick(ui, "GetStats").await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "“Reporting” created with 3 actions")
        .await?;
    Ok(())
}

async fn delete_role(ui: &Ui) -> Result<()> {
    ui.click_button("Create API Role").await?;
    ui.fill("#role-name", "Doomed").await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "“Doomed” created").await?;
    ui.css("tr[data-role='Doomed'] button[aria-label='Delete role Doomed']")
        .await?
        .click()
        .await?;
    ui.wait_text("#dialog-message", "Delete the API role “Doomed”?")
        .await?;
    ui.shot("confirm-delete").await?;
    ui.click_button("Delete").await?;
    ui.wait_text("[data-flash]", "API role “Doomed” deleted.")
        .await?;
    ensure!(ui
        .c
        .find(Locator::Css("tr[data-role='Doomed']"))
        .await
        .is_err());
    Ok(())
}

/// Generates a credential in the UI and returns its identifier and secret;
/// reloading afterwards must not show the secret again.
async fn generate(ui: &Ui, admin: &str, description: &str, role: &str) -> Result<(String, String)> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ui.click_button("Generate New API Credential").await?;
    ui.css("#gen-admin").await?.select_by_value(admin).await?;
    ui.fill("#gen-description", description).await?;
    ui.xpath(&format!("//label[normalize-space()='{role}']/input"))
        .await?
        .click()
        .await?;
    ui.click_button("Generate").await?;
    let identifier = ui.css("#new-identifier").await?.text().await?;
    let secret = ui.css("#new-secret").await?.text().await?;
    ensure!(
        identifier.len() == 32 && secret.len() == 32,
        "{identifier} {secret}"
    );
    ensure!(ui.page_has("Copy the secret now.").await?);
    Ok((identifier, secret))
}

async fn generate_and_use_credential(ui: &Ui) -> Result<(String, String)> {
    let credential = generate(ui, ADMIN, "Billing sync", "Support Desk").await?;
    ui.css("button[data-copy='new-secret']")
        .await?
        .click()
        .await?;
    let status = ui.wait_text("[data-copy-status]", " ").await?;
    ensure!(
        status.contains("copied") || status.contains("by hand"),
        "{status}"
    );
    ui.shot("secret").await?;
    ui.c.refresh().await?;
    ui.wait_text("[data-flash]", "shown only once").await?;
    ensure!(
        !ui.page_has(&credential.1).await?,
        "a reload shows the secret again"
    );
    ui.expect_exactly(
        &credential,
        &["GetClients", "GetClientsDetails", "GetInvoices"],
    )
    .await?;
    ui.expect_authorize(&credential, "getclientsdata", 200)
        .await?;
    ui.expect_authorize(&credential, "AddOrder", 403).await?;
    ui.expect_authorize(&(credential.0.clone(), "wrong".into()), "GetClients", 401)
        .await?;
    Ok(credential)
}

async fn edit_description_in_place(ui: &Ui, credential: &(String, String)) -> Result<()> {
    let row = format!("tr[data-identifier='{}']", credential.0);
    ui.css(&format!("{row} [data-desc-view]"))
        .await?
        .click()
        .await?;
    let input = ui
        .css(&format!("{row} [data-desc-form] input[name='description']"))
        .await?;
    ensure!(
        input.is_displayed().await?,
        "the description becomes editable in place"
    );
    input.clear().await?;
    input.send_keys("Billing sync (production)").await?;
    ui.css(&format!(
        "{row} button[aria-label^='Save description of credential ']"
    ))
    .await?
    .click()
    .await?;
    ui.wait_text(
        &format!("{row} [data-desc-text]"),
        "Billing sync (production)",
    )
    .await?;
    ensure!(
        ui.path().await?.ends_with("tab=credentials"),
        "saved without leaving the page"
    );
    let stored = ui.app.manager.credential(&credential.0).await?;
    ensure!(stored.description == "Billing sync (production)");
    Ok(())
}

async fn edit_credential_roles(ui: &Ui, credential: &(String, String)) -> Result<()> {
    let row = format!("tr[data-identifier='{}']", credential.0);
    ui.css(&format!("{row} button[aria-label^='Edit credential ']"))
        .await?
        .click()
        .await?;
    ui.xpath("//label[normalize-space()='Support Desk']/input")
        .await?
        .click()
        .await?;
    ui.xpath("//label[normalize-space()='Reporting']/input")
        .await?
        .click()
        .await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "saved").await?;
    ui.expect_exactly(credential, &["GetHealthStatus", "GetServers", "GetStats"])
        .await?;
    Ok(())
}

/// Sorting by last access puts a never-used credential last (newest first)
/// and first (oldest first).
async fn sort_by_last_access(ui: &Ui, used: &(String, String)) -> Result<()> {
    let (never, _) = ui
        .app
        .manager
        .generate_credential("bob", "never used", &[], Default::default())
        .await?;
    let row = format!(
        "tr[data-identifier='{}'] td[data-label='Last Access']",
        used.0
    );
    let deadline = Instant::now() + WAIT;
    loop {
        ui.go("/admin/api-credentials?tab=credentials").await?;
        if !ui.css(&row).await?.text().await?.contains("Never") {
            break;
        }
        ensure!(Instant::now() < deadline, "last access never shown");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ui.css("#sort-last-access").await?.click().await?;
    ui.css("th[aria-sort='descending'] #sort-last-access")
        .await?;
    let last = ui
        .css("tbody tr.cred-row:last-child")
        .await?
        .attr("data-identifier")
        .await?;
    ensure!(
        last.as_deref() == Some(never.identifier.as_str()),
        "newest first: never-used last"
    );
    ui.shot("credentials").await?;
    ui.css("#sort-last-access").await?.click().await?;
    ui.css("th[aria-sort='ascending'] #sort-last-access")
        .await?;
    let first = ui
        .css("tbody tr.cred-row:first-child")
        .await?
        .attr("data-identifier")
        .await?;
    ensure!(
        first.as_deref() == Some(never.identifier.as_str()),
        "oldest first: never-used first"
    );
    ui.app.manager.delete_credential(&never.identifier).await?;
    Ok(())
}

/// Generate with an expiry, an allowlist and a rate limit: a mistake is
/// shown in the dialog with everything kept and nothing created; fixed, the
/// credential is listed with all three and the sidecar applies them.
async fn generate_with_lifecycle(ui: &Ui) -> Result<(String, String)> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ui.click_button("Generate New API Credential").await?;
    ui.css("#gen-admin").await?.select_by_value(ADMIN).await?;
    ui.fill("#gen-description", "Partner feed").await?;
    ui.xpath("//label[normalize-space()='Support Desk']/input")
        .await?
        .click()
        .await?;
    ensure!(
        !ui.css("#gen-expires-at").await?.is_displayed().await?,
        "the custom date is hidden until picked"
    );
    ui.css("#gen-expires")
        .await?
        .select_by_value("custom")
        .await?;
    let custom = ui.css("#gen-expires-at").await?;
    let deadline = Instant::now() + WAIT;
    while !custom.is_displayed().await? {
        ensure!(Instant::now() < deadline, "the custom date never showed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    ui.c.execute(
        "document.getElementById('gen-expires-at').value = '2031-05-20T12:30';",
        vec![],
    )
    .await?;
    ui.fill("#gen-allow-ips", "203.0.113.0/24\nnot-an-address")
        .await?;
    ui.fill("#gen-rate-limit", "600/m").await?;
    let before = ui.app.manager.list_credentials(None).await?.len();
    ui.click_button("Generate").await?;
    ui.wait_text(
        "#form-error",
        "line 2: \"not-an-address\" is not an IP address",
    )
    .await?;
    ensure!(
        ui.css("#gen-allow-ips")
            .await?
            .attr("aria-invalid")
            .await?
            .as_deref()
            == Some("true"),
        "the allowlist is marked invalid"
    );
    ensure!(
        ui.css("#gen-rate-limit")
            .await?
            .prop("value")
            .await?
            .as_deref()
            == Some("600/m")
    );
    ensure!(
        ui.css("#gen-expires-at")
            .await?
            .prop("value")
            .await?
            .as_deref()
            == Some("2031-05-20T12:30")
    );
    ensure!(
        ui.css("#gen-expires")
            .await?
            .prop("value")
            .await?
            .as_deref()
            == Some("custom")
    );
    ensure!(
        ui.app.manager.list_credentials(None).await?.len() == before,
        "a refused form created a credential"
    );
    ui.shot("generate-validation").await?;
    ui.fill("#gen-allow-ips", "203.0.113.0/24\n2001:db8::/32")
        .await?;
    ui.click_button("Generate").await?;
    let identifier = ui.css("#new-identifier").await?.text().await?;
    let secret = ui.css("#new-secret").await?.text().await?;
    ensure!(ui.page_has("Copy the secret now.").await?);
    ui.css("#secret-copied").await?.click().await?;
    ui.click_button("Close").await?;
    let row = Ui::row(&identifier);
    let expires = ui
        .wait_text(
            &format!("{row} td[data-label='Expires']"),
            "2031-05-20 12:30 UTC",
        )
        .await?;
    ensure!(!expires.contains("expired"), "{expires}");
    let limits = ui
        .wait_text(&format!("{row} td[data-label='Limits']"), "203.0.113.0/24")
        .await?;
    ensure!(
        limits.contains("2001:db8::/32") && limits.contains("600/m"),
        "{limits}"
    );
    ui.wait_status(&identifier, "Enabled").await?;
    let stored = ui.app.manager.credential(&identifier).await?;
    ensure!(stored.lifecycle.expires_at == Some(1_937_046_600));
    ensure!(
        stored
            .lifecycle
            .rate_limit
            .map(|r| r.to_string())
            .as_deref()
            == Some("600/m")
    );
    let credential = (identifier, secret);
    ui.expect_reason(&credential, Some("203.0.113.9"), 200, None)
        .await?;
    ui.expect_reason(&credential, Some("2001:db8::1"), 200, None)
        .await?;
    ui.expect_reason(
        &credential,
        Some("198.51.100.7"),
        403,
        Some("ip_not_allowed"),
    )
    .await?;
    Ok(credential)
}

/// Generate bound to WHMCS clients: a bad client id is shown in the dialog
/// with the field marked and nothing created; fixed, the list shows one
/// "Client #N" badge per client and the Edit dialog the ids. The credential
/// is deleted afterwards so later steps see the list as before.
async fn generate_with_client_scope(ui: &Ui) -> Result<()> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ui.click_button("Generate New API Credential").await?;
    ui.css("#gen-admin").await?.select_by_value(ADMIN).await?;
    ui.fill("#gen-description", "Client portal").await?;
    ui.xpath("//label[normalize-space()='Support Desk']/input")
        .await?
        .click()
        .await?;
    ui.xpath("//label[@for='gen-client-ids'][normalize-space()='Client IDs']")
        .await?;
    ui.fill("#gen-client-ids", "40, acme").await?;
    let before = ui.app.manager.list_credentials(None).await?.len();
    ui.click_button("Generate").await?;
    ui.wait_text("#form-error", "\"acme\" is not a client ID")
        .await?;
    let field = ui.css("#gen-client-ids").await?;
    ensure!(
        field.attr("aria-invalid").await?.as_deref() == Some("true"),
        "the client ids are marked invalid"
    );
    ensure!(field.prop("value").await?.as_deref() == Some("40, acme"));
    ensure!(
        ui.app.manager.list_credentials(None).await?.len() == before,
        "a refused form created a credential"
    );
    ui.fill("#gen-client-ids", "40 12").await?;
    ui.click_button("Generate").await?;
    let identifier = ui.css("#new-identifier").await?.text().await?;
    ui.css("#secret-copied").await?.click().await?;
    ui.click_button("Close").await?;
    let row = Ui::row(&identifier);
    let limits = ui
        .wait_text(&format!("{row} td[data-label='Limits']"), "Client #12")
        .await?;
    ensure!(limits.contains("Client #40"), "{limits}");
    let badges =
        ui.c.find_all(Locator::Css(&format!("{row} .chip-client")))
            .await?;
    let mut texts = Vec::new();
    for badge in badges {
        texts.push(badge.text().await?);
    }
    ensure!(texts == ["Client #12", "Client #40"], "{texts:?}");
    ui.shot("client-scope").await?;
    let stored = ui.app.manager.credential(&identifier).await?;
    let ids: Vec<i64> = stored.lifecycle.client_ids.iter().map(|c| c.0).collect();
    ensure!(ids == [12, 40], "{ids:?}");
    ui.css(&format!("{row} button[aria-label^='Edit credential ']"))
        .await?
        .click()
        .await?;
    let field = ui.css("#edit-client-ids").await?;
    ensure!(field.prop("value").await?.as_deref() == Some("12, 40"));
    ui.app.manager.delete_credential(&identifier).await?;
    Ok(())
}

/// Disable asks first, then shows the Disabled badge and the sidecar says
/// `disabled`; Enable brings it back.
async fn disable_and_enable_credential(ui: &Ui, credential: &(String, String)) -> Result<()> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    let row = Ui::row(&credential.0);
    ui.css(&format!(
        "{row} button[aria-label^='Disable credential {}']",
        credential.0
    ))
    .await?
    .click()
    .await?;
    ui.wait_text("#dialog-message", "Disable the API credential")
        .await?;
    ui.wait_text("#dialog-message", &credential.0).await?;
    ui.shot("confirm-disable").await?;
    ui.css("#confirm-form button[type='submit']")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-flash]", "disabled").await?;
    ui.wait_status(&credential.0, "Disabled").await?;
    ui.expect_reason(credential, Some("203.0.113.9"), 401, Some("disabled"))
        .await?;
    ui.css(&format!(
        "{row} button[aria-label^='Enable credential {}']",
        credential.0
    ))
    .await?
    .click()
    .await?;
    ui.wait_text("[data-flash]", "enabled").await?;
    ui.wait_status(&credential.0, "Enabled").await?;
    ui.expect_reason(credential, Some("203.0.113.9"), 200, None)
        .await?;
    Ok(())
}

/// Rotate with the default 24 hours overlap: the new secret is shown once,
/// like a generated one, both secrets work, and the list shows when the
/// old one stops.
async fn rotate_credential(ui: &Ui, credential: &(String, String)) -> Result<(String, String)> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    let row = Ui::row(&credential.0);
    ui.css(&format!(
        "{row} button[aria-label^='Rotate the secret of credential {}']",
        credential.0
    ))
    .await?
    .click()
    .await?;
    ui.css("#rotate-form").await?;
    ensure!(
        ui.checked("#overlap-24h").await?,
        "24 hours is the default overlap"
    );
    for other in ["#overlap-0", "#overlap-1h", "#overlap-7d"] {
        ensure!(!ui.checked(other).await?, "{other}");
    }
    ui.shot("rotate").await?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    ui.click_button("Rotate Secret").await?;
    ui.wait_text("#dialog-title", "Secret Rotated").await?;
    let identifier = ui.css("#new-identifier").await?.text().await?;
    let secret = ui.css("#new-secret").await?.text().await?;
    ensure!(identifier == credential.0, "the identifier stays");
    ensure!(secret.len() == 32 && secret != credential.1);
    ensure!(ui.page_has("Copy the secret now.").await?);
    let until = ui
        .css("#old-secret-until time")
        .await?
        .attr("datetime")
        .await?
        .unwrap_or_default();
    let stored = ui.app.manager.credential(&identifier).await?;
    let old_until = stored
        .old_secret_valid_until
        .context("the old secret has an end")?;
    ensure!(
        (started + 86_400..=started + 86_400 + 60).contains(&old_until),
        "{old_until} vs {started}"
    );
    ensure!(until.starts_with(&iso_date(old_until)), "{until}");
    ui.wait_text("#old-secret-until", "keeps working until")
        .await?;
    ui.shot("secret-rotated").await?;
    let rotated = (identifier, secret);
    ui.expect_reason(&rotated, Some("203.0.113.9"), 200, None)
        .await?;
    ui.expect_reason(credential, Some("203.0.113.9"), 200, None)
        .await?;
    ui.c.refresh().await?;
    ui.wait_text("[data-flash]", "shown only once").await?;
    ensure!(
        !ui.page_has(&rotated.1).await?,
        "a reload shows the rotated secret again"
    );
    ui.wait_text(
        &format!("{row} td[data-label='Status']"),
        "Old secret until",
    )
    .await?;
    ui.wait_text(
        &format!("{row} td[data-label='Status']"),
        &iso_date(old_until),
    )
    .await?;
    Ok(rotated)
}

/// `YYYY-MM-DD` of unix seconds (UTC), as the pages show it.
fn iso_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    // Civil from days (H. Hinnant), as the UI does it.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A credential that runs past its expiry shows the Expired badge and is
/// refused as `expired`; extending it in the Edit dialog makes it work.
async fn expired_credential_is_marked_and_extended(ui: &Ui) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let lifecycle = Lifecycle {
        expires_at: Some(now + 2),
        ..Lifecycle::default()
    };
    let (short, secret) = ui
        .app
        .manager
        .generate_credential(ADMIN, "Short-lived", &["Support Desk".into()], lifecycle)
        .await?;
    let credential = (short.identifier.clone(), secret.expose().to_string());
    ui.expect_reason(&credential, None, 401, Some("expired"))
        .await?;
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ui.wait_status(&credential.0, "Expired").await?;
    let row = Ui::row(&credential.0);
    ui.wait_text(&format!("{row} td[data-label='Expires']"), "(expired)")
        .await?;
    ui.shot("credentials-expired").await?;
    ui.css(&format!("{row} button[aria-label^='Edit credential ']"))
        .await?
        .click()
        .await?;
    ui.wait_text("#edit-expires-hint", "Expired on").await?;
    ui.shot("credential-edit").await?;
    ui.css("#edit-expires")
        .await?
        .select_by_value("30d")
        .await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "saved").await?;
    ui.wait_status(&credential.0, "Enabled").await?;
    let expires_at = ui
        .app
        .manager
        .credential(&credential.0)
        .await?
        .lifecycle
        .expires_at
        .context("an expiry")?;
    ensure!(expires_at >= now + 30 * 86_400, "extended by 30 days");
    ui.expect_reason(&credential, None, 200, None).await?;
    Ok(())
}

async fn admins_disable_enable(ui: &Ui) -> Result<(String, String)> {
    ui.go("/admin/admins").await?;
    ui.click_button("Add Admin").await?;
    ui.fill("#admin-username", "bob").await?;
    ui.fill("#admin-password", "bob-password-1").await?;
    ui.fill("#admin-password-repeat", "bob-password-1").await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "Admin bob added.").await?;
    let bobs = generate(ui, "bob", "Bob's reports", "Reporting").await?;
    ui.expect_authorize(&bobs, "GetStats", 200).await?;
    ui.go("/admin/admins").await?;
    ui.xpath("//tr[@data-admin='bob']//button[normalize-space()='Disable']")
        .await?
        .click()
        .await?;
    ui.wait_text("#dialog-message", "1 API credential of bob stops working")
        .await?;
    ui.wait_text("#dialog-affected", &bobs.0).await?;
    ui.shot("confirm-disable-admin").await?;
    ui.css("#confirm-form button[type='submit']")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-flash]", "Admin bob disabled").await?;
    ui.wait_text("tr[data-admin='bob']", "Disabled").await?;
    ui.shot("admins").await?;
    ui.expect_authorize(&bobs, "GetStats", 401).await?;
    ui.xpath("//tr[@data-admin='bob']//button[normalize-space()='Enable']")
        .await?
        .click()
        .await?;
    ui.wait_text("[data-flash]", "Admin bob enabled").await?;
    ui.expect_authorize(&bobs, "GetStats", 200).await?;
    Ok(bobs)
}

async fn delete_credential(ui: &Ui, credential: &(String, String)) -> Result<()> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    let row = format!("tr[data-identifier='{}']", credential.0);
    ui.css(&format!("{row} button[aria-label^='Delete credential ']"))
        .await?
        .click()
        .await?;
    ui.wait_text("#dialog-message", &credential.0).await?;
    ui.click_button("Delete").await?;
    ui.wait_text("[data-flash]", "deleted").await?;
    ui.expect_authorize(credential, "GetStats", 401).await?;
    Ok(())
}

/// A form the page did not make (no CSRF token) is refused, even with the
/// session cookie, and changes nothing.
async fn forged_post_is_refused(ui: &Ui) -> Result<()> {
    let script = r#"
        const form = document.createElement('form');
        form.method = 'post';
        form.action = '/admin/api-credentials/roles/new';
        const name = document.createElement('input');
        name.name = 'name';
        name.value = 'Forged';
        form.appendChild(name);
        document.body.appendChild(form);
        form.submit();
    "#;
    ui.c.execute(script, vec![]).await?;
    ui.xpath("//h1[normalize-space()='Request refused']")
        .await?;
    ensure!(
        ui.page_has("security token is missing or out of date")
            .await?
    );
    let roles = ui.app.manager.list_roles().await?;
    ensure!(
        roles.iter().all(|r| r.name != "Forged"),
        "the forged POST created a role"
    );
    Ok(())
}

async fn phone_screens(ui: &Ui) -> Result<()> {
    ui.c.set_window_size(390, 844).await?;
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ui.button("Generate New API Credential").await?;
    ui.shot("phone-credentials").await?;
    let script =
        "document.querySelector('tr.cred-row td[data-label=\"Status\"]').scrollIntoView();";
    ui.c.execute(script, vec![]).await?;
    ui.shot("phone-credential-row").await?;
    ui.go("/admin/api-credentials/roles/new").await?;
    open_category(ui, "Client").await?;
    tick(ui, "GetClients").await?;
    ui.shot("phone-role-create").await?;
    ui.c.set_window_size(1280, 900).await?;
    Ok(())
}

async fn logout(ui: &Ui) -> Result<()> {
    ui.go("/admin/admins").await?;
    ui.click_button("Log out").await?;
    ui.css("#username").await?;
    ensure!(ui.page_has("You have been logged out.").await?);
    ui.go("/admin/api-credentials").await?;
    ui.css("#username").await?;
    ensure!(
        ui.path().await?.starts_with("/admin/login?next="),
        "the session is over; the page is kept for after the login"
    );
    Ok(())
}

async fn run(ui: &Ui) -> Result<()> {
    login_refused_and_accepted(ui).await?;
    generate_needs_a_role(ui).await?;
    create_support_role(ui).await?;
    view_edit_and_validate_role(ui).await?;
    delete_role(ui).await?;
    let credential = generate_and_use_credential(ui).await?;
    edit_description_in_place(ui, &credential).await?;
    edit_credential_roles(ui, &credential).await?;
    let limited = generate_with_lifecycle(ui).await?;
    generate_with_client_scope(ui).await?;
    disable_and_enable_credential(ui, &limited).await?;
    rotate_credential(ui, &limited).await?;
    expired_credential_is_marked_and_extended(ui).await?;
    let bobs = admins_disable_enable(ui).await?;
    sort_by_last_access(ui, &bobs).await?;
    delete_credential(ui, &credential).await?;
    forged_post_is_refused(ui).await?;
    phone_screens(ui).await?;
    logout(ui).await
}

/// Every admin UI workflow in one browser session (see the module docs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_browser_workflows() {
    browser::with_browser("workflows", |ui| Box::pin(run(ui))).await;
}
