//! The answer half of the client scope: who owns a looked-up object, and
//! whether a scoped call's answer holds another client's records.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use crate::model::ClientId;

use super::rules::{Lookup, PathSegment, DEFAULT_OWNER_FIELDS};

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

/// Checks every member named one of the [`DEFAULT_OWNER_FIELDS`] or
/// `rule_keys` (ASCII case ignored), at any depth of the JSON `body`, names
/// a client in `clients` (sorted) or nobody (`0`, empty, `null`).
///
/// Read as a stream (no document is built): every scoped answer passes
/// here, and most are small.
pub fn check_response(
    body: &[u8],
    rule_keys: &[Box<str>],
    clients: &[ClientId],
) -> Result<(), ResponseViolation> {
    let mut found = None;
    let walker = Walker {
        keys: OwnerKeys(rule_keys),
        clients,
        found: &mut found,
    };
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed = walker.deserialize(&mut json).and_then(|()| json.end());
    match (parsed, found) {
        (_, Some(violation)) => Err(violation),
        (Ok(()), None) => Ok(()),
        (Err(_), None) => Err(ResponseViolation::NotJson),
    }
}

/// The response keys that hold client ids.
#[derive(Clone, Copy)]
struct OwnerKeys<'k>(&'k [Box<str>]);

impl OwnerKeys<'_> {
    fn contains(self, key: &str) -> bool {
        DEFAULT_OWNER_FIELDS
            .iter()
            .copied()
            .chain(self.0.iter().map(|k| &**k))
            .any(|owner| owner.eq_ignore_ascii_case(key))
    }
}

/// Walks one JSON value, checking the owner fields of every object in it;
/// the first violation is left in `found` and stops the walk (as an
/// error, so the rest is not read).
struct Walker<'w, 'k> {
    keys: OwnerKeys<'k>,
    clients: &'w [ClientId],
    found: &'w mut Option<ResponseViolation>,
}

impl<'de> DeserializeSeed<'de> for Walker<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walker<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let Walker {
            keys,
            clients,
            found,
        } = self;
        while items
            .next_element_seed(Walker {
                keys,
                clients,
                found: &mut *found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        let Walker {
            keys,
            clients,
            found,
        } = self;
        let mut key = String::new();
        while members.next_key_seed(KeyInto(&mut key))?.is_some() {
            if !keys.contains(&key) {
                members.next_value_seed(Walker {
                    keys,
                    clients,
                    found: &mut *found,
                })?;
                continue;
            }
            let value: Json = members.next_value()?;
            if !in_scope(&value, clients) {
                *found = Some(ResponseViolation::ForeignOwner {
                    field: key,
                    value: value.to_string(),
                });
                return Err(A::Error::custom("owner outside the client scope"));
            }
        }
        Ok(())
    }
}

/// Reads a member name into a reused buffer.
struct KeyInto<'b>(&'b mut String);

impl<'de> DeserializeSeed<'de> for KeyInto<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(name);
        Ok(())
    }
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
