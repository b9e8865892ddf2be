//! Issue 16, items 2 and 10, in headless Chromium and in process: the
//! one-time secret dialog keeps the secret until "I have copied the
//! secret" is ticked; the Edit API Credential dialog shows the owner, the
//! status, an editable description and the effective actions; changing
//! one's own password needs the current one; counts are pluralised.

mod browser;

use anyhow::{ensure, Result};
use axum::http::StatusCode;
use browser::Ui;
use fantoccini::key::Key;
use keygate_testkit::app::TestApp;
use keygate_testkit::ui::{role, ADMIN, PASSWORD};

/// The id of the focused element.
async fn focused(ui: &Ui) -> Result<String> {
    let active = ui.c.active_element().await?;
    Ok(active.attr("id").await?.unwrap_or_default())
}

/// Presses `key` on the focused element.
async fn press(ui: &Ui, key: Key) -> Result<()> {
    ui.c.active_element().await?.send_keys(&key).await?;
    Ok(())
}

/// The secret dialog as it opens: focus on the secret, Close disabled,
/// Enter and Escape keep it open (Escape says why); ticking the box
/// enables Close.
async fn gate_holds(ui: &Ui, secret: &str) -> Result<()> {
    ensure!(
        focused(ui).await? == "new-secret",
        "focus starts on the secret"
    );
    let close = ui.button("Close").await?;
    ensure!(
        close.attr("disabled").await?.is_some(),
        "Close is disabled until the box is ticked"
    );
    press(ui, Key::Enter).await?;
    press(ui, Key::Escape).await?;
    ui.wait_text("[data-secret-note]", "shown only once")
        .await?;
    ensure!(
        ui.path().await? == "/admin/api-credentials/credentials/created",
        "Escape left the secret dialog"
    );
    ensure!(ui.page_has(secret).await?, "the secret is still shown");
    ensure!(
        focused(ui).await? == "secret-copied",
        "Escape points at the box"
    );
    ui.css("#secret-copied").await?.click().await?;
    ensure!(
        ui.button("Close").await?.attr("disabled").await?.is_none(),
        "ticked, Close works"
    );
    Ok(())
}

async fn secret_gate_steps(ui: &Ui) -> Result<()> {
    role(&ui.app.manager, "Support", &["GetClients"]).await;
    ui.log_in().await?;
    ui.go("/admin/api-credentials/credentials/new").await?;
    ui.xpath("//label[normalize-space()='Support']/input")
        .await?
        .click()
        .await?;
    ui.click_button("Generate").await?;
    let identifier = ui.css("#new-identifier").await?.text().await?;
    let secret = ui.css("#new-secret").await?.text().await?;
    gate_holds(ui, &secret).await?;
    ui.shot("secret-gate").await?;
    ui.click_button("Close").await?;
    // The list behind the dialog has the row too: wait for the page without it.
    let closed = format!("body:not(.modal-open) {}", Ui::row(&identifier));
    ui.css(&closed).await?;
    // Rotate shows the same dialog; once ticked, Escape closes it.
    ui.go(&format!(
        "/admin/api-credentials/credentials/rotate?identifier={identifier}"
    ))
    .await?;
    ui.click_button("Rotate Secret").await?;
    ui.wait_text("#dialog-title", "Secret Rotated").await?;
    let rotated = ui.css("#new-secret").await?.text().await?;
    gate_holds(ui, &rotated).await?;
    press(ui, Key::Escape).await?;
    ui.css(&closed).await?;
    ensure!(
        !ui.page_has(&rotated).await?,
        "the secret is gone after closing"
    );
    Ok(())
}

/// Item 2: the one-time secret dialog cannot be closed by accident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_dialog_needs_copied_tick() {
    browser::with_browser("secret-gate", |ui| Box::pin(secret_gate_steps(ui))).await;
}

async fn edit_overview_steps(ui: &Ui) -> Result<()> {
    let m = &ui.app.manager;
    role(m, "Support", &["GetClients"]).await;
    role(m, "Orders", &["GetClients", "AddOrder"]).await;
    let (one, _) = m
        .generate_credential(ADMIN, "one role", &["Support".into()], Default::default())
        .await?;
    let both = vec!["Support".to_string(), "Orders".to_string()];
    let (two, _) = m
        .generate_credential(ADMIN, "two roles", &both, Default::default())
        .await?;
    m.set_credential_enabled(&two.identifier, false).await?;
    ui.log_in().await?;
    let edit = "/admin/api-credentials/credentials/edit?identifier=";
    ui.go(&format!("{edit}{}", one.identifier)).await?;
    ui.wait_text("#edit-owner", ADMIN).await?;
    ui.wait_text("#edit-status", "Enabled").await?;
    ui.wait_text("#edit-effective summary", "1 action from 1 role")
        .await?;
    ui.go(&format!("{edit}{}", two.identifier)).await?;
    ui.wait_text("#edit-status", "Disabled").await?;
    ui.wait_text("#edit-effective summary", "2 actions from 2 roles")
        .await?;
    let list = ui.css("#edit-effective dl").await?;
    ensure!(!list.is_displayed().await?, "the actions start collapsed");
    ui.css("#edit-effective summary").await?.click().await?;
    let listed = ui.wait_text("#edit-effective dl", "AddOrder").await?;
    ensure!(listed.contains("GetClients"), "{listed}");
    ui.shot("edit-credential-overview").await?;
    ui.fill("#edit-description", "Orders sync").await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "saved").await?;
    let stored = m.credential(&two.identifier).await?;
    ensure!(
        stored.description == "Orders sync",
        "{}",
        stored.description
    );
    ensure!(stored.roles.len() == 2, "the roles stay");
    Ok(())
}

/// Item 10: owner, status, editable description, effective actions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_credential_shows_owner_status_and_actions() {
    browser::with_browser("edit-overview", |ui| Box::pin(edit_overview_steps(ui))).await;
}

async fn change_password(ui: &Ui, username: &str) -> Result<()> {
    ui.go(&format!("/admin/admins/password?username={username}"))
        .await?;
    ui.css("#admin-password").await?;
    Ok(())
}

async fn own_password_steps(ui: &Ui) -> Result<()> {
    let m = &ui.app.manager;
    m.add_admin("bob", "bob-password-1").await?;
    ui.log_in().await?;
    change_password(ui, ADMIN).await?;
    ensure!(focused(ui).await? == "admin-current-password");
    ui.fill("#admin-current-password", "not my password")
        .await?;
    ui.fill("#admin-password", "alice-new-password").await?;
    ui.fill("#admin-password-repeat", "alice-new-password")
        .await?;
    ui.click_button("Save").await?;
    ui.wait_text("#form-error", "The current password is wrong")
        .await?;
    ensure!(m.check_login(ADMIN, PASSWORD).await?.is_some(), "unchanged");
    ui.fill("#admin-current-password", PASSWORD).await?;
    ui.fill("#admin-password", "alice-new-password").await?;
    ui.fill("#admin-password-repeat", "alice-new-password")
        .await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "Password of alice changed.")
        .await?;
    ensure!(m.check_login(ADMIN, "alice-new-password").await?.is_some());
    change_password(ui, "bob").await?;
    ensure!(
        !ui.page_has("admin-current-password").await?,
        "another admin's password needs no current one"
    );
    ui.fill("#admin-password", "bob-password-2").await?;
    ui.fill("#admin-password-repeat", "bob-password-2").await?;
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "Password of bob changed.")
        .await?;
    ensure!(m.check_login("bob", "bob-password-2").await?.is_some());
    Ok(())
}

/// Item 10: one's own password needs the current one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_password_change_needs_current_password() {
    browser::with_browser("own-password", |ui| Box::pin(own_password_steps(ui))).await;
}

/// Handler level: the wrong or a missing current password changes
/// nothing; another admin's password needs none.
#[tokio::test]
async fn own_password_handlers() {
    let app = TestApp::start_ui(false).await;
    app.manager
        .add_admin("bob", "bob-password-1")
        .await
        .unwrap();
    let (mut alice, csrf) = app.logged_in().await;
    let form = alice.get("/admin/admins/password?username=alice").await;
    assert!(form.body.contains(r#"name="current_password""#));
    let other = alice.get("/admin/admins/password?username=bob").await;
    assert!(!other.body.contains(r#"name="current_password""#));
    for current in ["", "wrong password"] {
        let refused = alice
            .post(
                "/admin/admins/password",
                &[
                    ("csrf", &csrf),
                    ("username", ADMIN),
                    ("current_password", current),
                    ("password", "new-password-1"),
                    ("password_repeat", "new-password-1"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("The current password is wrong"));
        let kept = app.manager.check_login(ADMIN, PASSWORD).await.unwrap();
        assert!(kept.is_some(), "refused, the password stays");
    }
    let changed = alice
        .post(
            "/admin/admins/password",
            &[
                ("csrf", &csrf),
                ("username", "bob"),
                ("password", "bob-password-2"),
                ("password_repeat", "bob-password-2"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    let bob = app.manager.check_login("bob", "bob-password-2").await;
    assert!(bob.unwrap().is_some());
}

/// Handler level: the secret dialog's gate is in the page (a required
/// box, focus on the secret), the edit form saves the description only
/// when sent, and counts are pluralised.
#[tokio::test]
async fn gate_description_and_plurals_handlers() {
    let app = TestApp::start_ui(false).await;
    let (mut alice, csrf) = app.logged_in().await;
    let created = alice
        .post(
            "/admin/api-credentials/roles/new",
            &[("csrf", &csrf), ("name", "One"), ("actions", "GetClients")],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let roles = alice.get(created.location()).await;
    assert!(
        roles.body.contains("created with 1 action."),
        "{}",
        roles.body
    );
    let id = role(&app.manager, "Two", &["GetClients", "AddOrder"])
        .await
        .to_string();
    let generated = alice
        .post(
            "/admin/api-credentials/credentials/new",
            &[("csrf", &csrf), ("admin", ADMIN), ("roles", &id)],
        )
        .await;
    let shown = alice.get(generated.location()).await;
    assert!(shown.body.contains(r#"id="secret-copied" required"#));
    assert!(shown.body.contains("I have copied the secret"));
    assert!(
        !shown.body.contains("autofocus>Close"),
        "focus is not on Close"
    );
    assert!(shown
        .body
        .contains(r#"tabindex="0" autofocus id="new-secret""#));
    let credential = app.manager.list_credentials(None).await.unwrap().remove(0);
    let edit = |description: Option<&'static str>| {
        let mut fields = vec![
            ("csrf", csrf.clone()),
            ("identifier", credential.identifier.clone()),
            ("roles", id.clone()),
        ];
        if let Some(d) = description {
            fields.push(("description", d.to_string()));
        }
        fields
    };
    for (sent, stored) in [(Some("Edited <b>"), "Edited <b>"), (None, "Edited <b>")] {
        let fields = edit(sent);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let saved = alice
            .post("/admin/api-credentials/credentials/edit", &pairs)
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let now = app
            .manager
            .credential(&credential.identifier)
            .await
            .unwrap();
        assert_eq!(now.description, stored);
    }
    let dialog = alice
        .get(&format!(
            "/admin/api-credentials/credentials/edit?identifier={}",
            credential.identifier
        ))
        .await;
    assert!(dialog.body.contains("2 actions</strong> from 1 role"));
    assert!(dialog.body.contains("Edited &lt;b&gt;") || dialog.body.contains("Edited &#60;b&#62;"));
    assert!(!dialog.body.contains("Edited <b>"), "escaped");
}
