//! The sort control of the credentials list on phones, where the table
//! headers (and the sort links in them) are hidden: the same orders, leading
//! to the same URLs the headers use.

use super::page::{ApiCredentialsPage, SortKey};

/// One option of the phone sort control.
pub struct SortChoice {
    /// Where choosing it leads (the list in this order, page 1).
    pub href: String,
    /// Shown text, e.g. "Created, newest first".
    pub label: &'static str,
    /// The list's current order.
    pub selected: bool,
}

/// Every order the headers offer, both directions.
const CHOICES: [(SortKey, bool, &str); 8] = [
    (SortKey::Created, true, "Created, newest first"),
    (SortKey::Created, false, "Created, oldest first"),
    (SortKey::LastAccess, true, "Last access, newest first"),
    (SortKey::LastAccess, false, "Last access, oldest first"),
    (SortKey::Identifier, false, "Identifier, A to Z"),
    (SortKey::Identifier, true, "Identifier, Z to A"),
    (SortKey::Admin, false, "Admin user, A to Z"),
    (SortKey::Admin, true, "Admin user, Z to A"),
];

impl ApiCredentialsPage {
    /// The phone sort control's options, the current order selected.
    pub fn sort_choices(&self) -> Vec<SortChoice> {
        CHOICES
            .iter()
            .map(|&(key, desc, label)| {
                let mut list = self.list.clone();
                (list.sort, list.desc, list.page) = (key, desc, 1);
                SortChoice {
                    href: list.url(),
                    label,
                    selected: key == self.list.sort && desc == self.list.desc,
                }
            })
            .collect()
    }
}
