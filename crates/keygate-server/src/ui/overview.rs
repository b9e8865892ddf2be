//! What the Edit API Credential dialog shows about the credential besides
//! its fields: the owning admin, the status, and the effective actions
//! (the union of its roles' actions, by category).

use std::collections::BTreeSet;

use keygate_core::model::{Credential, Role};
use keygate_core::Catalog;

use super::views::{group_actions, ActionGroup};
use super::words::count;

/// The credential as it stands, above the Edit dialog's fields.
pub struct CredentialOverview {
    /// Owning admin's username.
    pub admin: String,
    /// Whether the owning admin is enabled (its credentials work only then).
    pub admin_enabled: bool,
    /// "Enabled", "Disabled" or "Expired".
    pub status: &'static str,
    /// How many roles it holds.
    pub role_count: usize,
    /// How many distinct actions its roles allow together.
    pub action_count: usize,
    /// Those actions by catalog category.
    pub effective: Vec<ActionGroup>,
}

impl CredentialOverview {
    /// The overview of `credential` at `now` (unix seconds); `roles` are
    /// all roles (those it holds are picked by id).
    pub fn new(
        credential: &Credential,
        admin_enabled: bool,
        roles: &[Role],
        catalog: &Catalog,
        now: i64,
    ) -> Self {
        let held: Vec<&Role> = roles
            .iter()
            .filter(|r| credential.roles.iter().any(|h| h.id == r.id))
            .collect();
        let actions: BTreeSet<&String> = held.iter().flat_map(|r| r.actions.iter()).collect();
        let actions: Vec<String> = actions.into_iter().cloned().collect();
        let lifecycle = &credential.lifecycle;
        Self {
            admin: credential.admin.clone(),
            admin_enabled,
            status: match (lifecycle.enabled, lifecycle.expired_at(now)) {
                (false, _) => "Disabled",
                (true, true) => "Expired",
                (true, false) => "Enabled",
            },
            role_count: credential.roles.len(),
            action_count: actions.len(),
            effective: group_actions(&actions, catalog),
        }
    }

    /// The status badge's class suffix: `enabled`, `disabled`, `expired`.
    pub fn status_class(&self) -> String {
        self.status.to_ascii_lowercase()
    }

    /// "1 action", "12 actions".
    pub fn actions_text(&self) -> String {
        count(self.action_count, "action")
    }

    /// "1 role", "2 roles".
    pub fn roles_text(&self) -> String {
        count(self.role_count, "role")
    }
}
