//! The audit trail's events and their hash chain. Every management change
//! appends one [`AuditEvent`]; each stores the SHA-256 of the event before
//! it and of its own canonical form, so [`verify_chain`] finds an edited,
//! deleted or reordered event and names it. Pure: the store keeps the rows.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::secret::hex;

/// What a management change did. The dotted names are what the store keeps
/// and what `keygate audit` prints; never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditVerb {
    /// An admin was added.
    #[serde(rename = "admin.add")]
    AdminAdd,
    /// An admin's password was changed.
    #[serde(rename = "admin.passwd")]
    AdminPasswd,
    /// An admin was enabled.
    #[serde(rename = "admin.enable")]
    AdminEnable,
    /// An admin was disabled.
    #[serde(rename = "admin.disable")]
    AdminDisable,
    /// An admin (and its credentials) was removed.
    #[serde(rename = "admin.remove")]
    AdminRemove,
    /// A role was created.
    #[serde(rename = "role.create")]
    RoleCreate,
    /// A role's name, description or actions changed.
    #[serde(rename = "role.edit")]
    RoleEdit,
    /// A role was deleted (and unassigned everywhere).
    #[serde(rename = "role.delete")]
    RoleDelete,
    /// A credential was generated.
    #[serde(rename = "credential.generate")]
    CredentialGenerate,
    /// A legacy credential was imported.
    #[serde(rename = "credential.import")]
    CredentialImport,
    /// A credential's description, roles or lifecycle changed.
    #[serde(rename = "credential.edit")]
    CredentialEdit,
    /// A credential was enabled.
    #[serde(rename = "credential.enable")]
    CredentialEnable,
    /// A credential was disabled.
    #[serde(rename = "credential.disable")]
    CredentialDisable,
    /// A credential got a new secret.
    #[serde(rename = "credential.rotate")]
    CredentialRotate,
    /// A credential's roles were replaced by a least-privilege role.
    #[serde(rename = "credential.tighten")]
    CredentialTighten,
    /// A credential was deleted.
    #[serde(rename = "credential.delete")]
    CredentialDelete,
    /// A backup was imported into the (empty) database.
    #[serde(rename = "backup.import")]
    BackupImport,
    /// A management API token was created.
    #[serde(rename = "token.create")]
    TokenCreate,
    /// A management API token was revoked.
    #[serde(rename = "token.revoke")]
    TokenRevoke,
}

impl AuditVerb {
    /// Every verb, in the order above.
    pub const ALL: [AuditVerb; 19] = [
        AuditVerb::AdminAdd,
        AuditVerb::AdminPasswd,
        AuditVerb::AdminEnable,
        AuditVerb::AdminDisable,
        AuditVerb::AdminRemove,
        AuditVerb::RoleCreate,
        AuditVerb::RoleEdit,
        AuditVerb::RoleDelete,
        AuditVerb::CredentialGenerate,
        AuditVerb::CredentialImport,
        AuditVerb::CredentialEdit,
        AuditVerb::CredentialEnable,
        AuditVerb::CredentialDisable,
        AuditVerb::CredentialRotate,
        AuditVerb::CredentialTighten,
        AuditVerb::CredentialDelete,
        AuditVerb::BackupImport,
        AuditVerb::TokenCreate,
        AuditVerb::TokenRevoke,
    ];

    /// The stored name, e.g. `credential.rotate`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditVerb::AdminAdd => "admin.add",
            AuditVerb::AdminPasswd => "admin.passwd",
            AuditVerb::AdminEnable => "admin.enable",
            AuditVerb::AdminDisable => "admin.disable",
            AuditVerb::AdminRemove => "admin.remove",
            AuditVerb::RoleCreate => "role.create",
            AuditVerb::RoleEdit => "role.edit",
            AuditVerb::RoleDelete => "role.delete",
            AuditVerb::CredentialGenerate => "credential.generate",
            AuditVerb::CredentialImport => "credential.import",
            AuditVerb::CredentialEdit => "credential.edit",
            AuditVerb::CredentialEnable => "credential.enable",
            AuditVerb::CredentialDisable => "credential.disable",
            AuditVerb::CredentialRotate => "credential.rotate",
            AuditVerb::CredentialTighten => "credential.tighten",
            AuditVerb::CredentialDelete => "credential.delete",
            AuditVerb::BackupImport => "backup.import",
            AuditVerb::TokenCreate => "token.create",
            AuditVerb::TokenRevoke => "token.revoke",
        }
    }

    /// The verb stored as `name`.
    pub fn parse(name: &str) -> Option<AuditVerb> {
        AuditVerb::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// What kind of thing the verb changes.
    pub fn target_kind(self) -> TargetKind {
        match self {
            AuditVerb::AdminAdd
            | AuditVerb::AdminPasswd
            | AuditVerb::AdminEnable
            | AuditVerb::AdminDisable
            | AuditVerb::AdminRemove => TargetKind::Admin,
            AuditVerb::RoleCreate | AuditVerb::RoleEdit | AuditVerb::RoleDelete => TargetKind::Role,
            AuditVerb::CredentialGenerate
            | AuditVerb::CredentialImport
            | AuditVerb::CredentialEdit
            | AuditVerb::CredentialEnable
            | AuditVerb::CredentialDisable
            | AuditVerb::CredentialRotate
            | AuditVerb::CredentialTighten
            | AuditVerb::CredentialDelete => TargetKind::Credential,
            AuditVerb::BackupImport => TargetKind::Database,
            AuditVerb::TokenCreate | AuditVerb::TokenRevoke => TargetKind::Token,
        }
    }
}

impl fmt::Display for AuditVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event's target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// An admin, by username.
    Admin,
    /// A role, by id.
    Role,
    /// A credential, by identifier.
    Credential,
    /// The whole database (imports).
    Database,
    /// A management API token, by id.
    Token,
}

impl TargetKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Admin => "admin",
            TargetKind::Role => "role",
            TargetKind::Credential => "credential",
            TargetKind::Database => "database",
            TargetKind::Token => "token",
        }
    }

    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<TargetKind> {
        [
            TargetKind::Admin,
            TargetKind::Role,
            TargetKind::Credential,
            TargetKind::Database,
            TargetKind::Token,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// Who made a change: an admin in the web UI (with the address it came
/// from), the CLI as a unix user (`cli:<user>`), or an API token's admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// `alice`, `cli:root`, …
    pub name: String,
    /// The client address, for changes made over HTTP.
    pub source: Option<String>,
}

impl Actor {
    /// The CLI run by `user`.
    pub fn cli(user: &str) -> Self {
        Self {
            name: format!("cli:{user}"),
            source: None,
        }
    }

    /// An admin signed in to the web UI from `source`.
    pub fn admin(username: &str, source: Option<String>) -> Self {
        Self {
            name: username.to_string(),
            source,
        }
    }

    /// Changes made by keygate itself or a caller that did not say.
    pub fn system() -> Self {
        Self {
            name: "system".into(),
            source: None,
        }
    }
}

/// What changed: per field, the value before and after (`null` where a
/// field did not exist on one side). Never holds a secret or a hash.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes(Map<String, Value>);

impl Changes {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `field` going from `before` to `after`; a field that did not
    /// change is left out.
    pub fn field(mut self, field: &str, before: Value, after: Value) -> Self {
        if before != after {
            self.0.insert(
                field.to_string(),
                serde_json::json!({ "before": before, "after": after }),
            );
        }
        self
    }

    /// Records a fact that is not a before/after pair (e.g. how long an
    /// old secret keeps working after a rotation).
    pub fn note(mut self, field: &str, value: Value) -> Self {
        self.0.insert(field.to_string(), value);
        self
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored text: a JSON object with sorted keys.
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

/// An event about to be appended; the store gives it its id, time and
/// chain hashes.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEvent {
    /// Who made the change.
    pub actor: Actor,
    /// What it did.
    pub verb: AuditVerb,
    /// The target's key: admin username, role id, credential identifier.
    pub target_id: String,
    /// A readable name: role name, credential description, admin username.
    pub target_name: String,
    /// What changed.
    pub changes: Changes,
}

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Position in the chain, from 1, without gaps.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who made the change (`alice`, `cli:root`).
    pub actor: String,
    /// The client address, for changes made over HTTP.
    pub source: Option<String>,
    /// The verb's stored name (`credential.rotate`).
    pub verb: String,
    /// `admin`, `role`, `credential`, `database` or `token`.
    pub target_kind: String,
    /// The target's key.
    pub target_id: String,
    /// The target's readable name.
    pub target_name: String,
    /// The changes as stored (a JSON object).
    pub changes: String,
    /// Hash of the event before (empty for the first).
    pub prev_hash: String,
    /// Hash of this event's canonical form.
    pub hash: String,
}

impl AuditEvent {
    /// Builds the event that follows `prev_hash` at position `id`, hashed.
    pub fn chained(new: &NewAuditEvent, id: i64, at: i64, prev_hash: &str) -> Self {
        let mut event = Self {
            id,
            at,
            actor: new.actor.name.clone(),
            source: new.actor.source.clone(),
            verb: new.verb.as_str().to_string(),
            target_kind: new.verb.target_kind().as_str().to_string(),
            target_id: new.target_id.clone(),
            target_name: new.target_name.clone(),
            changes: new.changes.to_json(),
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        event.hash = event.computed_hash();
        event
    }

    /// The canonical form: a JSON array of every field but `hash`, in a
    /// fixed order, the changes as their stored text. Any change to a
    /// stored field changes it.
    pub fn canonical(&self) -> String {
        serde_json::json!([
            1,
            self.id,
            self.at,
            self.actor,
            self.source,
            self.verb,
            self.target_kind,
            self.target_id,
            self.target_name,
            self.changes,
            self.prev_hash,
        ])
        .to_string()
    }

    /// SHA-256 of the canonical form, lowercase hex.
    pub fn computed_hash(&self) -> String {
        hex(&Sha256::digest(self.canonical().as_bytes()))
    }

    /// The changes parsed (an empty object if the stored text is damaged).
    pub fn changes_value(&self) -> Value {
        serde_json::from_str(&self.changes).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// Where a chain is broken: the first problem found, walking from the
/// first event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainBreak {
    /// The event's stored hash is not the hash of its fields: edited.
    Edited {
        /// The edited event.
        id: i64,
    },
    /// The event does not follow the one before it: an event in between was
    /// deleted or the events were reordered.
    Unlinked {
        /// The first event whose link is wrong.
        id: i64,
    },
    /// Ids skip `expected`: that event was deleted.
    Missing {
        /// The id that should come next.
        expected: i64,
        /// The id found instead.
        found: i64,
    },
    /// Events go on past the recorded head: added outside keygate (keygate
    /// moves the head in the transaction that appends).
    Unrecorded {
        /// The first event past the head.
        id: i64,
    },
    /// The chain ends before the recorded head: events were cut off the end.
    Truncated {
        /// The last event found.
        last: i64,
        /// The last event recorded.
        head: i64,
    },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainBreak::Edited { id } => write!(
                f,
                "event {id} was changed after it was written (its hash does not match its fields)"
            ),
            ChainBreak::Unlinked { id } => write!(
                f,
                "event {id} does not follow the event before it (an earlier event was changed, deleted or moved)"
            ),
            ChainBreak::Missing { expected, found } => write!(
                f,
                "event {expected} is missing (deleted): the next event found is {found}"
            ),
            ChainBreak::Unrecorded { id } => write!(
                f,
                "event {id} is not recorded in the chain's head (added outside keygate)"
            ),
            ChainBreak::Truncated { last, head } => write!(
                f,
                "events after {last} are missing: the chain's head records event {head}"
            ),
        }
    }
}

/// Walks a chain piece by piece (the store hands it over in pages).
#[derive(Clone, Debug, Default)]
pub struct ChainWalk {
    last_id: i64,
    last_hash: String,
}

impl ChainWalk {
    /// A walk from the start.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of the last event checked (0 before the first).
    pub fn last_id(&self) -> i64 {
        self.last_id
    }

    /// Checks the next event.
    pub fn step(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let expected = self.last_id + 1;
        if event.id != expected {
            return Err(if event.id > expected {
                ChainBreak::Missing {
                    expected,
                    found: event.id,
                }
            } else {
                ChainBreak::Unlinked { id: event.id }
            });
        }
        if event.computed_hash() != event.hash {
            return Err(ChainBreak::Edited { id: event.id });
        }
        if event.prev_hash != self.last_hash {
            return Err(ChainBreak::Unlinked { id: event.id });
        }
        self.last_id = event.id;
        self.last_hash = event.hash.clone();
        Ok(())
    }

    /// Checks the end against the recorded head (last id and hash); returns
    /// how many events were checked.
    pub fn finish(self, head_id: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        if head_id > self.last_id {
            return Err(ChainBreak::Truncated {
                last: self.last_id,
                head: head_id,
            });
        }
        if head_id < self.last_id {
            return Err(ChainBreak::Unrecorded { id: head_id + 1 });
        }
        if head_hash != self.last_hash {
            // The head names another hash: the head row or the last event
            // was edited.
            return Err(ChainBreak::Edited { id: self.last_id });
        }
        Ok(self.last_id)
    }
}

/// Checks a whole chain, ascending by id, against its recorded head.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
    head_id: i64,
    head_hash: &str,
) -> Result<i64, ChainBreak> {
    let mut walk = ChainWalk::new();
    for event in events {
        walk.step(event)?;
    }
    walk.finish(head_id, head_hash)
}

#[cfg(test)]
mod tests;
