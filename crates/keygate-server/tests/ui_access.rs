//! Accessibility and small-screen layout of the admin UI in headless
//! Chromium (issue 16, items 6 and 7): row actions named after their row,
//! WCAG AA contrast measured on the rendered page, arrow keys in the
//! permission category menu, inline role checkboxes, 64-character names on
//! a 390 px phone, and the sort control phones get instead of the hidden
//! table headers.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium`, like
//! `ui_browser.rs` (SKIPPED without them unless
//! `KEYGATE_TEST_BROWSER_REQUIRED=1`).

mod browser;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use browser::{Ui, WAIT};
use fantoccini::key::Key;
use keygate_core::model::Lifecycle;
use keygate_store::RoleInput;
use keygate_testkit::ui::ADMIN;
use serde_json::{json, Value};

/// One browser at a time: the machines running this have few cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A 64-character name with no space to break at (the longest allowed).
const LONG_ROLE: &str = "ExtremelyLongRoleNameForTheWholeBillingDepartmentAndItsContracto";
/// A 64-character admin username.
const LONG_ADMIN: &str = "extremely.long.admin.username.for.the.billing.department.contrac";
/// A 64-character description without spaces.
const LONG_TEXT: &str = "AnExtremelyLongDescriptionWithoutAnySpacesThatMustWrapOrTruncate";

async fn role(ui: &Ui, name: &str, description: &str, actions: &[&str]) -> Result<()> {
    let input = RoleInput {
        name: name.into(),
        description: description.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        ..RoleInput::default()
    };
    ui.app.manager.create_role(input).await?;
    Ok(())
}

/// Roles (one with a 64-character name and description), an admin with a
/// 64-character name, and credentials: enabled with a description,
/// disabled, expired and one with long texts. Returns the first
/// credential's identifier.
async fn seed(ui: &Ui) -> Result<String> {
    let manager = &ui.app.manager;
    role(ui, "Support Desk", "Helpdesk", &["GetClients", "AddOrder"]).await?;
    role(ui, LONG_ROLE, LONG_TEXT, &["GetInvoices"]).await?;
    manager.add_admin(LONG_ADMIN, "long-admin-password").await?;
    let support = vec!["Support Desk".to_string()];
    let (first, _) = manager
        .generate_credential(ADMIN, "Support app", &support, Lifecycle::default())
        .await?;
    let (off, _) = manager
        .generate_credential(ADMIN, "", &support, Lifecycle::default())
        .await?;
    manager
        .set_credential_enabled(&off.identifier, false)
        .await?;
    let soon = Lifecycle {
        expires_at: Some(now() + 1),
        ..Lifecycle::default()
    };
    manager
        .generate_credential(ADMIN, "Short-lived", &support, soon)
        .await?;
    let both = vec![LONG_ROLE.to_string(), "Support Desk".to_string()];
    manager
        .generate_credential(LONG_ADMIN, LONG_TEXT, &both, Lifecycle::default())
        .await?;
    Ok(first.identifier)
}

fn now() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    elapsed.map_or(0, |d| d.as_secs() as i64)
}

/// Runs `steps` logged in over the seeded data, one browser at a time.
async fn case<F>(name: &str, steps: F)
where
    F: for<'u> FnOnce(
            &'u Ui,
            String,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + 'u>>
        + 'static,
{
    let _turn = ONE_AT_A_TIME.lock().await;
    browser::with_browser(name, |ui| {
        Box::pin(async move {
            let first = seed(ui).await?;
            ui.log_in().await?;
            steps(ui, first).await
        })
    })
    .await;
}

async fn js(ui: &Ui, script: &str, args: Vec<Value>) -> Result<Value> {
    Ok(ui.c.execute(script, args).await?)
}

// ---- item 6: accessible names of row actions ----

/// `[row key, accessible name, visible text]` of every button in the rows.
const ROW_BUTTONS_JS: &str = r#"
const [rows, key] = arguments;
return Array.from(document.querySelectorAll(rows + ' button')).map(b => [
  b.closest('tr').getAttribute(key),
  (b.getAttribute('aria-label') || b.textContent).trim(),
  b.textContent.trim(),
]);
"#;

/// Every row button's name is unique, names the row (`prefix` + key) and
/// starts with its visible text (WCAG 2.5.3 label in name).
async fn row_buttons_named(ui: &Ui, rows: &str, key: &str, prefix: &str) -> Result<Vec<String>> {
    let found = js(ui, ROW_BUTTONS_JS, vec![json!(rows), json!(key)]).await?;
    let found: Vec<(String, String, String)> = serde_json::from_value(found)?;
    ensure!(found.len() > 2, "too few row buttons in {rows}: {found:?}");
    let mut names: Vec<String> = Vec::new();
    for (row, name, text) in found {
        ensure!(
            name.contains(&format!("{prefix}{row}")),
            "{name:?} does not name {row}"
        );
        ensure!(
            name.starts_with(&text),
            "{name:?} does not start with {text:?}"
        );
        ensure!(!names.contains(&name), "two buttons named {name:?}");
        names.push(name);
    }
    Ok(names)
}

async fn row_action_names(ui: &Ui, first: String) -> Result<()> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    let names = row_buttons_named(ui, "tr.cred-row", "data-identifier", "credential ").await?;
    for wanted in [
        format!("Edit credential {first} (Support app)"),
        format!("Delete credential {first} (Support app)"),
        format!("Disable credential {first} (Support app)"),
        format!("Rotate the secret of credential {first} (Support app)"),
    ] {
        ensure!(names.contains(&wanted), "no {wanted:?} in {names:?}");
    }
    ui.go("/admin/api-credentials?tab=roles").await?;
    let names = row_buttons_named(ui, "tr.role-row", "data-role", "role ").await?;
    for wanted in ["Edit role Support Desk", "Delete role Support Desk"] {
        ensure!(
            names.iter().any(|n| n == wanted),
            "no {wanted:?} in {names:?}"
        );
    }
    ui.go("/admin/admins").await?;
    let names = row_buttons_named(ui, "tr.admin-row", "data-admin", "admin ").await?;
    let wanted = format!("Remove admin {LONG_ADMIN}");
    ensure!(names.contains(&wanted), "no {wanted:?} in {names:?}");
    Ok(())
}

/// Item 6: 200 rows no longer give 200 identical "Edit" buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_actions_name_their_row() {
    case("access-row-names", |ui, first| {
        Box::pin(row_action_names(ui, first))
    })
    .await;
}

// ---- item 6: contrast, computed from the rendered page ----

/// Computed colours of the visible elements matching `arguments[0]` (the
/// focused element when empty): text, border and outline colours, and the
/// background colours from the element (or, with `arguments[1]`, its
/// parent: what an outline or border sits on) up to the root.
const PAINT_JS: &str = r#"
const [selector, fromParent] = arguments;
const all = selector ? Array.from(document.querySelectorAll(selector)) : [document.activeElement];
return all.filter(el => el.getClientRects().length > 0).map(el => {
  const s = getComputedStyle(el);
  const layers = [];
  for (let n = fromParent ? el.parentElement : el; n; n = n.parentElement) {
    layers.push(getComputedStyle(n).backgroundColor);
  }
  return {
    what: el.outerHTML.slice(0, 100), color: s.color, border: s.borderTopColor,
    borderWidth: s.borderTopWidth, outline: s.outlineColor, outlineStyle: s.outlineStyle,
    outlineWidth: s.outlineWidth, focusVisible: el.matches(':focus-visible'), layers,
  };
});
"#;

type Rgb = [f64; 3];

/// `rgb(r, g, b)` or `rgba(r, g, b, a)` as channels 0 to 255 and alpha.
fn parse_color(text: &str) -> Result<(Rgb, f64)> {
    let inner = text
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .with_context(|| format!("not a colour: {text}"))?;
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()?;
    ensure!(parts.len() >= 3, "not a colour: {text}");
    Ok((
        [parts[0], parts[1], parts[2]],
        *parts.get(3).unwrap_or(&1.0),
    ))
}

/// `top` with its alpha painted over the opaque `bottom`.
fn over((top, alpha): (Rgb, f64), bottom: Rgb) -> Rgb {
    [0, 1, 2].map(|i| top[i] * alpha + bottom[i] * (1.0 - alpha))
}

/// What the `layers` (innermost first) show, over a white canvas.
fn backdrop(layers: &Value) -> Result<Rgb> {
    let mut color = [255.0; 3];
    for layer in layers.as_array().context("layers")?.iter().rev() {
        color = over(parse_color(layer.as_str().unwrap_or_default())?, color);
    }
    Ok(color)
}

/// WCAG 2 relative luminance of an sRGB colour.
fn luminance(rgb: Rgb) -> f64 {
    let linear = |c: f64| {
        let c = c / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
}

/// WCAG 2 contrast ratio, 1 to 21.
fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The contrast of each element's `field` colour (`color`, `border`,
/// `outline`) against what is behind it.
async fn contrasts(ui: &Ui, selector: &str, field: &str) -> Result<Vec<(f64, Value)>> {
    let from_parent = field != "color";
    let found = js(ui, PAINT_JS, vec![json!(selector), json!(from_parent)]).await?;
    let mut out = Vec::new();
    for paint in found.as_array().context("elements")? {
        let behind = backdrop(&paint["layers"])?;
        let own = over(
            parse_color(paint[field].as_str().unwrap_or_default())?,
            behind,
        );
        out.push((contrast(own, behind), paint.clone()));
    }
    Ok(out)
}

/// At least one element matches and each reaches `minimum`.
async fn assert_contrast(ui: &Ui, selector: &str, field: &str, minimum: f64) -> Result<()> {
    let found = contrasts(ui, selector, field).await?;
    ensure!(!found.is_empty(), "nothing visible matches {selector}");
    for (ratio, paint) in found {
        ensure!(
            ratio >= minimum,
            "{field} of {} is {ratio:.2}:1, under {minimum}:1",
            paint["what"]
        );
    }
    Ok(())
}

#[test]
fn contrast_formula_matches_wcag_examples() {
    assert!((contrast([0.0; 3], [255.0; 3]) - 21.0).abs() < 1e-9);
    let ratio = contrast([0x76 as f64; 3], [255.0; 3]);
    assert!((ratio - 4.54).abs() < 0.01, "{ratio}");
    let old_ring = contrast([141.0, 183.0, 234.0], [255.0; 3]);
    assert!((old_ring - 2.08).abs() < 0.01, "{old_ring}");
}

/// Focuses `selector` after a key press (so `:focus-visible` applies, as
/// for a keyboard user) and checks its focus ring against what surrounds it.
async fn assert_focus_ring(ui: &Ui, selector: &str) -> Result<()> {
    ui.css(selector).await?.send_keys(&Key::Shift).await?;
    let script = "document.querySelector(arguments[0]).focus();";
    js(ui, script, vec![json!(selector)]).await?;
    let found = contrasts(ui, "", "outline").await?;
    let (ratio, paint) = found.first().context("no focused element")?;
    ensure!(paint["focusVisible"] == json!(true), "{selector}: {paint}");
    let width: f64 = paint["outlineWidth"]
        .as_str()
        .unwrap_or("0px")
        .trim_end_matches("px")
        .parse()?;
    ensure!(
        paint["outlineStyle"] != json!("none") && width >= 2.0,
        "{selector} shows no focus ring: {paint}"
    );
    ensure!(
        *ratio >= 3.0,
        "focus ring of {selector} is {ratio:.2}:1: {paint}"
    );
    Ok(())
}

async fn contrast_steps(ui: &Ui, first: String) -> Result<()> {
    // The seeded credential expires a second after it is made: reload
    // until the page renders it expired.
    let deadline = Instant::now() + WAIT;
    loop {
        ui.go("/admin/api-credentials?tab=credentials").await?;
        if ui.page_has("status-expired").await? {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the short-lived credential never shows expired"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ui.css(".status-expired").await?;
    assert_contrast(ui, ".badge-status, .chip", "color", 4.5).await?;
    let row = Ui::row(&first);
    assert_focus_ring(ui, &format!("{row} button[aria-label^='Edit']")).await?;
    assert_focus_ring(ui, &format!("{row} button[aria-label^='Rotate']")).await?;
    assert_focus_ring(ui, "#sort-last-access").await?;
    assert_focus_ring(ui, ".toolbar .btn-primary").await?;
    assert_focus_ring(ui, ".mainnav a").await?;
    ui.go("/admin/api-credentials/credentials/new").await?;
    ui.css("#gen-description").await?;
    assert_contrast(
        ui,
        ".modal input[type='text'], .modal select, .modal textarea",
        "border",
        3.0,
    )
    .await?;
    assert_focus_ring(ui, "#gen-description").await?;
    ui.go("/admin/api-credentials?tab=roles").await?;
    ui.css("tr[data-role='Support Desk'] button[aria-label='Edit role Support Desk']")
        .await?
        .click()
        .await?;
    ui.css("[data-picker-cat].active").await?;
    assert_contrast(ui, ".picker .badge", "color", 4.5).await?;
    assert_contrast(ui, ".picker .badge-on", "color", 4.5).await?;
    assert_contrast(ui, ".picker-cat.active .badge", "color", 4.5).await?;
    assert_contrast(ui, "#role-name, #role-description", "border", 3.0).await?;
    assert_focus_ring(ui, "#role-name").await?;
    assert_focus_ring(ui, "[data-picker-cat].active").await
}

/// Item 6: focus ring and field borders reach 3:1, badge text 4.5:1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contrast_meets_wcag_aa() {
    case("access-contrast", |ui, first| {
        Box::pin(contrast_steps(ui, first))
    })
    .await;
}

// ---- item 6: arrow keys in the permission category menu ----

/// The focused category's slug, whether it is the one selected (and the
/// only tab stop) and whether its panel is the one shown.
const FOCUSED_TAB_JS: &str = r#"
const tab = document.activeElement;
const slug = tab.getAttribute('data-picker-cat');
const tabs = Array.from(document.querySelectorAll('[data-picker-cat]'));
const selected = tabs.filter(t => t.getAttribute('aria-selected') === 'true');
const stops = tabs.filter(t => t.tabIndex === 0);
const shown = Array.from(document.querySelectorAll('[data-picker-panel]'))
  .filter(p => p.getClientRects().length > 0).map(p => p.getAttribute('data-picker-panel'));
return {
  slug, role: tab.getAttribute('role'), menu: tab.parentElement.getAttribute('role'),
  ok: selected.length === 1 && selected[0] === tab && stops.length === 1 && stops[0] === tab
    && shown.length === 1 && shown[0] === slug,
};
"#;

/// Presses `key` on the focused element; the focus must move to `slug`.
async fn press(ui: &Ui, key: Key, slug: &str) -> Result<()> {
    ui.c.active_element().await?.send_keys(&key).await?;
    let state = js(ui, FOCUSED_TAB_JS, vec![]).await?;
    ensure!(
        state["slug"] == json!(slug) && state["ok"] == json!(true),
        "after {key:?}: {state}, expected {slug}"
    );
    ensure!(state["role"] == json!("tab") && state["menu"] == json!("tablist"));
    Ok(())
}

async fn arrow_key_steps(ui: &Ui) -> Result<()> {
    ui.go("/admin/api-credentials/roles/new").await?;
    let slugs = js(ui, "return Array.from(document.querySelectorAll('[data-picker-cat]')).map(t => t.getAttribute('data-picker-cat'));", vec![]).await?;
    let slugs: Vec<String> = serde_json::from_value(slugs)?;
    ensure!(slugs.len() > 3, "{slugs:?}");
    let last = slugs.last().context("categories")?;
    ui.css("[data-picker-cat].active")
        .await?
        .send_keys(&Key::Down)
        .await?;
    let state = js(ui, FOCUSED_TAB_JS, vec![]).await?;
    ensure!(
        state["slug"] == json!(slugs[1]) && state["ok"] == json!(true),
        "{state}"
    );
    press(ui, Key::Down, &slugs[2]).await?;
    press(ui, Key::Up, &slugs[1]).await?;
    press(ui, Key::End, last).await?;
    press(ui, Key::Down, &slugs[0]).await?;
    press(ui, Key::Up, last).await?;
    press(ui, Key::Home, &slugs[0]).await?;
    press(ui, Key::Right, &slugs[1]).await?;
    ui.c.active_element().await?.send_keys(&Key::Tab).await?;
    let focused = js(
        ui,
        "return document.activeElement.closest('[data-picker-cat]') === null;",
        vec![],
    )
    .await?;
    ensure!(focused == json!(true), "Tab leaves the category menu");
    Ok(())
}

/// Item 6: Up/Down/Home/End move between categories (a roving tabindex).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_menu_arrow_keys() {
    case("access-category-keys", |ui, _| {
        Box::pin(arrow_key_steps(ui))
    })
    .await;
}

// ---- item 7: role checkboxes inline with their text ----

/// Each role checkbox label: not a block, normal weight, the box left of
/// its text on the same line.
const ROLE_CHECKS_JS: &str = r#"
return Array.from(document.querySelectorAll('label.check'))
  .filter(l => l.querySelector('input[name="roles"]') && l.getClientRects().length > 0)
  .map(l => {
    const s = getComputedStyle(l);
    const box = l.querySelector('input').getBoundingClientRect();
    const text = l.querySelector('span').getBoundingClientRect();
    const inline = box.right <= text.left && box.top < text.bottom && text.top < box.bottom;
    return { label: l.textContent.trim(), display: s.display, weight: s.fontWeight, inline };
  });
"#;

async fn assert_role_checks_inline(ui: &Ui) -> Result<()> {
    let found = js(ui, ROLE_CHECKS_JS, vec![]).await?;
    let found = found.as_array().context("labels")?;
    ensure!(found.len() >= 2, "role checkboxes: {found:?}");
    for check in found {
        ensure!(
            check["display"] != json!("block")
                && check["weight"] == json!("400")
                && check["inline"] == json!(true),
            "{check}"
        );
    }
    Ok(())
}

async fn role_check_steps(ui: &Ui, first: String) -> Result<()> {
    ui.go("/admin/api-credentials/credentials/new").await?;
    ui.css("#gen-description").await?;
    assert_role_checks_inline(ui).await?;
    ui.go(&format!(
        "/admin/api-credentials/credentials/edit?identifier={first}"
    ))
    .await?;
    ui.css("#edit-credential-form").await?;
    assert_role_checks_inline(ui).await
}

/// Item 7: `.field label` no longer puts role checkboxes above bold text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_dialog_role_checks_inline() {
    case("access-role-checks", |ui, first| {
        Box::pin(role_check_steps(ui, first))
    })
    .await;
}

// ---- item 7: 64-character names on a 390 px phone ----

/// Whether the page scrolls sideways, and which truncated texts lack a
/// title with their full text.
const OVERFLOW_JS: &str = r#"
const root = document.documentElement;
const wide = Array.from(document.querySelectorAll('body *'))
  .filter(el => el.getClientRects().length > 0 && el.getBoundingClientRect().right > root.clientWidth + 1)
  .map(el => el.outerHTML.slice(0, 80));
const untitled = Array.from(document.querySelectorAll('body *'))
  .filter(el => getComputedStyle(el).textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth)
  .filter(el => (el.getAttribute('title') || '') !== el.textContent.trim())
  .map(el => el.outerHTML.slice(0, 80));
return { fits: root.scrollWidth <= root.clientWidth, wide: wide.slice(0, 5), untitled };
"#;

async fn assert_fits(ui: &Ui, path: &str) -> Result<()> {
    ui.go(path).await?;
    ui.css("main").await?;
    let state = js(ui, OVERFLOW_JS, vec![]).await?;
    ensure!(
        state["fits"] == json!(true),
        "{path} scrolls sideways: {state}"
    );
    ensure!(
        state["wide"] == json!([]),
        "{path}: content past the edge: {state}"
    );
    ensure!(
        state["untitled"] == json!([]),
        "{path}: truncated without a title: {state}"
    );
    Ok(())
}

async fn long_name_steps(ui: &Ui) -> Result<()> {
    ui.c.set_window_size(390, 844).await?;
    let width = js(ui, "return document.documentElement.clientWidth;", vec![]).await?;
    ensure!(width.as_f64().unwrap_or(0.0) <= 390.0, "{width}");
    let long = ui.app.manager.role(LONG_ROLE).await?;
    assert_fits(ui, "/admin/api-credentials?tab=credentials").await?;
    ui.shot("phone-long-names").await?;
    let script = "return Array.from(document.querySelectorAll('td[data-label] .chip')).every(c => \
        c.getBoundingClientRect().left >= c.closest('td').getBoundingClientRect().left + 100);";
    let aligned = js(ui, script, vec![]).await?;
    ensure!(
        aligned == json!(true),
        "a role badge slipped under the cell's label"
    );
    assert_fits(ui, "/admin/api-credentials?tab=roles").await?;
    assert_fits(
        ui,
        &format!("/admin/api-credentials?tab=roles&view={}", long.id.0),
    )
    .await?;
    assert_fits(ui, "/admin/admins").await?;
    assert_fits(ui, "/admin/api-credentials/credentials/new").await?;
    assert_fits(
        ui,
        &format!("/admin/api-credentials/roles/{}/edit", long.id.0),
    )
    .await
}

/// Item 7: 64-character role names, descriptions and usernames fit 390 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_fit_a_phone() {
    case("access-long-names", |ui, _| Box::pin(long_name_steps(ui))).await;
}

// ---- item 7: sorting on a phone ----

/// Whether `selector` is rendered.
async fn shown(ui: &Ui, selector: &str) -> Result<bool> {
    let script = "const el = document.querySelector(arguments[0]); return !!el && el.getClientRects().length > 0;";
    Ok(js(ui, script, vec![json!(selector)]).await? == json!(true))
}

/// The text of the sort select's chosen option.
async fn chosen_order(ui: &Ui) -> Result<String> {
    let script =
        "const s = document.getElementById('sort-menu'); return s.options[s.selectedIndex].text;";
    Ok(js(ui, script, vec![])
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string())
}

async fn phone_sort_steps(ui: &Ui) -> Result<()> {
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ensure!(
        !shown(ui, "#sort-menu").await?,
        "laptops sort in the headers"
    );
    ui.c.set_window_size(390, 844).await?;
    ui.go("/admin/api-credentials?tab=credentials").await?;
    ui.css("#sort-menu").await?;
    ensure!(
        !shown(ui, ".creds-table thead").await?,
        "phones hide the headers"
    );
    ensure!(shown(ui, "#sort-menu").await?, "phones get the sort select");
    ensure!(
        !shown(ui, "[data-sort-links]").await?,
        "the select replaces the links"
    );
    let header = js(
        ui,
        "return document.getElementById('sort-last-access').href;",
        vec![],
    )
    .await?;
    let option = "//select[@id='sort-menu']/option[normalize-space()='Last access, newest first']";
    let value = ui
        .xpath(option)
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    let absolute = format!("{}{value}", ui.base);
    ensure!(
        header.as_str() == Some(absolute.as_str()),
        "{header} vs {absolute}"
    );
    ui.css("#sort-menu").await?.select_by_value(&value).await?;
    let deadline = Instant::now() + WAIT;
    while !ui.path().await?.contains("sort=last_access") {
        ensure!(Instant::now() < deadline, "choosing an order does not sort");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ui.css("#sort-menu").await?;
    let chosen = chosen_order(ui).await?;
    ensure!(chosen == "Last access, newest first", "{chosen}");
    ui.css("th[aria-sort='descending'] #sort-last-access")
        .await?;
    ui.c.set_window_size(1280, 900).await?;
    Ok(())
}

/// Item 7: phones, where the table headers are hidden, get a sort select
/// leading to the headers' sort URLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_sort_control() {
    case("access-phone-sort", |ui, _| Box::pin(phone_sort_steps(ui))).await;
}
