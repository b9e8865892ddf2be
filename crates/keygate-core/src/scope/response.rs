//! The answer half of the client scope: who owns a looked-up object, and
//! whether a scoped call's answer holds another client's records.

use serde_json::Value as Json;

use crate::model::ClientId;

use super::rules::{Lookup, PathSegment};

/// What a lookup's answer says about the object's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupAnswer {
    /// The object exists and belongs to this client.
    Owner(ClientId),
    /// WHMCS answered, but not with an owner: no such object (or one owned
    /// by nobody), which a scoped credential may not touch either.
    NotFound,
    /// The answer is not JSON: the lookup did not work.
    Unreadable,
}

/// Why a scoped call's answer is withheld.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseViolation {
    /// The answer is not JSON, so its records cannot be checked.
    NotJson,
    /// A record names a client outside the scope.
    ForeignOwner {
        /// The key it was found under.
        field: String,
        /// The value found there, as sent.
        value: String,
    },
}

impl Lookup {
    /// Reads the owner from the lookup action's answer `body`.
    pub fn answer(&self, body: &[u8]) -> LookupAnswer {
        let Ok(json) = serde_json::from_slice::<Json>(body) else {
            return LookupAnswer::Unreadable;
        };
        if json.get("result").and_then(Json::as_str) != Some("success") {
            return LookupAnswer::NotFound;
        }
        let mut at = &json;
        for segment in self.owner_path.iter() {
            let next = match segment {
                PathSegment::Key(key) => at.get(&**key),
                PathSegment::Index(index) => at.get(*index),
            };
            match next {
                Some(next) => at = next,
                None => return LookupAnswer::NotFound,
            }
        }
        match client_id(at) {
            Owned::By(id) => LookupAnswer::Owner(id),
            Owned::Nobody | Owned::Unclear => LookupAnswer::NotFound,
        }
    }
}

/// Checks every member named one of `owner_keys` (ASCII case ignored),
/// at any depth of the JSON `body`, names a client in `clients` (sorted) or
/// nobody (`0`, empty, `null`).
pub fn check_response<'k>(
    body: &[u8],
    owner_keys: impl Iterator<Item = &'k str> + Clone,
    clients: &[ClientId],
) -> Result<(), ResponseViolation> {
    let json: Json = serde_json::from_slice(body).map_err(|_| ResponseViolation::NotJson)?;
    let mut pending = vec![&json];
    while let Some(value) = pending.pop() {
        match value {
            Json::Object(members) => {
                for (key, member) in members {
                    let owner_key = owner_keys.clone().any(|k| k.eq_ignore_ascii_case(key));
                    if owner_key && !in_scope(member, clients) {
                        return Err(ResponseViolation::ForeignOwner {
                            field: key.clone(),
                            value: member.to_string(),
                        });
                    }
                    pending.push(member);
                }
            }
            Json::Array(items) => pending.extend(items),
            Json::Null | Json::Bool(_) | Json::Number(_) | Json::String(_) => {}
        }
    }
    Ok(())
}

/// Whether an owner field's value is a client in scope or nobody.
fn in_scope(value: &Json, clients: &[ClientId]) -> bool {
    match client_id(value) {
        Owned::Nobody => true,
        Owned::By(id) => clients.binary_search(&id).is_ok(),
        Owned::Unclear => false,
    }
}

enum Owned {
    Nobody,
    By(ClientId),
    Unclear,
}

/// An owner field's value: WHMCS writes ids as numbers or decimal strings.
fn client_id(value: &Json) -> Owned {
    let id = match value {
        Json::Null => return Owned::Nobody,
        Json::Number(n) => n.as_i64(),
        Json::String(s) if s.is_empty() => return Owned::Nobody,
        Json::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    match id {
        Some(0) => Owned::Nobody,
        Some(id) if id > 0 => Owned::By(ClientId(id)),
        _ => Owned::Unclear,
    }
}
