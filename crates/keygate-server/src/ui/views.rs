//! What templates show, computed in Rust so the templates stay plain:
//! role rows with their permissions by category, credential rows, the
//! permission picker, and simple choices for selects and checkbox lists.

use std::collections::{BTreeMap, HashSet};

use keygate_core::model::{Admin, AdminId, Credential, Role, RoleId};
use keygate_core::Catalog;
use keygate_store::CredentialPage;

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
    /// How many credentials hold it.
    pub used_by: usize,
}

impl RoleRow {
    /// The row for `role`, held by `used_by` credentials.
    pub fn new(role: &Role, catalog: &Catalog, expanded: bool, used_by: usize) -> Self {
        Self {
            id: role.id.0,
            name: role.name.clone(),
            description: role.description.clone(),
            count: role.actions.len(),
            groups: group_actions(&role.actions, catalog),
            expanded,
            used_by,
        }
    }
}

/// What decides, besides a credential's own state, whether it can work:
/// whether its admin is enabled and whether any of its roles allows an
/// action. Built once a page from the admin and role listings, so marking
/// every row costs no query per row.
pub struct Standing {
    disabled_admins: HashSet<AdminId>,
    allowing_roles: HashSet<RoleId>,
}

impl Standing {
    /// From every admin and every role; a role allows an action when one
    /// of its actions is in `catalog` (as the snapshot decides).
    pub fn new(admins: &[Admin], roles: &[Role], catalog: &Catalog) -> Self {
        Self {
            disabled_admins: admins.iter().filter(|a| !a.enabled).map(|a| a.id).collect(),
            allowing_roles: roles
                .iter()
                .filter(|r| allows_any(r, catalog))
                .map(|r| r.id)
                .collect(),
        }
    }

    /// Whether the admin is enabled (one not listed counts as enabled).
    pub fn admin_enabled(&self, admin: AdminId) -> bool {
        !self.disabled_admins.contains(&admin)
    }

    /// Whether any of `roles` allows an action.
    pub fn allows_any(&self, roles: impl IntoIterator<Item = RoleId>) -> bool {
        roles.into_iter().any(|r| self.allowing_roles.contains(&r))
    }
}

/// Whether `role` allows an action of `catalog`.
pub fn allows_any(role: &Role, catalog: &Catalog) -> bool {
    role.actions.iter().any(|a| catalog.resolve(a).is_some())
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
    /// Whether the owning admin is enabled (a disabled admin's credentials
    /// are all refused).
    pub admin_enabled: bool,
    /// Description.
    pub description: String,
    /// Role names.
    pub roles: Vec<String>,
    /// No role, or none of its roles allows an action: every call is refused.
    pub no_actions: bool,
    /// Last authenticated use.
    pub last_access: Option<Stamp>,
    /// Not used for 90 days (or never, and created that long ago).
    pub unused: bool,
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
    pub fn new(
        credential: &Credential,
        index: usize,
        describing: bool,
        now: i64,
        standing: &Standing,
    ) -> Self {
        let lifecycle = &credential.lifecycle;
        Self {
            identifier: credential.identifier.clone(),
            index,
            admin: credential.admin.clone(),
            admin_enabled: standing.admin_enabled(credential.admin_id),
            description: credential.description.clone(),
            roles: credential.roles.iter().map(|r| r.name.clone()).collect(),
            no_actions: !standing.allows_any(credential.roles.iter().map(|r| r.id)),
            last_access: credential.last_access.map(stamp),
            unused: keygate_core::listing::is_unused(
                credential.created_at,
                credential.last_access,
                now,
            ),
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

    /// The status word: the first reason it is refused, else "Enabled".
    pub fn status(&self) -> &'static str {
        match (self.enabled, self.expired, self.admin_enabled) {
            (false, _, _) => "Disabled",
            (true, true, _) => "Expired",
            (true, false, false) => "Admin disabled",
            (true, false, true) => "Enabled",
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
    /// The credentials it affects, when it names them.
    pub affected: Option<Affected>,
    /// Where the confirming form posts.
    pub action: String,
    /// Hidden fields the form carries besides the CSRF token.
    pub fields: Vec<(String, String)>,
    /// The confirming button's text.
    pub button: &'static str,
    /// Where Cancel leads.
    pub cancel: String,
}

/// The credentials a confirmed action affects: a heading with their
/// number, the first [`Affected::SHOWN`] by identifier and description, and
/// how many more there are.
pub struct Affected {
    /// E.g. "Held by 3 credentials".
    pub heading: String,
    /// Identifier and description of the first few.
    pub shown: Vec<(String, String)>,
    /// How many are not shown.
    pub more: usize,
}

impl Affected {
    /// Credentials listed by name; the rest are counted.
    pub const SHOWN: usize = 10;

    /// `credentials` under `heading`.
    pub fn new(heading: String, credentials: &[Credential]) -> Self {
        Self {
            heading,
            shown: credentials
                .iter()
                .take(Self::SHOWN)
                .map(|c| (c.identifier.clone(), c.description.clone()))
                .collect(),
            more: credentials.len().saturating_sub(Self::SHOWN),
        }
    }

    /// The credentials of `page` (its first few) under `heading`, counting
    /// the rest of its total.
    pub fn of_page(heading: String, page: &CredentialPage) -> Self {
        let shown = Self::new(heading, &page.credentials);
        let listed = shown.shown.len() as u64;
        Self {
            more: usize::try_from(page.total.saturating_sub(listed)).unwrap_or(usize::MAX),
            ..shown
        }
    }
}

/// One checkbox or option.
pub struct Choice {
    /// Submitted value.
    pub value: String,
    /// Shown text.
    pub label: String,
    /// Checked or selected.
    pub checked: bool,
    /// Comes with a warning: an admin that is disabled, a role that allows
    /// no action.
    pub warn: bool,
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

    fn role(id: i64, actions: &[&str]) -> Role {
        Role {
            id: RoleId(id),
            name: format!("R{id}"),
            description: String::new(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            created_at: 0,
        }
    }

    #[test]
    fn standing_reads_admins_and_roles_as_the_snapshot_does() {
        let catalog = Catalog::builtin();
        let admin = |id, enabled| Admin {
            id: AdminId(id),
            username: format!("a{id}"),
            enabled,
            created_at: 0,
        };
        let roles = [
            role(1, &["GetClients"]),
            role(2, &[]),
            // A custom action since removed from the configuration.
            role(3, &["GetGone"]),
        ];
        let standing = Standing::new(&[admin(1, true), admin(2, false)], &roles, &catalog);
        assert!(standing.admin_enabled(AdminId(1)));
        assert!(!standing.admin_enabled(AdminId(2)));
        assert!(standing.admin_enabled(AdminId(9)), "unlisted: enabled");
        assert!(standing.allows_any([RoleId(2), RoleId(1)]));
        assert!(!standing.allows_any([RoleId(2), RoleId(3)]));
        assert!(!standing.allows_any([]));
        assert!(
            !standing.allows_any([RoleId(9)]),
            "a role gone allows nothing"
        );
    }

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
