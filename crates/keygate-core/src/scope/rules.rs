//! The rule table: one [`ScopeRule`] per catalog action, compiled in from
//! `data/client-scope-rules.tsv`, plus the rules custom actions declare in
//! the config (`scope = "…"`).

use std::collections::HashMap;

/// Where a client-scoped call may go with one action (DESIGN.md "Client
/// scope"). Closed: adding a kind forces every match to decide on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A request parameter names the client: set when absent (one client
    /// in scope), checked when present.
    ClientParam {
        /// The parameter, e.g. `userid`.
        param: Box<str>,
    },
    /// A request parameter names one object; its owner is looked up
    /// upstream before the call is forwarded. The parameter is required.
    Object {
        /// The parameter, e.g. `invoiceid`.
        param: Box<str>,
        /// How the owner is found.
        lookup: Lookup,
    },
    /// Both: the client parameter as in [`Scope::ClientParam`], and an
    /// optional object parameter checked like [`Scope::Object`].
    ClientParamAndObject {
        /// The client parameter.
        client_param: Box<str>,
        /// The object parameter.
        object_param: Box<str>,
        /// How the object's owner is found.
        lookup: Lookup,
    },
    /// Never available to client-scoped credentials.
    Deny,
    /// Catalog data without client data: available as to any credential.
    Public,
}

/// An ownership lookup: `action` called upstream with `param=<object id>`,
/// the owner read at `owner_path` of the JSON answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The read-only action asked, e.g. `GetInvoice`.
    pub action: Box<str>,
    /// Its parameter naming the object, e.g. `invoiceid`.
    pub param: Box<str>,
    /// Where the owning client id is in the answer.
    pub owner_path: Box<[PathSegment]>,
}

/// One step into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    /// An object's member.
    Key(Box<str>),
    /// An array's element.
    Index(usize),
}

/// The rule of one action for client-scoped credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeRule {
    /// What is checked.
    pub scope: Scope,
    /// Parameters that could name a client indirectly: refused when sent.
    pub indirect: Box<[Box<str>]>,
    /// Response keys holding client ids, checked anywhere in the answer
    /// besides [`DEFAULT_OWNER_FIELDS`].
    pub owner_fields: Box<[Box<str>]>,
}

/// Response keys that hold a client id in every WHMCS answer that has
/// them: checked in every scoped response.
pub const DEFAULT_OWNER_FIELDS: [&str; 3] = ["userid", "clientid", "client_id"];

/// Why a rule could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// The scope kind is not one of the five.
    #[error(
        "unknown scope {0:?} (expected deny, public, client_param, object or client_param+object)"
    )]
    UnknownScope(String),
    /// A parameter name is missing or malformed.
    #[error("scope {scope:?} needs a parameter name: {detail}")]
    BadParam {
        /// The scope kind.
        scope: String,
        /// What is wrong.
        detail: String,
    },
    /// The lookup is not `ACTION param -> path`.
    #[error("bad lookup {0:?} (expected \"LookupAction param -> owner.path\")")]
    BadLookup(String),
}

impl ScopeRule {
    /// A rule from the table's columns (`param`, `lookup`, `indirect` and
    /// `owner` as written in the TSV).
    pub fn from_columns(
        scope: &str,
        param: &str,
        lookup: &str,
        indirect: &str,
        owner: &str,
    ) -> Result<Self, RuleError> {
        let needs_param = |what: &str| RuleError::BadParam {
            scope: scope.into(),
            detail: what.into(),
        };
        let scope = match scope.trim() {
            "deny" => Scope::Deny,
            "public" => Scope::Public,
            "client_param" => Scope::ClientParam {
                param: param_name(param).ok_or_else(|| needs_param(param))?,
            },
            "object" => Scope::Object {
                param: param_name(param).ok_or_else(|| needs_param(param))?,
                lookup: Lookup::parse(lookup)?,
            },
            "client_param+object" => {
                let (client, object) = param
                    .split_once(',')
                    .ok_or_else(|| needs_param("expected CLIENTPARAM,OBJECTPARAM"))?;
                Scope::ClientParamAndObject {
                    client_param: param_name(client).ok_or_else(|| needs_param(client))?,
                    object_param: param_name(object).ok_or_else(|| needs_param(object))?,
                    lookup: Lookup::parse(lookup)?,
                }
            }
            other => return Err(RuleError::UnknownScope(other.into())),
        };
        Ok(Self {
            scope,
            indirect: name_list(indirect),
            owner_fields: name_list(owner),
        })
    }

    /// A custom action's rule from the config: `deny`, `public`,
    /// `client_param:NAME` or `object:NAME:LOOKUPACTION:OWNERFIELD`.
    pub fn from_config(text: &str) -> Result<Self, RuleError> {
        let parts: Vec<&str> = text.trim().split(':').collect();
        match parts.as_slice() {
            ["deny"] => Self::from_columns("deny", "", "", "", ""),
            ["public"] => Self::from_columns("public", "", "", "", ""),
            ["client_param", name] => Self::from_columns("client_param", name, "", "", ""),
            ["object", name, action, owner] => {
                let lookup = format!("{action} {name} -> {owner}");
                Self::from_columns("object", name, &lookup, "", "")
            }
            _ => Err(RuleError::UnknownScope(text.into())),
        }
    }

    /// Whether calls under this rule may name client data at all
    /// (everything but `deny` and `public`).
    pub fn reads_client_data(&self) -> bool {
        match self.scope {
            Scope::ClientParam { .. }
            | Scope::Object { .. }
            | Scope::ClientParamAndObject { .. } => true,
            Scope::Deny | Scope::Public => false,
        }
    }
}

impl Lookup {
    /// `GetInvoice invoiceid -> userid`.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let bad = || RuleError::BadLookup(text.into());
        let (call, path) = text.split_once("->").ok_or_else(bad)?;
        let mut words = call.split_whitespace();
        let (Some(action), Some(param), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        if !crate::catalog::is_valid_action_name(action) {
            return Err(bad());
        }
        let param = param_name(param).ok_or_else(bad)?;
        let owner_path = path
            .trim()
            .split('.')
            .map(|segment| match segment.parse::<usize>() {
                Ok(index) => Some(PathSegment::Index(index)),
                Err(_) => param_name(segment).map(PathSegment::Key),
            })
            .collect::<Option<Box<[_]>>>()
            .ok_or_else(bad)?;
        Ok(Self {
            action: action.into(),
            param,
            owner_path,
        })
    }
}

/// A parameter or key name: letters, digits and `_`, 1 to 64 of them.
fn param_name(text: &str) -> Option<Box<str>> {
    let text = text.trim();
    let valid = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| text.into())
}

/// `a, b,c` → `[a, b, c]`; blanks dropped.
fn name_list(text: &str) -> Box<[Box<str>]> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(Box::from)
        .collect()
}

/// Rules by lowercase action name (aliases have their own: WHMCS runs the
/// alias as sent, and an alias may read other parameters).
#[derive(Clone, Debug, Default)]
pub struct ScopeRules {
    by_name: HashMap<Box<str>, ScopeRule>,
}

impl ScopeRules {
    /// The compiled-in table; panics on a malformed row, which a unit test
    /// rules out before any build ships.
    pub fn builtin() -> Self {
        let mut rules = Self::default();
        for row in builtin_rows() {
            let (action, rule) = row.unwrap_or_else(|e| panic!("client-scope rules: {e}"));
            rules.insert(action, rule);
        }
        rules
    }

    /// Adds (or replaces) the rule of `action`.
    pub fn insert(&mut self, action: &str, rule: ScopeRule) {
        self.by_name
            .insert(action.to_ascii_lowercase().into(), rule);
    }

    /// The rule of the action named `action` (any case); `None`: no rule,
    /// which denies the action to scoped credentials.
    pub fn get(&self, action: &str) -> Option<&ScopeRule> {
        let mut buf = [0u8; crate::catalog::MAX_ACTION_LEN];
        self.by_name
            .get(crate::catalog::lowercase_name(action, &mut buf)?)
    }

    /// How many actions have a rule.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no action has a rule.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// The compiled-in table.
const BUILTIN_TSV: &str = include_str!("../../data/client-scope-rules.tsv");

/// Header of the table: the column order the rows are read in.
pub const TSV_HEADER: &str = "action\tscope\tparam\tlookup\tindirect\towner\tnotes";

/// Every row of the compiled-in table, read.
pub fn builtin_rows() -> impl Iterator<Item = Result<(&'static str, ScopeRule), String>> {
    let mut lines = BUILTIN_TSV.lines();
    let header = lines.next().unwrap_or_default();
    let header_error = (header != TSV_HEADER).then(|| Err(format!("bad header {header:?}")));
    header_error
        .into_iter()
        .chain(lines.filter(|line| !line.trim().is_empty()).map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            let [action, scope, param, lookup, indirect, owner, _notes] = columns[..] else {
                return Err(format!("row {line:?} does not have 7 columns"));
            };
            ScopeRule::from_columns(scope, param, lookup, indirect, owner)
                .map(|rule| (action, rule))
                .map_err(|e| format!("{action}: {e}"))
        }))
}
