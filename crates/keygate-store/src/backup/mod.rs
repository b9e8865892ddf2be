//! The backup file: everything a keygate database holds (admins with their
//! password hashes, roles, credentials with their secret hashes and
//! lifecycle) as one JSON document that names admins and roles rather than
//! numbering them, so it loads into either backend. Written by
//! `keygate export`, read by `keygate import` and `keygate migrate`.
//!
//! Secrets never appear: only the hashes the database stores.

pub(crate) mod check;
pub(crate) mod columns;
mod manage;
pub(crate) mod sql;

use keygate_core::audit::AuditEvent;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The `format` every backup file carries.
pub const FORMAT: &str = "keygate-export";

/// The version of the file layout this keygate writes and reads.
pub const VERSION: u32 = 1;

/// A whole database, portable across backends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// When the export was taken, unix seconds.
    pub exported_at: i64,
    /// Admins, by username.
    pub admins: Vec<BackupAdmin>,
    /// Roles, by name.
    pub roles: Vec<BackupRole>,
    /// Credentials, by identifier.
    pub credentials: Vec<BackupCredential>,
    /// The audit trail, oldest first, exactly as stored (so its hash chain
    /// still verifies after an import); left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditEvent>,
}

/// An admin and its password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupAdmin {
    /// Unique login name.
    pub username: String,
    /// Whether the admin (and its credentials) may be used.
    pub enabled: bool,
    /// argon2 PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A role and its allowed actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRole {
    /// Unique name (case-insensitively); credentials refer to it.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Canonical action names, sorted.
    pub actions: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A credential: its secret's hashes, owner, roles and lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupCredential {
    /// Public identifier.
    pub identifier: String,
    /// Owning admin's username.
    pub admin: String,
    /// Free text.
    pub description: String,
    /// Names of the roles held, sorted.
    pub roles: Vec<String>,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    /// SHA-256 of md5-hex(secret), lowercase hex.
    pub secret_md5_sha256: String,
    /// The previous secret while a rotation overlap is in progress.
    pub old_secret: Option<BackupOldSecret>,
    /// A disabled credential fails authentication.
    pub enabled: bool,
    /// Unix seconds from which the credential fails authentication.
    pub expires_at: Option<i64>,
    /// Canonical CIDRs calls may come from; empty: any address.
    pub allow_ips: Vec<String>,
    /// `600/m`; `null`: the configured default.
    pub rate_limit: Option<String>,
    /// WHMCS client ids the credential is bound to, ascending; empty: any.
    pub client_ids: Vec<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last authenticated use.
    pub last_access: Option<i64>,
}

/// The hashes of a rotated-out secret and when it stops working.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupOldSecret {
    /// SHA-256 of the old secret, lowercase hex.
    pub secret_sha256: String,
    /// SHA-256 of md5-hex(old secret), lowercase hex.
    pub secret_md5_sha256: String,
    /// Unix seconds when the old secret stops.
    pub until: i64,
}

/// How much a backup holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BackupCounts {
    /// Number of admins.
    pub admins: usize,
    /// Number of roles.
    pub roles: usize,
    /// Number of credentials.
    pub credentials: usize,
}

impl std::fmt::Display for BackupCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} and {}",
            plural(self.admins, "admin"),
            plural(self.roles, "role"),
            plural(self.credentials, "credential")
        )
    }
}

/// `1 admin`, `2 admins`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Just the fields that say what a document is, read before the rest so a
/// foreign or future file gets a clear answer.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

impl Backup {
    /// An empty backup taken at `exported_at`.
    pub fn new(exported_at: i64) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            exported_at,
            admins: Vec::new(),
            roles: Vec::new(),
            credentials: Vec::new(),
            audit: Vec::new(),
        }
    }

    /// Parses a backup file; a truncated, foreign or newer file is
    /// [`Error::Invalid`] with a message saying which.
    pub fn from_json(text: &str) -> Result<Self> {
        let header: Header = serde_json::from_str(text).map_err(|e| unreadable(&e))?;
        check_header(header.format.as_ref(), header.version.as_ref())?;
        serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("invalid keygate export: {e}")))
    }

    /// The file's text: pretty JSON ending in a newline, the same bytes for
    /// the same data.
    pub fn to_json(&self) -> String {
        // Plain structs of strings and numbers always serialize.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// How many admins, roles and credentials it holds.
    pub fn counts(&self) -> BackupCounts {
        BackupCounts {
            admins: self.admins.len(),
            roles: self.roles.len(),
            credentials: self.credentials.len(),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.counts() == BackupCounts::default()
    }

    /// Puts everything in the file's fixed order: admins by username, roles
    /// by name, credentials by identifier, actions and role names sorted.
    pub fn sort(&mut self) {
        self.admins.sort_by(|a, b| a.username.cmp(&b.username));
        self.roles.sort_by(|a, b| a.name.cmp(&b.name));
        for role in &mut self.roles {
            role.actions.sort();
        }
        self.credentials
            .sort_by(|a, b| a.identifier.cmp(&b.identifier));
        for credential in &mut self.credentials {
            credential.roles.sort();
        }
    }

    /// Leaves out the audit events after the first `len`: a copy's trail
    /// ends with the events recording the imports that made it.
    pub fn drop_audit_after(&mut self, len: usize) {
        self.audit.truncate(len);
    }

    /// Leaves out old secrets that have stopped working at `now`.
    pub fn drop_ended_old_secrets(&mut self, now: i64) {
        for credential in &mut self.credentials {
            if credential
                .old_secret
                .as_ref()
                .is_some_and(|o| o.until <= now)
            {
                credential.old_secret = None;
            }
        }
    }

    /// Where `other` holds different data (ignoring `exported_at`), as a
    /// message naming the first admin, role or credential that differs;
    /// `None` when both hold the same.
    pub fn difference(&self, other: &Backup) -> Option<String> {
        if (&self.format, self.version) != (&other.format, other.version) {
            return Some("the format or version differs".into());
        }
        first_difference("admin", &self.admins, &other.admins, |a| &a.username)
            .or_else(|| first_difference("role", &self.roles, &other.roles, |r| &r.name))
            .or_else(|| {
                first_difference("credential", &self.credentials, &other.credentials, |c| {
                    &c.identifier
                })
            })
            .or_else(|| first_difference("audit event", &self.audit, &other.audit, |e| &e.hash))
    }
}

/// The first item of two lists that differs, named by `key`.
fn first_difference<T: PartialEq>(
    what: &str,
    ours: &[T],
    theirs: &[T],
    key: impl Fn(&T) -> &String,
) -> Option<String> {
    for (a, b) in ours.iter().zip(theirs) {
        if a != b {
            return Some(format!("{what} {:?} differs", key(a)));
        }
    }
    match ours.len().cmp(&theirs.len()) {
        std::cmp::Ordering::Equal => None,
        _ => Some(format!(
            "the number of {what}s differs ({} and {})",
            ours.len(),
            theirs.len()
        )),
    }
}

/// The error for a file that is not JSON, or not all of it.
fn unreadable(e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    Error::Invalid(match e.classify() {
        Category::Eof => format!("the export is empty or truncated: {e}"),
        Category::Syntax | Category::Io => format!("the export is not valid JSON: {e}"),
        Category::Data => "not a keygate export: expected a JSON object".into(),
    })
}

/// Refuses anything but this keygate's format and version.
fn check_header(
    format: Option<&serde_json::Value>,
    version: Option<&serde_json::Value>,
) -> Result<()> {
    match format {
        Some(serde_json::Value::String(f)) if f == FORMAT => {}
        Some(other) => {
            return Err(Error::Invalid(format!(
                "not a keygate export: format is {other}, expected {FORMAT:?}"
            )))
        }
        None => {
            return Err(Error::Invalid(format!(
                "not a keygate export: no \"format\": {FORMAT:?}"
            )))
        }
    }
    match version.and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => Ok(()),
        Some(v) => Err(Error::Invalid(format!(
            "unsupported keygate export version {v}: this keygate reads version {VERSION}"
        ))),
        None => Err(Error::Invalid(
            "invalid keygate export: \"version\" must be a positive integer".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
