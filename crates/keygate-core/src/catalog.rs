//! The catalog of API actions roles can allow: WHMCS's actions compiled in
//! from `data/whmcs-api-actions.tsv`, plus custom actions from the config.

use std::collections::HashMap;

use crate::scope::{ScopeRule, ScopeRules};

/// The WHMCS action catalog, compiled into the binary.
const BUILTIN_TSV: &str = include_str!("../data/whmcs-api-actions.tsv");

/// Longest action name accepted; longer requests cannot name an action.
pub const MAX_ACTION_LEN: usize = 64;

/// Index of an action in its [`Catalog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(u16);

impl ActionId {
    /// The id at position `index` of a catalog.
    pub fn from_index(index: usize) -> Self {
        Self(u16::try_from(index).expect("catalog holds at most 65535 actions"))
    }

    /// Position of the action in its catalog.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One action of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionDef {
    /// Canonical spelling, e.g. `GetClientsDetails`.
    pub name: String,
    /// Category it is listed under, e.g. `Client`.
    pub category: String,
    /// Whether it came from the config file rather than the built-in catalog.
    pub custom: bool,
}

/// A custom action declared in the config file (`[[catalog.custom]]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct CustomAction {
    /// Category to list it under (an existing one or a new one).
    pub category: String,
    /// The action's name, as clients send it.
    pub action: String,
    /// Its rule for client-scoped credentials (`deny`, `public`,
    /// `client_param:NAME`, `object:NAME:LOOKUPACTION:OWNERFIELD`); none:
    /// denied to them.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Why a custom action was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    /// The action's name is empty, too long or has characters actions never have.
    #[error(
        "custom action {0:?} is not a valid action name (1 to 64 letters, digits or underscores)"
    )]
    InvalidName(String),
    /// The category is empty or too long.
    #[error("custom action {action:?} has an invalid category {category:?} (1 to 64 characters)")]
    InvalidCategory {
        /// The action declared.
        action: String,
        /// The category it named.
        category: String,
    },
    /// The name is already an action or an alias of the catalog.
    #[error("custom action {0:?} is already in the catalog")]
    Duplicate(String),
    /// The `scope` is not a rule.
    #[error("custom action {action:?} has an invalid scope: {error}")]
    InvalidScope {
        /// The action declared.
        action: String,
        /// Why the rule was refused.
        error: crate::scope::RuleError,
    },
}

/// All actions roles can allow, with case-insensitive lookup and aliases.
#[derive(Clone, Debug)]
pub struct Catalog {
    actions: Vec<ActionDef>,
    categories: Vec<String>,
    /// Lowercase action names and aliases to the canonical action.
    lookup: HashMap<Box<str>, ActionId>,
    aliases: Vec<(String, ActionId)>,
    /// Client-scope rules by action and alias name.
    scope_rules: ScopeRules,
}

impl Catalog {
    /// The built-in WHMCS catalog (162 actions, 16 categories, 2 aliases).
    pub fn builtin() -> Self {
        let mut catalog = Catalog {
            actions: Vec::new(),
            categories: Vec::new(),
            lookup: HashMap::new(),
            aliases: Vec::new(),
            scope_rules: ScopeRules::builtin(),
        };
        let rows: Vec<Vec<&str>> = BUILTIN_TSV
            .lines()
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .map(|line| line.split('\t').collect())
            .collect();
        for row in rows
            .iter()
            .filter(|r| r.get(2).is_none_or(|a| a.is_empty()))
        {
            catalog.push(row[0], row[1], false);
        }
        for row in rows
            .iter()
            .filter(|r| r.get(2).is_some_and(|a| !a.is_empty()))
        {
            let target = catalog.lookup[row[2].to_ascii_lowercase().as_str()];
            catalog
                .lookup
                .insert(row[1].to_ascii_lowercase().into(), target);
            catalog.aliases.push((row[1].to_string(), target));
        }
        catalog
    }

    /// The built-in catalog joined by the config's custom actions.
    pub fn with_custom(custom: &[CustomAction]) -> Result<Self, CatalogError> {
        let mut catalog = Self::builtin();
        for c in custom {
            let action = c.action.trim();
            let category = c.category.trim();
            if !is_valid_action_name(action) {
                return Err(CatalogError::InvalidName(c.action.clone()));
            }
            if category.is_empty() || category.chars().count() > 64 {
                return Err(CatalogError::InvalidCategory {
                    action: c.action.clone(),
                    category: c.category.clone(),
                });
            }
            if catalog.resolve(action).is_some() {
                return Err(CatalogError::Duplicate(c.action.clone()));
            }
            if let Some(scope) = &c.scope {
                let rule =
                    ScopeRule::from_config(scope).map_err(|error| CatalogError::InvalidScope {
                        action: c.action.clone(),
                        error,
                    })?;
                catalog.scope_rules.insert(action, rule);
            }
            catalog.push(category, action, true);
        }
        Ok(catalog)
    }

    fn push(&mut self, category: &str, name: &str, custom: bool) {
        let category = match self
            .categories
            .iter()
            .find(|c| c.eq_ignore_ascii_case(category))
        {
            Some(existing) => existing.clone(),
            None => {
                self.categories.push(category.to_string());
                category.to_string()
            }
        };
        let id = ActionId::from_index(self.actions.len());
        self.lookup.insert(name.to_ascii_lowercase().into(), id);
        self.actions.push(ActionDef {
            name: name.to_string(),
            category,
            custom,
        });
    }

    /// The action a client's `name` means: case-insensitive, aliases resolved.
    /// Allocation-free, since it runs on every request.
    pub fn resolve(&self, name: &str) -> Option<ActionId> {
        let mut buf = [0u8; MAX_ACTION_LEN];
        self.lookup.get(lowercase_name(name, &mut buf)?).copied()
    }

    /// The client-scope rule of the action named `action` as requested
    /// (an alias has its own); `None` denies it to scoped credentials.
    pub fn scope_rule(&self, action: &str) -> Option<&ScopeRule> {
        self.scope_rules.get(action)
    }

    /// The action behind an id of this catalog.
    pub fn action(&self, id: ActionId) -> &ActionDef {
        &self.actions[id.index()]
    }

    /// Every action, in catalog order, with its id.
    pub fn actions(&self) -> impl Iterator<Item = (ActionId, &ActionDef)> {
        self.actions
            .iter()
            .enumerate()
            .map(|(i, a)| (ActionId::from_index(i), a))
    }

    /// Number of actions (aliases not counted).
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the catalog has no action (never true for a built catalog).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Category names in catalog order.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The category's canonical spelling, matched case-insensitively.
    pub fn find_category(&self, name: &str) -> Option<&str> {
        self.categories
            .iter()
            .find(|c| c.eq_ignore_ascii_case(name.trim()))
            .map(String::as_str)
    }

    /// The actions listed under `category` (exact canonical spelling).
    pub fn actions_in(&self, category: &str) -> impl Iterator<Item = (ActionId, &ActionDef)> {
        let category = category.to_string();
        self.actions().filter(move |(_, a)| a.category == category)
    }

    /// Legacy aliases and the action each resolves to.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &ActionDef)> {
        self.aliases
            .iter()
            .map(|(alias, id)| (alias.as_str(), self.action(*id)))
    }
}

/// `name` in ASCII lowercase, written into `buf` (lookups by action name
/// run on every request and allocate nothing); `None` when empty or longer
/// than any action.
pub(crate) fn lowercase_name<'b>(name: &str, buf: &'b mut [u8; MAX_ACTION_LEN]) -> Option<&'b str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_ACTION_LEN {
        return None;
    }
    for (dst, src) in buf.iter_mut().zip(bytes) {
        *dst = src.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..bytes.len()]).ok()
}

/// Action names are 1 to 64 ASCII letters, digits or underscores.
pub fn is_valid_action_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ACTION_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_the_contract_counts() {
        let catalog = Catalog::builtin();
        assert_eq!(catalog.len(), 162);
        assert_eq!(catalog.categories().len(), 16);
        assert_eq!(catalog.aliases().count(), 2);
    }

    #[test]
    fn lookup_table() {
        let catalog = Catalog::builtin();
        let cases = [
            ("GetClients", Some("GetClients")),
            ("getclients", Some("GetClients")),
            ("GETCLIENTS", Some("GetClients")),
            ("GetClientsData", Some("GetClientsDetails")),
            ("getclientsdatabyemail", Some("GetClientsDetails")),
            ("GetClientsDetails", Some("GetClientsDetails")),
            ("", None),
            ("NoSuchAction", None),
            ("GetClients ", None),
            ("Get\u{e9}Clients", None),
            (&"a".repeat(65), None),
        ];
        for (input, expected) in cases {
            let got = catalog
                .resolve(input)
                .map(|id| catalog.action(id).name.as_str());
            assert_eq!(got, expected, "resolve({input:?})");
        }
    }

    #[test]
    fn categories_are_found_case_insensitively() {
        let catalog = Catalog::builtin();
        assert_eq!(catalog.find_category("billing"), Some("Billing"));
        assert_eq!(
            catalog.find_category("project management"),
            Some("Project Management")
        );
        assert_eq!(catalog.find_category("nope"), None);
        assert_eq!(catalog.actions_in("Billing").count(), 24);
    }

    #[test]
    fn custom_actions_join_the_catalog() {
        let custom = [
            CustomAction {
                category: "Custom".into(),
                action: "GetInvoicesDetails".into(),
                scope: None,
            },
            CustomAction {
                category: "billing".into(),
                action: "MyBilling".into(),
                scope: None,
            },
        ];
        let catalog = Catalog::with_custom(&custom).unwrap();
        assert_eq!(catalog.len(), 164);
        assert_eq!(catalog.categories().len(), 17);
        let id = catalog.resolve("getinvoicesdetails").unwrap();
        assert!(catalog.action(id).custom);
        let id = catalog.resolve("MyBilling").unwrap();
        assert_eq!(catalog.action(id).category, "Billing");
    }

    #[test]
    fn bad_custom_actions_are_refused() {
        let cases = [
            (
                ("Custom", "GetClients"),
                CatalogError::Duplicate("GetClients".into()),
            ),
            (
                ("Custom", "getclientsdata"),
                CatalogError::Duplicate("getclientsdata".into()),
            ),
            (
                ("Custom", "bad name"),
                CatalogError::InvalidName("bad name".into()),
            ),
            (("Custom", ""), CatalogError::InvalidName("".into())),
            (
                ("", "Fine"),
                CatalogError::InvalidCategory {
                    action: "Fine".into(),
                    category: "".into(),
                },
            ),
        ];
        for ((category, action), expected) in cases {
            let custom = [CustomAction {
                category: category.into(),
                action: action.into(),
                scope: None,
            }];
            assert_eq!(Catalog::with_custom(&custom).unwrap_err(), expected);
        }
    }
}
