//! Browser cases for issue 16, items 8 and 9: the role dialog asks before
//! unsaved permissions are thrown away, an ended session says so and leads
//! back to the page after login, deep links survive the login (never to
//! another site), error pages keep the navigation, and admin usernames
//! ignore case and NFKC look-alikes.

mod browser;

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use browser::{Ui, WAIT};
use fantoccini::Locator;
use keygate_testkit::ui::{ADMIN, PASSWORD};

const ESCAPE: &str = "\u{E00C}";

async fn login(ui: &Ui, username: &str) -> Result<()> {
    ui.css("#username").await?;
    ui.fill("#username", username).await?;
    ui.fill("#password", PASSWORD).await?;
    ui.click_button("Log in").await?;
    ui.css(".whoami").await?;
    Ok(())
}

/// Waits for the confirm() dialog and returns its text.
async fn alert_text(ui: &Ui) -> Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        match ui.c.get_alert_text().await {
            Ok(text) => return Ok(text),
            Err(e) if Instant::now() > deadline => bail!("no confirm dialog: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits until the current path starts with `prefix`.
async fn wait_path(ui: &Ui, prefix: &str) -> Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let path = ui.path().await?;
        if path.starts_with(prefix) {
            return Ok(path);
        }
        ensure!(
            Instant::now() < deadline,
            "path {path:?}, expected {prefix:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn dialog_open(ui: &Ui) -> Result<bool> {
    Ok(!ui.c.find_all(Locator::Css("#role-form")).await?.is_empty())
}

async fn open_create_dialog(ui: &Ui) -> Result<()> {
    ui.go("/admin/api-credentials?tab=roles").await?;
    ui.click_button("Create API Role").await?;
    ui.css("#role-name").await?;
    Ok(())
}

/// Item 8: Escape and Cancel ask before ticked permissions are lost.
async fn unsaved_role_dialog_asks_before_discarding(ui: &Ui) -> Result<()> {
    open_create_dialog(ui).await?;
    ui.css("#role-name").await?.send_keys(ESCAPE).await?;
    wait_path(ui, "/admin/api-credentials").await?;
    ensure!(
        !ui.path().await?.contains("/new"),
        "untouched: closes at once"
    );

    open_create_dialog(ui).await?;
    ui.fill("#role-name", "Unsaved").await?;
    ui.css("#act-GetClients").await?;
    ui.c.execute("document.getElementById('act-GetClients').click()", vec![])
        .await?;
    ui.css("#role-name").await?.send_keys(ESCAPE).await?;
    let text = alert_text(ui).await?;
    ensure!(text.contains("Discard your unsaved changes"), "{text}");
    ui.c.dismiss_alert().await?;
    ensure!(dialog_open(ui).await?, "kept after Escape was declined");
    ensure!(ui.checked("#act-GetClients").await?, "the tick is kept");

    ui.xpath("//form[@id='role-form']//a[normalize-space()='Cancel']")
        .await?
        .click()
        .await?;
    alert_text(ui).await?;
    ui.c.dismiss_alert().await?;
    ensure!(dialog_open(ui).await?, "kept after Cancel was declined");

    ui.css("#role-name").await?.send_keys(ESCAPE).await?;
    alert_text(ui).await?;
    ui.c.accept_alert().await?;
    let deadline = Instant::now() + WAIT;
    while dialog_open(ui).await? {
        ensure!(Instant::now() < deadline, "accepted: the dialog closes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let roles = ui.app.manager.list_roles().await?;
    ensure!(roles.iter().all(|r| r.name != "Unsaved"), "nothing saved");
    Ok(())
}

/// Ends the browser's session on the server (the admin is re-created, so
/// the session's admin id no longer matches); the cookie stays.
async fn end_session(ui: &Ui) -> Result<()> {
    ui.app.manager.remove_admin(ADMIN).await?;
    ui.app.manager.add_admin(ADMIN, PASSWORD).await?;
    Ok(())
}

/// Item 8: a form submitted after the session ended says so on the login,
/// and the login leads back to the page the form was on.
async fn submit_after_session_ended(ui: &Ui) -> Result<()> {
    open_create_dialog(ui).await?;
    let page = ui.path().await?;
    ui.fill("#role-name", "Too late").await?;
    end_session(ui).await?;
    ui.click_button("Save").await?;
    wait_path(ui, "/admin/login").await?;
    ui.wait_text(".login-card", "Your session has ended; sign in again.")
        .await?;
    ui.wait_text(".login-card", "was not saved").await?;
    login(ui, ADMIN).await?;
    ensure!(
        ui.path().await? == page,
        "back on {page}: {}",
        ui.path().await?
    );
    ui.css("#role-form").await?;
    let roles = ui.app.manager.list_roles().await?;
    ensure!(roles.iter().all(|r| r.name != "Too late"), "not saved");

    // A page opened with a dead session cookie says the same, and returns.
    end_session(ui).await?;
    ui.go("/admin/admins").await?;
    ui.wait_text(".login-card", "Your session has ended; sign in again.")
        .await?;
    login(ui, ADMIN).await?;
    ensure!(ui.path().await? == "/admin/admins");
    Ok(())
}

/// Item 8: deep links survive the login; other sites are refused.
async fn deep_links_survive_login(ui: &Ui) -> Result<()> {
    ui.click_button("Log out").await?;
    ui.css("#username").await?;
    let deep = "/admin/api-credentials?tab=roles&page=2";
    ui.go(deep).await?;
    ensure!(ui.path().await?.starts_with("/admin/login?next="));
    ensure!(
        !ui.page_has("Your session has ended").await?,
        "never logged in"
    );
    login(ui, ADMIN).await?;
    ensure!(ui.path().await? == deep, "{}", ui.path().await?);

    for evil in [
        "//evil.example",
        "https://evil.example",
        "/admin/../evil",
        "/%2Fevil.example",
    ] {
        ui.click_button("Log out").await?;
        ui.css("#username").await?;
        let encoded: String = form_encode(evil);
        ui.go(&format!("/admin/login?next={encoded}")).await?;
        login(ui, ADMIN).await?;
        let url = ui.c.current_url().await?;
        ensure!(
            url.host_str() == Some("127.0.0.1") && url.path() == "/admin/api-credentials",
            "{evil} led to {url}"
        );
    }
    // Logged in already: the login page passes a safe next straight on.
    ui.go("/admin/login?next=%2Fadmin%2Fadmins").await?;
    wait_path(ui, "/admin/admins").await?;
    Ok(())
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Item 8: 404 and 403 pages keep the navigation and the logout.
async fn error_pages_keep_navigation(ui: &Ui) -> Result<()> {
    ui.go("/admin/no-such-page").await?;
    ui.xpath("//h1[normalize-space()='Page not found']").await?;
    ui.xpath("//nav[@aria-label='Main']//a[normalize-space()='Admins']")
        .await?;
    ui.button("Log out").await?;
    ui.go("/admin/api-credentials/roles/999999/edit").await?;
    ui.xpath("//nav[@aria-label='Main']//a[normalize-space()='API Credentials']")
        .await?;
    let script = r#"
        const form = document.createElement('form');
        form.method = 'post';
        form.action = '/admin/api-credentials/roles/new';
        document.body.appendChild(form);
        form.submit();
    "#;
    ui.c.execute(script, vec![]).await?;
    ui.xpath("//h1[normalize-space()='Request refused']")
        .await?;
    ui.xpath("//nav[@aria-label='Main']//a[normalize-space()='Admins']")
        .await?;
    ui.button("Log out").await?;
    ui.wait_text(".whoami", ADMIN).await?;
    Ok(())
}

/// Item 9: a full-width look-alike logs in as alice; a case twin of an
/// admin cannot be added.
async fn usernames_ignore_case_and_look_alikes(ui: &Ui) -> Result<()> {
    ui.click_button("Log out").await?;
    login(ui, "ａｌｉｃｅ").await?;
    ui.wait_text(".whoami", ADMIN).await?;
    ui.click_button("Log out").await?;
    login(ui, "ALICE").await?;
    ui.wait_text(".whoami", ADMIN).await?;

    ui.go("/admin/admins").await?;
    ui.click_button("Add Admin").await?;
    ui.fill("#admin-username", "ＡＬＩＣＥ").await?;
    ui.fill("#admin-password", "other-password-1").await?;
    ui.fill("#admin-password-repeat", "other-password-1")
        .await?;
    ui.click_button("Save").await?;
    ui.wait_text("#form-error", "already exists").await?;
    ensure!(ui.app.manager.list_admins().await?.len() == 1);
    Ok(())
}

async fn steps(ui: &Ui) -> Result<()> {
    ui.go("/admin/").await?;
    login(ui, ADMIN).await?;
    unsaved_role_dialog_asks_before_discarding(ui).await?;
    submit_after_session_ended(ui).await?;
    deep_links_survive_login(ui).await?;
    error_pages_keep_navigation(ui).await?;
    usernames_ignore_case_and_look_alikes(ui).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_names_in_the_browser() {
    browser::with_browser("ui_session", |ui| Box::pin(steps(ui))).await;
}
