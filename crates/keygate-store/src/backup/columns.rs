//! Between stored columns and backup records, for both backends: the
//! backends read and write rows; what the values mean is decided here once.

use keygate_core::secret::hex;
use keygate_core::SecretHashes;

use super::check;
use super::{BackupCredential, BackupOldSecret};
use crate::columns::{self, LifecycleColumns};
use crate::{Error, Result};

/// A credential row as stored, with its admin's username.
pub(crate) struct StoredCredential {
    pub identifier: String,
    pub admin: String,
    pub description: String,
    pub secret_sha256: Vec<u8>,
    pub secret_md5_sha256: Vec<u8>,
    pub old_secret_sha256: Option<Vec<u8>>,
    pub old_secret_md5_sha256: Option<Vec<u8>>,
    pub old_secret_until: Option<i64>,
    pub lifecycle: LifecycleColumns,
    pub created_at: i64,
    pub last_access: Option<i64>,
}

impl StoredCredential {
    /// The backup record holding `roles`; an old secret that has stopped at
    /// `now` is left out. A stored value that no longer parses is
    /// [`Error::Unavailable`], as everywhere else.
    pub(crate) fn into_backup(self, roles: Vec<String>, now: i64) -> Result<BackupCredential> {
        let id = self.identifier;
        let hashes = columns::hashes(&id, &self.secret_sha256, &self.secret_md5_sha256)?;
        let old_secret = columns::old_secret(
            &id,
            self.old_secret_sha256,
            self.old_secret_md5_sha256,
            self.old_secret_until,
            now,
        )?
        .map(|(old, until)| BackupOldSecret {
            secret_sha256: hex(old.direct()),
            secret_md5_sha256: hex(old.md5()),
            until,
        });
        let lifecycle = self.lifecycle.parse(&id)?;
        Ok(BackupCredential {
            admin: self.admin,
            description: self.description,
            roles,
            secret_sha256: hex(hashes.direct()),
            secret_md5_sha256: hex(hashes.md5()),
            old_secret,
            enabled: lifecycle.enabled,
            expires_at: lifecycle.expires_at,
            allow_ips: lifecycle
                .allow_ips
                .iter()
                .map(ToString::to_string)
                .collect(),
            rate_limit: lifecycle.rate_limit.map(|r| r.to_string()),
            client_ids: lifecycle.client_ids.iter().map(|c| c.0).collect(),
            created_at: self.created_at,
            last_access: self.last_access,
            identifier: id,
        })
    }
}

/// The column values a credential from a backup is written with.
pub(crate) struct CredentialValues {
    pub hashes: SecretHashes,
    pub old_secret: Option<(SecretHashes, i64)>,
    pub allow_ips: String,
    pub rate_limit: Option<String>,
    pub client_ids: String,
}

impl CredentialValues {
    /// The stored form of `credential`'s values; a value that does not
    /// parse is [`Error::Invalid`] (the manager checks them all first).
    pub(crate) fn of(credential: &BackupCredential) -> Result<Self> {
        let context = |message: String| {
            Error::Invalid(format!(
                "invalid keygate export: credential {:?}: {message}",
                credential.identifier
            ))
        };
        let hashes = check::hashes(&credential.secret_sha256, &credential.secret_md5_sha256)
            .map_err(context)?;
        let old_secret = credential
            .old_secret
            .as_ref()
            .map(check::old_hashes)
            .transpose()
            .map_err(context)?;
        let allow_ips = check::allow_ips(&credential.allow_ips).map_err(context)?;
        let rate_limit = check::rate(credential.rate_limit.as_deref()).map_err(context)?;
        let client_ids = check::client_ids(&credential.client_ids).map_err(context)?;
        Ok(Self {
            hashes,
            old_secret,
            allow_ips: columns::allow_ips_text(&allow_ips),
            rate_limit: columns::rate_text(rate_limit),
            client_ids: columns::client_ids_text(&client_ids),
        })
    }

    /// The old secret's SHA-256 of the secret, if any.
    pub(crate) fn old_direct(&self) -> Option<Vec<u8>> {
        self.old_secret.as_ref().map(|(h, _)| h.direct().to_vec())
    }

    /// The old secret's SHA-256 of md5-hex(secret), if any.
    pub(crate) fn old_md5(&self) -> Option<Vec<u8>> {
        self.old_secret.as_ref().map(|(h, _)| h.md5().to_vec())
    }

    /// When the old secret stops, if any.
    pub(crate) fn old_until(&self) -> Option<i64> {
        self.old_secret.as_ref().map(|(_, until)| *until)
    }
}

/// Refuses to load into a database that holds anything.
pub(crate) fn ensure_empty(admins: i64, roles: i64, credentials: i64) -> Result<()> {
    if admins == 0 && roles == 0 && credentials == 0 {
        return Ok(());
    }
    let counts = super::BackupCounts {
        admins: usize::try_from(admins).unwrap_or(usize::MAX),
        roles: usize::try_from(roles).unwrap_or(usize::MAX),
        credentials: usize::try_from(credentials).unwrap_or(usize::MAX),
    };
    Err(Error::Conflict(format!(
        "the database is not empty (it holds {counts}): import only into a new, empty database"
    )))
}

/// The SQL counting what [`ensure_empty`] checks (the same on both
/// backends).
pub(crate) const COUNT_SQL: &str = "SELECT (SELECT count(*) FROM admins) AS admins, \
     (SELECT count(*) FROM roles) AS roles, (SELECT count(*) FROM credentials) AS credentials";

/// A name the backup holds twice.
pub(crate) fn duplicate(what: &str, name: &str) -> String {
    format!("invalid keygate export: {what} {name:?} appears more than once")
}

/// A credential naming an admin or role the backup does not hold.
pub(crate) fn unknown(credential: &BackupCredential, what: &str, name: &str) -> Error {
    Error::Invalid(format!(
        "invalid keygate export: credential {:?}: unknown {what} {name:?}",
        credential.identifier
    ))
}
