//! Accessible names of table rows: every row action button ("Edit",
//! "Delete", "Rotate"...) says which row it acts on, so a screen reader's
//! list of buttons is not 200 identical "Edit"s.

use super::views::{CredentialRow, RoleRow};

impl CredentialRow {
    /// "credential IDENTIFIER (Description)", or without the description
    /// when there is none: the row's name in its buttons' `aria-label`s.
    pub fn row_name(&self) -> String {
        let description = self.description.trim();
        if description.is_empty() {
            format!("credential {}", self.identifier)
        } else {
            format!("credential {} ({description})", self.identifier)
        }
    }
}

impl RoleRow {
    /// "role NAME": the row's name in its buttons' `aria-label`s.
    pub fn row_name(&self) -> String {
        format!("role {}", self.name)
    }
}
