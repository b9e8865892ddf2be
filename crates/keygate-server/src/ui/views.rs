//! What templates show, computed in Rust so the templates stay plain:
//! role rows with their permissions by category, credential rows, the
//! permission picker, and simple choices for selects and checkbox lists.

use std::collections::{BTreeMap, HashSet};

use keygate_core::model::{Credential, Role};
use keygate_core::Catalog;

use super::time::{stamp, Stamp};

/// Actions of one category, as a role shows them.
pub struct ActionGroup {
    /// Category name.
    pub category: String,
    /// Canonical action names.
    pub actions: Vec<String>,
}

/// A row of the API Roles table.
pub struct RoleRow {
    /// Database id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Number of allowed actions.
    pub count: usize,
    /// Allowed actions by category, in catalog order.
    pub groups: Vec<ActionGroup>,
    /// Whether the permissions row is open (no-script `?view=ID`).
    pub expanded: bool,
}

impl RoleRow {
    /// The row for `role`.
    pub fn new(role: &Role, catalog: &Catalog, expanded: bool) -> Self {
        Self {
            id: role.id.0,
            name: role.name.clone(),
            description: role.description.clone(),
            count: role.actions.len(),
            groups: group_actions(&role.actions, catalog),
            expanded,
        }
    }
}

/// `actions` grouped by catalog category; names the catalog no longer has
/// (a custom action removed from the config) are listed last.
pub fn group_actions(actions: &[String], catalog: &Catalog) -> Vec<ActionGroup> {
    let mut by_category: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for name in actions {
        match catalog.resolve(name) {
            Some(id) => {
                let def = catalog.action(id);
                let index = catalog
                    .categories()
                    .iter()
                    .position(|c| *c == def.category)
                    .unwrap_or(usize::MAX - 1);
                by_category.entry(index).or_default().push(def.name.clone());
            }
            None => unknown.push(name.clone()),
        }
    }
    let mut groups: Vec<ActionGroup> = by_category
        .into_iter()
        .map(|(index, actions)| ActionGroup {
            category: catalog.categories().get(index).cloned().unwrap_or_default(),
            actions,
        })
        .collect();
    if !unknown.is_empty() {
        groups.push(ActionGroup {
            category: "Not in the catalog".into(),
            actions: unknown,
        });
    }
    groups
}

/// A row of the API Credentials table.
pub struct CredentialRow {
    /// Public identifier.
    pub identifier: String,
    /// Position in the table, for element ids.
    pub index: usize,
    /// Owning admin's username.
    pub admin: String,
    /// Description.
    pub description: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Last authenticated use.
    pub last_access: Option<Stamp>,
    /// Creation time.
    pub created: Stamp,
    /// Whether the in-place description form starts open (no-script).
    pub describing: bool,
    /// Not disabled.
    pub enabled: bool,
    /// Past its expiry.
    pub expired: bool,
    /// When it expires (or expired).
    pub expires: Option<Stamp>,
    /// During a rotation: when the old secret stops (only while it works).
    pub old_secret_until: Option<Stamp>,
    /// Networks calls may come from (empty: any address).
    pub allow_ips: Vec<String>,
    /// Its own rate limit (`None`: the server's default).
    pub rate_limit: Option<String>,
    /// The WHMCS clients it is bound to (empty: not scoped).
    pub client_ids: Vec<i64>,
}

impl CredentialRow {
    /// Allowlist entries shown in the table; the rest are counted.
    pub const SHOWN_IPS: usize = 3;

    /// The row for `credential` at `now` (unix seconds).
    pub fn new(credential: &Credential, index: usize, describing: bool, now: i64) -> Self {
        let lifecycle = &credential.lifecycle;
        Self {
            identifier: credential.identifier.clone(),
            index,
            admin: credential.admin.clone(),
            description: credential.description.clone(),
            roles: credential.roles.iter().map(|r| r.name.clone()).collect(),
            last_access: credential.last_access.map(stamp),
            created: stamp(credential.created_at),
            describing,
            enabled: lifecycle.enabled,
            expired: lifecycle.expired_at(now),
            expires: lifecycle.expires_at.map(stamp),
            old_secret_until: credential
                .old_secret_valid_until
                .filter(|&until| until > now)
                .map(stamp),
            allow_ips: lifecycle
                .allow_ips
                .iter()
                .map(ToString::to_string)
                .collect(),
            rate_limit: lifecycle.rate_limit.map(|r| r.to_string()),
            client_ids: lifecycle.client_ids.iter().map(|id| id.0).collect(),
        }
    }

    /// The status word (the badge's text).
    pub fn status(&self) -> &'static str {
        match (self.enabled, self.expired) {
            (false, _) => "Disabled",
            (true, true) => "Expired",
            (true, false) => "Enabled",
        }
    }

    /// The allowlist entries shown in the table.
    pub fn shown_ips(&self) -> &[String] {
        &self.allow_ips[..self.allow_ips.len().min(Self::SHOWN_IPS)]
    }

    /// How many allowlist entries the table leaves out.
    pub fn more_ips(&self) -> usize {
        self.allow_ips.len().saturating_sub(Self::SHOWN_IPS)
    }

    /// Every allowlist entry, for a tooltip.
    pub fn all_ips(&self) -> String {
        self.allow_ips.join(", ")
    }
}

/// A confirmation dialog in front of a destructive action.
pub struct Confirm {
    /// Dialog title, e.g. "Delete API Role".
    pub title: String,
    /// What will happen.
    pub message: String,
    /// Where the confirming form posts.
    pub action: String,
    /// Hidden fields the form carries besides the CSRF token.
    pub fields: Vec<(String, String)>,
    /// The confirming button's text.
    pub button: &'static str,
    /// Where Cancel leads.
    pub cancel: String,
}

/// One checkbox or option.
pub struct Choice {
    /// Submitted value.
    pub value: String,
    /// Shown text.
    pub label: String,
    /// Checked or selected.
    pub checked: bool,
}

/// One action in the permission picker.
pub struct PickerAction {
    /// Canonical name (the submitted value).
    pub name: String,
    /// Ticked.
    pub checked: bool,
}

/// One category of the permission picker.
pub struct PickerCategory {
    /// Element id (`cat-N`).
    pub slug: String,
    /// Category name.
    pub name: String,
    /// Its actions.
    pub actions: Vec<PickerAction>,
    /// How many are ticked.
    pub selected: usize,
    /// Shown first: the first category with a ticked action, else the first.
    pub active: bool,
}

impl PickerCategory {
    /// Whether every action is ticked.
    pub fn all(&self) -> bool {
        self.selected == self.actions.len()
    }
}

/// The permission picker: a category menu with a checkbox per action.
pub struct Picker {
    /// Categories in catalog order.
    pub categories: Vec<PickerCategory>,
    /// Ticked actions in all.
    pub selected: usize,
    /// Actions in all.
    pub total: usize,
}

impl Picker {
    /// The catalog with `selected` (any case) ticked.
    pub fn new(catalog: &Catalog, selected: &[String]) -> Self {
        let ticked: HashSet<String> = selected
            .iter()
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        let categories: Vec<PickerCategory> = catalog
            .categories()
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let actions: Vec<PickerAction> = catalog
                    .actions_in(name)
                    .map(|(_, a)| PickerAction {
                        name: a.name.clone(),
                        checked: ticked.contains(&a.name.to_ascii_lowercase()),
                    })
                    .collect();
                PickerCategory {
                    slug: format!("cat-{i}"),
                    name: name.clone(),
                    selected: actions.iter().filter(|a| a.checked).count(),
                    actions,
                    active: false,
                }
            })
            .collect();
        let mut categories = categories;
        let first = categories.iter().position(|c| c.selected > 0).unwrap_or(0);
        if let Some(category) = categories.get_mut(first) {
            category.active = true;
        }
        Self {
            selected: categories.iter().map(|c| c.selected).sum(),
            total: catalog.len(),
            categories,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picker_counts_and_groups() {
        let catalog = Catalog::builtin();
        let picked = vec!["getclients".to_string(), "AddOrder".to_string()];
        let picker = Picker::new(&catalog, &picked);
        assert_eq!(picker.total, catalog.len());
        assert_eq!(picker.selected, 2);
        let active: Vec<&str> = picker
            .categories
            .iter()
            .filter(|c| c.active)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            active,
            ["Client"],
            "opens on the first category with a ticked action"
        );
        assert_eq!(picker.categories.len(), catalog.categories().len());
        let groups = group_actions(
            &["GetClients".into(), "AddOrder".into(), "Gone".into()],
            &catalog,
        );
        assert_eq!(groups.last().unwrap().actions, ["Gone"]);
        assert_eq!(groups.iter().map(|g| g.actions.len()).sum::<usize>(), 3);
    }
}
