//! The request half of the client scope: what a scoped call's canonical
//! parameters may name, decided before anything is forwarded.

use crate::model::ClientId;
use crate::params::{CanonicalParams, Key, Value};

use super::rules::{Lookup, Scope, ScopeRule};

/// What to do with a scoped call the rule admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopePlan<'r> {
    /// A client parameter to set before forwarding (absent, one client).
    pub set: Option<(&'r str, ClientId)>,
    /// An object whose owner must be in the scope before forwarding.
    pub lookup: Option<ObjectLookup<'r>>,
    /// Whether the answer must be checked for other clients' records
    /// (every rule but `public`, whose answers hold no client data).
    pub check_response: bool,
    /// The response keys checked, besides
    /// [`super::DEFAULT_OWNER_FIELDS`].
    pub owner_fields: &'r [Box<str>],
}

/// One ownership lookup a call needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLookup<'r> {
    /// The call's parameter naming the object (named in a refusal).
    pub param: &'r str,
    /// The object's id, canonical decimal.
    pub object_id: u64,
    /// How the owner is found.
    pub lookup: &'r Lookup,
}

/// Why a scoped call is refused before it is forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeRefusal<'r> {
    /// The action has no rule or is `deny`.
    NotAvailable,
    /// The parameter names another client, an object of another client, or
    /// is sent in a form that cannot be checked (an array, another case,
    /// not a canonical positive integer, an indirect parameter).
    OutsideScope(&'r str),
    /// Several clients are in scope and the client parameter is absent.
    ClientRequired(&'r str),
    /// The object parameter of an `object` rule is absent.
    ObjectRequired(&'r str),
    /// The answer would come in a format keygate does not check.
    JsonRequired,
}

/// Parameters that name a client in many WHMCS actions: refused in every
/// scoped call whose rule does not check them as its client parameter.
const CLIENT_NAMES: [&str; 3] = ["clientid", "userid", "client_id"];

/// How a call's parameter was sent.
enum Sent<'p> {
    Absent,
    /// Once, as a plain value, under exactly this name.
    Plain(&'p [u8]),
    /// As an array, or under the name in another case: WHMCS's reading of
    /// it is not one value keygate can check.
    Unclear,
}

/// Checks a call of a credential scoped to `clients` (sorted, not empty)
/// against `rule` (`None`: the action has no rule).
pub fn check<'r>(
    rule: Option<&'r ScopeRule>,
    clients: &[ClientId],
    params: &CanonicalParams,
) -> Result<ScopePlan<'r>, ScopeRefusal<'r>> {
    let rule = rule.ok_or(ScopeRefusal::NotAvailable)?;
    let (client_param, object_param, lookup, object_required) = match &rule.scope {
        Scope::Deny => return Err(ScopeRefusal::NotAvailable),
        Scope::Public => {
            return Ok(ScopePlan {
                set: None,
                lookup: None,
                check_response: false,
                owner_fields: &[],
            })
        }
        Scope::ClientParam { param } => (Some(param), None, None, false),
        Scope::Object { param, lookup } => (None, Some(param), Some(lookup), true),
        Scope::ClientParamAndObject {
            client_param,
            object_param,
            lookup,
        } => (Some(client_param), Some(object_param), Some(lookup), false),
    };
    if !asks_for_json(params) {
        return Err(ScopeRefusal::JsonRequired);
    }
    let generic = CLIENT_NAMES
        .iter()
        .filter(|name| client_param.is_none_or(|param| !param.eq_ignore_ascii_case(name)));
    for name in rule.indirect.iter().map(|n| &**n).chain(generic.copied()) {
        if !matches!(sent(params, name), Sent::Absent) {
            return Err(ScopeRefusal::OutsideScope(name));
        }
    }
    let set = match client_param {
        None => None,
        Some(param) => check_client(param, clients, params)?,
    };
    let lookup = match (object_param, lookup) {
        (Some(param), Some(lookup)) => match sent(params, param) {
            Sent::Absent if object_required => return Err(ScopeRefusal::ObjectRequired(param)),
            Sent::Absent => None,
            Sent::Unclear => return Err(ScopeRefusal::OutsideScope(param)),
            Sent::Plain(value) => Some(ObjectLookup {
                param,
                object_id: canonical_id(value).ok_or(ScopeRefusal::OutsideScope(param))?,
                lookup,
            }),
        },
        _ => None,
    };
    Ok(ScopePlan {
        set,
        lookup,
        check_response: true,
        owner_fields: &rule.owner_fields,
    })
}

/// The client parameter: to be set (absent, one client), fine (names a
/// client in scope), or refused.
fn check_client<'r>(
    param: &'r str,
    clients: &[ClientId],
    params: &CanonicalParams,
) -> Result<Option<(&'r str, ClientId)>, ScopeRefusal<'r>> {
    match sent(params, param) {
        Sent::Absent => match clients {
            [only] => Ok(Some((param, *only))),
            _ => Err(ScopeRefusal::ClientRequired(param)),
        },
        Sent::Unclear => Err(ScopeRefusal::OutsideScope(param)),
        Sent::Plain(value) => {
            let named = canonical_id(value).and_then(|id| i64::try_from(id).ok());
            match named {
                Some(id) if clients.binary_search(&ClientId(id)).is_ok() => Ok(None),
                _ => Err(ScopeRefusal::OutsideScope(param)),
            }
        }
    }
}

/// How `name` was sent: compared without case, because a second spelling
/// is a second variable to PHP that some WHMCS code may read instead.
fn sent<'p>(params: &'p CanonicalParams, name: &str) -> Sent<'p> {
    let mut found = Sent::Absent;
    for (key, value) in params.rest().entries() {
        let Key::Str(key) = key else { continue };
        if !key.eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        found = match (key.as_slice() == name.as_bytes(), value, &found) {
            (true, Value::Str(value), Sent::Absent) => Sent::Plain(value),
            _ => return Sent::Unclear,
        };
    }
    found
}

/// A positive integer written as WHMCS's database reads it unambiguously:
/// decimal digits, no sign, space or leading zero.
fn canonical_id(value: &[u8]) -> Option<u64> {
    let canonical = matches!(value.first(), Some(b'1'..=b'9'))
        && value.len() <= 19
        && value.iter().all(u8::is_ascii_digit);
    canonical.then(|| std::str::from_utf8(value).ok()?.parse().ok())?
}

/// Whether the call asks for a JSON answer: the only format whose records
/// keygate reads before returning them.
fn asks_for_json(params: &CanonicalParams) -> bool {
    params
        .special(crate::params::Special::Responsetype)
        .is_some_and(|format| format.eq_ignore_ascii_case(b"json"))
}
