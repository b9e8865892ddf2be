//! What the admin UI says about credentials that cannot work for a reason
//! outside themselves: their admin is disabled, or no role of theirs allows
//! an action. The list marks them, the Generate and Edit dialogs warn, and
//! the confirmations of disabling an admin and deleting a role name the
//! credentials they affect. Handlers in process, then the dialogs' live
//! warnings in headless Chromium (`tests/browser/`).

mod browser;

use anyhow::{ensure, Result};
use axum::http::StatusCode;
use keygate_core::model::Lifecycle;
use keygate_store::Manager;
use keygate_testkit::app::TestApp;
use keygate_testkit::ui::{role, Client, ADMIN, PASSWORD};

const CREDENTIALS: &str = "/admin/api-credentials?tab=credentials";

/// A credential of `admin` holding `roles`; its identifier.
/// The affected list shows exactly the first ten of `identifiers`, each
/// with its description `"{prefix} NN"`.
fn assert_first_ten(list: &str, identifiers: &[String], prefix: &str) {
    assert_eq!(list.matches("<li ").count(), 10, "the first ten: {list}");
    for (i, identifier) in identifiers.iter().take(10).enumerate() {
        assert!(
            list.contains(&format!(r#"data-affected="{identifier}""#)),
            "{list}"
        );
        assert!(list.contains(&format!("{prefix} {i:02}")), "{list}");
    }
}

async fn credential(manager: &Manager, admin: &str, description: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    let (c, _) = manager
        .generate_credential(admin, description, &roles, Lifecycle::default())
        .await
        .unwrap();
    c.identifier
}

async fn page(client: &mut Client, path: &str) -> String {
    let answer = client.get(path).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    answer.body
}

/// The credential's row in the list.
fn row<'a>(page: &'a str, identifier: &str) -> &'a str {
    let start = page
        .find(&format!(r#"data-identifier="{identifier}""#))
        .unwrap_or_else(|| panic!("no row for {identifier}"));
    let open = page[..start].rfind("<tr").unwrap();
    let rest = &page[open..];
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

/// The element with this id, up to the end of its first nested `</div>`
/// (enough for the short blocks checked here).
fn block<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let open = page[..start].rfind('<').unwrap();
    let rest = &page[open..];
    &rest[..rest.find("</div>").map_or(rest.len(), |end| end + 6)]
}

/// The confirmation dialog's list of affected credentials.
fn affected(page: &str) -> &str {
    let start = page.find(r#"id="dialog-affected""#).expect("a list");
    let rest = &page[start..];
    &rest[..rest.find("</ul>").unwrap_or(rest.len())]
}

#[tokio::test]
async fn credentials_of_a_disabled_admin_are_marked_in_the_list() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    m.add_admin("bob", "bob-password-1").await.unwrap();
    role(m, "Support", &["GetClients"]).await;
    let alices = credential(m, ADMIN, "alice's", &["Support"]).await;
    let bobs = credential(m, "bob", "bob's", &["Support"]).await;
    let bobs_off = credential(m, "bob", "bob's, disabled", &["Support"]).await;
    m.set_credential_enabled(&bobs_off, false).await.unwrap();
    let (mut alice, _) = app.logged_in().await;

    let list = page(&mut alice, CREDENTIALS).await;
    for identifier in [&alices, &bobs] {
        let row = row(&list, identifier);
        assert!(!row.contains("data-admin-disabled"), "{row}");
        assert!(row.contains(r#"data-status="Enabled""#), "{row}");
        assert!(!row.contains("Admin disabled"), "{row}");
    }

    m.set_admin_enabled("bob", false).await.unwrap();
    let list = page(&mut alice, CREDENTIALS).await;
    let row_bob = row(&list, &bobs);
    assert!(row_bob.contains("data-admin-disabled"), "{row_bob}");
    assert!(row_bob.contains("row-admin-disabled"), "{row_bob}");
    assert!(
        row_bob.contains(r#"data-status="Admin disabled""#),
        "{row_bob}"
    );
    assert!(row_bob.contains(">Admin disabled</span>"), "{row_bob}");
    assert!(
        !row_bob.contains(">Enabled</span>"),
        "no green badge on a credential that is refused: {row_bob}"
    );
    // Its own state still comes first; the admin's is shown beside it.
    let row_off = row(&list, &bobs_off);
    assert!(row_off.contains(r#"data-status="Disabled""#), "{row_off}");
    assert!(row_off.contains("data-admin-disabled"), "{row_off}");
    assert!(row_off.contains(">Admin disabled</span>"), "{row_off}");
    let row_alice = row(&list, &alices);
    assert!(!row_alice.contains("data-admin-disabled"), "{row_alice}");
    assert!(row_alice.contains(">Enabled</span>"), "{row_alice}");

    m.set_admin_enabled("bob", true).await.unwrap();
    let list = page(&mut alice, CREDENTIALS).await;
    assert!(!row(&list, &bobs).contains("data-admin-disabled"));
    assert!(row(&list, &bobs).contains(r#"data-status="Enabled""#));
}

#[tokio::test]
async fn generate_warns_when_the_owner_is_a_disabled_admin() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    m.add_admin("bob", "bob-password-1").await.unwrap();
    m.set_admin_enabled("bob", false).await.unwrap();
    let support = role(m, "Support", &["GetClients"]).await.to_string();
    let (mut alice, csrf) = app.logged_in().await;

    // Alice (enabled) is preselected: the warning is there for the script
    // to show, but hidden; bob's option says it is disabled.
    let dialog = page(&mut alice, "/admin/api-credentials/credentials/new").await;
    let warning = tag(&dialog, "gen-admin-disabled");
    assert!(warning.contains(" hidden"), "{warning}");
    assert!(
        dialog.contains(r#"<option value="bob" data-disabled>bob (disabled)</option>"#),
        "{dialog}"
    );
    assert!(dialog.contains(r#"<option value="alice" selected>alice</option>"#));

    // Re-rendered with bob picked (a mistake elsewhere in the form): the
    // warning is shown without any script.
    let answer = alice
        .post(
            "/admin/api-credentials/credentials/new",
            &[
                ("csrf", &csrf),
                ("admin", "bob"),
                ("roles", &support),
                ("rate_limit", "lots"),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    let warning = block(&answer.body, "gen-admin-disabled");
    assert!(
        !tag(&answer.body, "gen-admin-disabled").contains(" hidden"),
        "{warning}"
    );
    assert!(warning.contains("This admin is disabled."), "{warning}");
    assert!(
        warning.contains("refused until the admin is enabled again"),
        "{warning}"
    );

    // Generating for bob is allowed; the page with the secret says it
    // will not work until bob is enabled.
    let answer = alice
        .post(
            "/admin/api-credentials/credentials/new",
            &[("csrf", &csrf), ("admin", "bob"), ("roles", &support)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let shown = page(&mut alice, answer.location()).await;
    assert!(shown.contains(r#"id="new-secret""#), "the secret is shown");
    let note = block(&shown, "admin-disabled-note");
    assert!(note.contains("Admin bob is disabled."), "{note}");
    assert!(
        note.contains("does not work until bob is enabled again"),
        "{note}"
    );
    let bobs = m.list_credentials(Some("bob")).await.unwrap();
    assert_eq!(bobs.len(), 1, "the credential was generated");

    // For an enabled owner there is no note.
    let answer = alice
        .post(
            "/admin/api-credentials/credentials/new",
            &[("csrf", &csrf), ("admin", ADMIN), ("roles", &support)],
        )
        .await;
    let shown = page(&mut alice, answer.location()).await;
    assert!(shown.contains(r#"id="new-secret""#));
    assert!(!shown.contains("admin-disabled-note"), "{shown}");
}

#[tokio::test]
async fn disabling_an_admin_asks_first_and_names_what_stops_working() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    m.add_admin("bob", "bob-password-1").await.unwrap();
    m.add_admin("carol", "carol-password-1").await.unwrap();
    role(m, "Support", &["GetClients"]).await;
    let mut working = Vec::new();
    for i in 0..12 {
        working.push(credential(m, "bob", &format!("bob job {i:02}"), &["Support"]).await);
    }
    let off = credential(m, "bob", "bob old job", &["Support"]).await;
    m.set_credential_enabled(&off, false).await.unwrap();
    let (mut alice, csrf) = app.logged_in().await;

    // The Disable button asks (a GET), it does not post.
    let admins = page(&mut alice, "/admin/admins").await;
    let bob_row = {
        let start = admins.find(r#"data-admin="bob""#).unwrap();
        &admins[start..start + admins[start..].find("</tr>").unwrap()]
    };
    assert!(
        bob_row.contains(r#"<form method="get" action="/admin/admins/disable">"#),
        "{bob_row}"
    );

    let dialog = page(&mut alice, "/admin/admins/disable?username=bob").await;
    assert!(dialog.contains(">Disable Admin</h2>"), "{dialog}");
    let message = block(&dialog, "dialog-message");
    assert!(
        message.contains(
            "Disable the admin bob? 12 API credentials of bob stop working at once \
             and are refused until bob is enabled again."
        ),
        "{message}"
    );
    assert!(
        message.contains("(1 other is already disabled or expired.)"),
        "{message}"
    );
    let list = affected(&dialog);
    assert!(list.contains("Stop working: 12 credentials"), "{list}");
    assert_first_ten(list, &working, "bob job");
    assert!(
        !list.contains(&off),
        "a disabled credential does not stop working"
    );
    assert!(dialog.contains(">and 2 more</p>"), "{dialog}");
    assert!(
        tag(&dialog, "confirm-form").contains(r#"action="/admin/admins/disable""#),
        "{dialog}"
    );
    assert!(
        m.admin("bob").await.unwrap().enabled,
        "asking changes nothing"
    );

    // Confirmed: bob is disabled.
    let answer = alice
        .post(
            "/admin/admins/disable",
            &[("csrf", &csrf), ("username", "bob")],
        )
        .await;
    assert_eq!(answer.location(), "/admin/admins");
    assert!(!m.admin("bob").await.unwrap().enabled);

    // An admin with no working credential, and one with a single one.
    let dialog = page(&mut alice, "/admin/admins/disable?username=carol").await;
    assert!(
        block(&dialog, "dialog-message")
            .contains("carol has no working API credential, so none stops working."),
        "{dialog}"
    );
    assert!(!dialog.contains("dialog-affected"), "no empty list");
    let carols = credential(m, "carol", "", &["Support"]).await;
    let dialog = page(&mut alice, "/admin/admins/disable?username=carol").await;
    let message = block(&dialog, "dialog-message");
    assert!(
        message.contains("1 API credential of carol stops working at once and is refused"),
        "{message}"
    );
    assert!(affected(&dialog).contains(&carols));

    // Not for oneself: the page says why instead of asking.
    let answer = alice.get("/admin/admins/disable?username=alice").await;
    assert_eq!(answer.location(), "/admin/admins");
    let admins = page(&mut alice, "/admin/admins").await;
    assert!(
        admins.contains("You cannot disable your own account"),
        "{admins}"
    );

    // Removing lists what is deleted with the admin, the same way.
    let dialog = page(&mut alice, "/admin/admins/remove?username=bob").await;
    let list = affected(&dialog);
    assert!(list.contains("Deleted with it: 13 credentials"), "{list}");
    assert!(dialog.contains(">and 3 more</p>"), "{dialog}");
}

#[tokio::test]
async fn role_delete_names_the_credentials_that_hold_it() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    let support = role(m, "Support", &["GetClients"]).await;
    role(m, "Billing", &["GetInvoices"]).await;
    let unused = role(m, "Unused", &["GetInvoices"]).await;
    let mut holders = Vec::new();
    for i in 0..11 {
        holders.push(credential(m, ADMIN, &format!("support desk {i:02}"), &["Support"]).await);
    }
    // Keeps an allowed action through Billing when Support goes.
    let both = credential(m, ADMIN, "support and billing", &["Support", "Billing"]).await;
    credential(m, ADMIN, "billing only", &["Billing"]).await;
    let (mut alice, csrf) = app.logged_in().await;

    let path = format!("/admin/api-credentials/roles/{support}/delete");
    let dialog = page(&mut alice, &path).await;
    let message = block(&dialog, "dialog-message");
    assert!(
        message.contains("Delete the API role “Support”?"),
        "the question stays first: {message}"
    );
    assert!(
        message
            .contains("Without it 11 credentials have no allowed action: every call is refused."),
        "{message}"
    );
    let list = affected(&dialog);
    assert!(list.contains("Held by 12 credentials"), "{list}");
    assert_first_ten(list, &holders, "support desk");
    assert!(dialog.contains(">and 2 more</p>"), "{dialog}");
    assert!(dialog.contains(">Delete API Role</h2>"), "{dialog}");
    assert!(
        dialog.contains(r#"aria-describedby="dialog-message dialog-affected""#),
        "the list is part of the dialog's description"
    );

    // A role nobody holds says so.
    let dialog = page(
        &mut alice,
        &format!("/admin/api-credentials/roles/{unused}/delete"),
    )
    .await;
    assert!(
        affected(&dialog).contains("Held by no credentials."),
        "{dialog}"
    );
    assert!(!dialog.contains("<li data-affected"), "{dialog}");
    assert!(!dialog.contains("Without it"), "{dialog}");

    // One holder, stranded or not.
    let lone = role(m, "Lone", &["GetStats"]).await;
    let lonely = credential(m, ADMIN, "", &["Lone", "Billing"]).await;
    let dialog = page(
        &mut alice,
        &format!("/admin/api-credentials/roles/{lone}/delete"),
    )
    .await;
    assert!(
        affected(&dialog).contains("Held by 1 credential<"),
        "{dialog}"
    );
    assert!(affected(&dialog).contains(&lonely));
    assert!(
        !dialog.contains("Without it"),
        "Billing still allows: {dialog}"
    );

    let answer = alice.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let left: Vec<String> = m
        .credential(&both)
        .await
        .unwrap()
        .roles
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(left, ["Billing"]);
}

#[tokio::test]
async fn roles_tab_counts_the_credentials_holding_each_role() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    role(m, "Support", &["GetClients"]).await;
    role(m, "Billing", &["GetInvoices"]).await;
    role(m, "Unused", &["GetInvoices"]).await;
    for _ in 0..3 {
        credential(m, ADMIN, "", &["Support"]).await;
    }
    credential(m, ADMIN, "", &["Support", "Billing"]).await;
    let (mut alice, _) = app.logged_in().await;

    let roles = page(&mut alice, "/admin/api-credentials?tab=roles").await;
    assert!(roles.contains(r#"<th scope="col">Used by</th>"#), "{roles}");
    let used_by = |name: &str| -> String {
        let start = roles
            .find(&format!(r#"data-role="{name}""#))
            .unwrap_or_else(|| panic!("no row {name}"));
        let row = &roles[start..start + roles[start..].find("</tr>").unwrap()];
        let cell = row.find(r#"data-label="Used by""#).expect("a Used by cell");
        let cell = &row[cell..];
        cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].to_string()
    };
    assert_eq!(used_by("Support"), "4 credentials");
    assert_eq!(used_by("Billing"), "1 credential");
    assert_eq!(
        used_by("Unused"),
        r#"<span class="muted">No credentials</span>"#
    );
    assert!(roles.contains(r#"data-used-by="4""#));
}

#[tokio::test]
async fn credentials_that_can_run_nothing_are_marked_and_warned_about() {
    let app = TestApp::start_ui(false).await;
    let m = &app.manager;
    let support = role(m, "Support", &["GetClients"]).await;
    let empty = role(m, "Empty", &[]).await;
    let working = credential(m, ADMIN, "works", &["Support"]).await;
    let mixed = credential(m, ADMIN, "empty and support", &["Empty", "Support"]).await;
    let hollow = credential(m, ADMIN, "only an empty role", &["Empty"]).await;
    let bare = credential(m, ADMIN, "no roles", &[]).await;
    let (mut alice, csrf) = app.logged_in().await;

    let list = page(&mut alice, CREDENTIALS).await;
    for identifier in [&working, &mixed] {
        let row = row(&list, identifier);
        assert!(!row.contains("data-no-actions"), "{row}");
        assert!(!row.contains(">No actions</span>"), "{row}");
    }
    for identifier in [&hollow, &bare] {
        let row = row(&list, identifier);
        assert!(row.contains("data-no-actions"), "{row}");
        assert!(row.contains(">No actions</span>"), "{row}");
    }

    // The edit dialog: the warning follows the roles ticked, and a role
    // that allows nothing is marked for the script.
    let edit = |identifier: &str| {
        format!("/admin/api-credentials/credentials/edit?identifier={identifier}")
    };
    let dialog = page(&mut alice, &edit(&hollow)).await;
    assert!(
        !tag(&dialog, "no-actions-warning").contains(" hidden"),
        "{dialog}"
    );
    assert!(
        block(&dialog, "no-actions-warning")
            .contains("every call this credential makes is refused"),
        "{dialog}"
    );
    let empty_box = tag(&dialog, &format!("edit-role-{empty}"));
    assert!(empty_box.contains("data-allows-nothing"), "{empty_box}");
    assert!(!tag(&dialog, &format!("edit-role-{support}")).contains("data-allows-nothing"));
    assert!(
        dialog.contains("Empty <span class=\"muted\">(no actions)</span>"),
        "{dialog}"
    );
    let dialog = page(&mut alice, &edit(&bare)).await;
    assert!(!tag(&dialog, "no-actions-warning").contains(" hidden"));
    for identifier in [&working, &mixed] {
        let dialog = page(&mut alice, &edit(identifier)).await;
        assert!(
            tag(&dialog, "no-actions-warning").contains(" hidden"),
            "{dialog}"
        );
    }

    // A refused save shows the warning for the roles picked, not the saved ones.
    let answer = alice
        .post(
            "/admin/api-credentials/credentials/edit",
            &[
                ("csrf", &csrf),
                ("identifier", &working),
                ("roles", &empty.to_string()),
                ("rate_limit", "lots"),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert!(!tag(&answer.body, "no-actions-warning").contains(" hidden"));

    // Saving it anyway works, and the notice says what it means.
    let list = save_roles(&mut alice, &csrf, &working, &empty.to_string()).await;
    assert!(
        list.contains("saved. No role of it allows an action: every call it makes is refused."),
        "{list}"
    );
    assert!(row(&list, &working).contains("data-no-actions"));
    let list = save_roles(&mut alice, &csrf, &working, &support.to_string()).await;
    assert!(!list.contains("No role of it allows"), "{list}");
    assert!(!row(&list, &working).contains("data-no-actions"));
}

/// Saves the credential's roles from the Edit dialog; the page it leads to.
async fn save_roles(client: &mut Client, csrf: &str, identifier: &str, roles: &str) -> String {
    let answer = client
        .post(
            "/admin/api-credentials/credentials/edit",
            &[("csrf", csrf), ("identifier", identifier), ("roles", roles)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    page(client, answer.location()).await
}

/// The dialogs' warnings follow the form as it is changed, in the browser.
async fn warnings_follow_the_form(ui: &browser::Ui) -> Result<()> {
    let m = &ui.app.manager;
    m.add_admin("bob", "bob-password-1").await?;
    m.set_admin_enabled("bob", false).await?;
    role(m, "Support", &["GetClients"]).await;
    let empty = role(m, "Empty", &[]).await;
    let identifier = credential(m, ADMIN, "", &["Support"]).await;

    ui.go("/admin/login").await?;
    ui.fill("#username", ADMIN).await?;
    ui.fill("#password", PASSWORD).await?;
    ui.click_button("Log in").await?;
    ui.button("Create API Role").await?;

    ui.go("/admin/api-credentials/credentials/new").await?;
    let warning = ui.css("#gen-admin-disabled").await?;
    ensure!(!warning.is_displayed().await?, "alice is enabled");
    ui.css("#gen-admin option[value='bob']")
        .await?
        .click()
        .await?;
    ensure!(warning.is_displayed().await?, "bob is disabled");
    ensure!(warning.text().await?.contains("This admin is disabled."));
    ui.shot("generate-disabled-admin").await?;
    ui.css("#gen-admin option[value='alice']")
        .await?
        .click()
        .await?;
    ensure!(!warning.is_displayed().await?, "back to alice");

    ui.go(&format!(
        "/admin/api-credentials/credentials/edit?identifier={identifier}"
    ))
    .await?;
    let warning = ui.css("#no-actions-warning").await?;
    ensure!(!warning.is_displayed().await?, "Support allows GetClients");
    ui.css(&format!("#edit-role-{empty}"))
        .await?
        .click()
        .await?;
    ensure!(!warning.is_displayed().await?, "Support still ticked");
    ui.xpath("//label[span[normalize-space()='Support']]/input")
        .await?
        .click()
        .await?;
    ensure!(warning.is_displayed().await?, "only the empty role is left");
    ui.shot("edit-no-actions").await?;
    ui.css(&format!("#edit-role-{empty}"))
        .await?
        .click()
        .await?;
    ensure!(warning.is_displayed().await?, "no role at all");
    ui.click_button("Save").await?;
    ui.wait_text("[data-flash]", "saved").await?;

    // The list marks both kinds of credentials that cannot work.
    m.set_admin_enabled("bob", true).await?;
    let bobs = credential(m, "bob", "bob's", &["Support"]).await;
    m.set_admin_enabled("bob", false).await?;
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ui.wait_status(&bobs, "Admin disabled").await?;
    let mine = format!("{}[data-no-actions]", browser::Ui::row(&identifier));
    ui.wait_text(&mine, "No actions").await?;
    ui.shot("credentials-admin-disabled-no-actions").await?;

    ui.go("/admin/api-credentials?tab=roles").await?;
    ui.css("tr[data-role='Support'] button[aria-label^='Delete']")
        .await?
        .click()
        .await?;
    ui.wait_text("#dialog-affected", "Held by 1 credential")
        .await?;
    ui.wait_text("#dialog-affected", &bobs).await?;
    ui.shot("confirm-delete-role-holders").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialog_warnings_follow_the_form_in_the_browser() {
    browser::with_browser("admin-state", |ui| Box::pin(warnings_follow_the_form(ui))).await;
}
