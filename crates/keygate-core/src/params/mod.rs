//! The canonical parameter model: a request's parameters exactly as the PHP
//! behind the gateway (WHMCS) would see them, and the only form keygate
//! forwards.
//!
//! A gateway that checks raw names while PHP runs canonical ones can be
//! walked around (` action=DeleteClient` is `action` to PHP). So every name
//! is parsed the way PHP registers it ([`name`]), the values are placed in
//! PHP's arrays ([`array`]), `$_REQUEST` is merged from the query and the
//! body, and the decision reads that. The upstream then receives a form
//! keygate writes itself from the same model, with every name spelled so
//! that PHP parses it back to the same place: what is authorized is, by
//! construction, what runs. See `docs/security.md`.

pub mod array;
pub mod body;
pub mod name;
mod specials;
pub mod urlencoded;

use std::borrow::Cow;

pub use array::{Key, PhpArray, Value};
use name::{NameParse, PhpName};
use specials::SpecialValues;

/// PHP's default `max_input_vars`: more pairs than this in one source and
/// PHP silently drops the rest, so keygate refuses instead.
pub const MAX_INPUT_VARS: usize = 1000;

/// Pairs keygate adds to every forwarded form: the master `identifier`,
/// `secret` and `accesskey`.
pub const MASTER_PAIRS: usize = 3;

/// One `(name, value)` pair as received, decoded but not canonicalized.
pub type RawPair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// The names that decide who calls what and how errors look: each may
/// occur once, as a plain string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// `action`: what is authorized.
    Action,
    /// `identifier`: the client's credential.
    Identifier,
    /// `secret`: the client's credential.
    Secret,
    /// `username`: the client's credential, older clients.
    Username,
    /// `password`: the client's credential, older clients.
    Password,
    /// `accesskey`: WHMCS's own access key; the upstream's is used.
    Accesskey,
    /// `responsetype`: the answer's format.
    Responsetype,
}

impl Special {
    /// Every special name, in the order ambiguity is reported.
    pub const ALL: [Special; 7] = [
        Special::Action,
        Special::Identifier,
        Special::Secret,
        Special::Username,
        Special::Password,
        Special::Accesskey,
        Special::Responsetype,
    ];

    /// The canonical, lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Special::Action => "action",
            Special::Identifier => "identifier",
            Special::Secret => "secret",
            Special::Username => "username",
            Special::Password => "password",
            Special::Accesskey => "accesskey",
            Special::Responsetype => "responsetype",
        }
    }

    /// Whether the client's value is forwarded (action, responsetype) or
    /// dropped for the master credential's.
    pub fn forwarded(self) -> bool {
        match self {
            Special::Action | Special::Responsetype => true,
            Special::Identifier
            | Special::Secret
            | Special::Username
            | Special::Password
            | Special::Accesskey => false,
        }
    }

    /// The special name `base` is, ignoring ASCII case: PHP itself is
    /// case-sensitive, but a case variant must never slip past as an
    /// ordinary parameter.
    pub fn of(base: &[u8]) -> Option<Special> {
        Special::ALL
            .into_iter()
            .find(|s| base.eq_ignore_ascii_case(s.name().as_bytes()))
    }
}

/// Why a request's parameters are refused before any decision.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A special name given more than once, or as an array.
    #[error("Ambiguous parameter: {}", .0.name())]
    Ambiguous(Special),
    /// More pairs than PHP's `max_input_vars`.
    #[error("Too many parameters")]
    TooMany,
    /// A name nested deeper than PHP's `max_input_nesting_level`.
    #[error("Parameter nested too deeply (limit {})", name::MAX_NESTING)]
    TooDeep,
}

/// A refusal, with the `responsetype` to answer it in when one is clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Why.
    pub error: ParamError,
    /// The last plain `responsetype` value sent, if any.
    pub responsetype: Option<Vec<u8>>,
}

/// The special names' values while a request is read, indexed by
/// `Special as usize`: borrowed from the pairs, and copied only once the
/// request is accepted.
type Sent<'a> = [Option<&'a [u8]>; Special::ALL.len()];

/// See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CanonicalParams {
    special: SpecialValues,
    rest: PhpArray,
}

impl CanonicalParams {
    /// `$_REQUEST` of a call: the query's variables, then the body's over
    /// them (PHP's `request_order = "GP"`), with the special names taken
    /// out and checked.
    pub fn from_sources(query: &[RawPair<'_>], body: &[RawPair<'_>]) -> Result<Self, Refused> {
        Self::build(query, body).map_err(|error| Refused {
            error,
            responsetype: plain_value(query, body, Special::Responsetype),
        })
    }

    fn build(query: &[RawPair<'_>], body: &[RawPair<'_>]) -> Result<Self, ParamError> {
        let mut sent: Sent<'_> = [None; Special::ALL.len()];
        let get = register(query, &mut sent)?;
        let post = register(body, &mut sent)?;
        let mut request = request_of(get, post);
        request.prune_empty();
        let params = Self {
            special: SpecialValues::new(&sent),
            rest: request,
        };
        if params.forwarded_pairs() + MASTER_PAIRS > MAX_INPUT_VARS {
            return Err(ParamError::TooMany);
        }
        Ok(params)
    }

    /// The value of a special name, if sent.
    pub fn special(&self, name: Special) -> Option<&[u8]> {
        self.special.get(name)
    }

    /// A special name's value as text: empty when absent, U+FFFD (which
    /// no identifier, secret or action matches) when not UTF-8.
    pub fn text(&self, name: Special) -> &str {
        match self.special(name) {
            None => "",
            Some(value) => std::str::from_utf8(value).unwrap_or("\u{fffd}"),
        }
    }

    /// `identifier` + `secret` when an identifier is sent, else `username`
    /// + `password`.
    pub fn credential(&self) -> (&str, &str) {
        match self.special(Special::Identifier) {
            Some(identifier) if !identifier.is_empty() => {
                (self.text(Special::Identifier), self.text(Special::Secret))
            }
            _ => (self.text(Special::Username), self.text(Special::Password)),
        }
    }

    /// Every other parameter, canonical.
    pub fn rest(&self) -> &PhpArray {
        &self.rest
    }

    /// How many pairs the forwarded form carries before the master
    /// credential.
    pub fn forwarded_pairs(&self) -> usize {
        let special = Special::ALL
            .into_iter()
            .filter(|s| s.forwarded() && self.special(*s).is_some())
            .count();
        special + self.rest.leaves()
    }

    /// The form the upstream receives: `action`, every other parameter
    /// (names respelled canonically), `responsetype`, then `master`.
    /// Nothing the client sent under a credential name is in it.
    pub fn forward_form(&self, master: &[(&str, &[u8])]) -> String {
        let mut out = String::with_capacity(256);
        let mut pair = |name: &[u8], value: &[u8]| {
            if !out.is_empty() {
                out.push('&');
            }
            urlencoded::encode_into(&mut out, name);
            out.push('=');
            urlencoded::encode_into(&mut out, value);
        };
        if let Some(action) = self.special(Special::Action) {
            pair(b"action", action);
        }
        self.rest.for_each_leaf(&mut pair);
        if let Some(format) = self.special(Special::Responsetype) {
            pair(b"responsetype", format);
        }
        for (name, value) in master {
            pair(name.as_bytes(), value);
        }
        out
    }
}

/// One source's variables as PHP registers them, except the special
/// names: each goes to its slot in `sent` (a second one, in either
/// source, or one given as an array is refused).
///
/// A special name accepted is, in PHP's array, a plain string under a
/// top-level key no other pair names (any such pair would be the same
/// special name, refused), which `$_REQUEST`'s merge moves but never
/// changes and which is taken out afterwards anyway. So it is never
/// registered: its value is borrowed straight from its pair, and the
/// rest of the array is exactly what it would be without it.
fn register<'a>(pairs: &'a [RawPair<'_>], sent: &mut Sent<'a>) -> Result<PhpArray, ParamError> {
    if pairs.len() > MAX_INPUT_VARS {
        return Err(ParamError::TooMany);
    }
    let mut array = PhpArray::default();
    for (raw_name, value) in pairs {
        let name = match name::parse(raw_name) {
            NameParse::Name(name) => name,
            NameParse::Ignored => continue,
            NameParse::TooDeep => return Err(ParamError::TooDeep),
        };
        match Special::of(&name.base) {
            Some(special) => take(sent, special, &name, value)?,
            None => array.register(name.base, &name.path, value.to_vec()),
        }
    }
    Ok(array)
}

/// Puts a special name's value in its slot: refused if the slot is taken
/// (the name was sent before) or the name has an index.
fn take<'a>(
    sent: &mut Sent<'a>,
    special: Special,
    name: &PhpName<'_>,
    value: &'a [u8],
) -> Result<(), ParamError> {
    let slot = &mut sent[special as usize];
    if slot.is_some() || !name.path.is_empty() {
        return Err(ParamError::Ambiguous(special));
    }
    *slot = Some(value);
    Ok(())
}

/// `$_REQUEST` from `$_GET` and `$_POST` as [`register`] made them.
/// `$_GET` is usually empty (a gateway call's parameters are in its
/// body); merged into an array that never had an entry, `$_POST` is
/// pushed entry by entry in its own order, which leaves `$_POST` itself,
/// so it is taken as it is.
fn request_of(mut get: PhpArray, post: PhpArray) -> PhpArray {
    if get.is_empty() {
        return post;
    }
    get.merge(post);
    get
}

/// One source's variables exactly as PHP registers them, special names
/// unchecked: the model the differential test compares with PHP's own
/// `$_GET` and `$_POST`. `None` when a name is nested too deeply (PHP then
/// deletes the base variable; keygate refuses the request).
pub fn registered(pairs: &[RawPair<'_>]) -> Option<PhpArray> {
    let mut array = PhpArray::default();
    for (raw_name, value) in pairs {
        match name::parse(raw_name) {
            NameParse::Name(name) => array.register(name.base, &name.path, value.to_vec()),
            NameParse::Ignored => {}
            NameParse::TooDeep => return None,
        }
    }
    Some(array)
}

/// The last value sent under `special` as a plain name: what a refusal
/// is answered in, before the parameters could be made canonical.
pub fn plain_value(
    query: &[RawPair<'_>],
    body: &[RawPair<'_>],
    special: Special,
) -> Option<Vec<u8>> {
    query
        .iter()
        .chain(body)
        .rev()
        .find_map(|(raw, value)| match name::parse(raw) {
            NameParse::Name(n) if n.path.is_empty() && Special::of(&n.base) == Some(special) => {
                Some(value.to_vec())
            }
            _ => None,
        })
}

#[cfg(test)]
mod alloc_tests;
#[cfg(test)]
mod tests;
