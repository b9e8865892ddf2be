//! Checking a backup before it is written: every name, hash, action and
//! lifecycle value under the rules the rest of keygate applies, every
//! reference resolved, so an import either writes all of it or nothing.
//! Values come back canonical (trimmed names, canonical action names and
//! networks, sorted client ids), so what is written reads back the same.

use std::collections::{BTreeSet, HashMap, HashSet};

use keygate_core::model::ClientId;
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_core::{password, validate, Catalog, SecretHashes};

use super::{check_header, Backup, BackupAdmin, BackupCredential, BackupOldSecret, BackupRole};
use crate::{Error, Result, MAX_ALLOW_IPS, MAX_CLIENT_IDS};

/// The backup with every value checked and canonical, sorted; old secrets
/// that have stopped at `now` are left out.
pub(crate) fn normalize(backup: Backup, catalog: &Catalog, now: i64) -> Result<Backup> {
    let format = serde_json::Value::String(backup.format.clone());
    let version = serde_json::Value::from(backup.version);
    check_header(Some(&format), Some(&version))?;
    let admins = admins(backup.admins)?;
    let roles = roles(backup.roles, catalog)?;
    let usernames: HashSet<&str> = admins.iter().map(|a| a.username.as_str()).collect();
    let role_names: HashMap<String, &str> = roles
        .iter()
        .map(|r| (r.name.to_lowercase(), r.name.as_str()))
        .collect();
    let mut seen = HashSet::new();
    let mut credentials = Vec::with_capacity(backup.credentials.len());
    for credential in backup.credentials {
        let credential = self::credential(credential, &usernames, &role_names, now)?;
        if !seen.insert(credential.identifier.clone()) {
            return Err(invalid(format!(
                "credential {:?} appears more than once",
                credential.identifier
            )));
        }
        credentials.push(credential);
    }
    if let Some(last) = backup.audit.last() {
        keygate_core::audit::verify_chain(&backup.audit, last.id, &last.hash)
            .map_err(|broken| invalid(format!("its audit trail is broken: {broken}")))?;
    }
    let mut checked = Backup {
        admins,
        roles,
        credentials,
        ..backup
    };
    checked.sort();
    Ok(checked)
}

fn invalid(message: String) -> Error {
    Error::Invalid(format!("invalid keygate export: {message}"))
}

/// Admins with valid, unique usernames and argon2 password hashes.
fn admins(admins: Vec<BackupAdmin>) -> Result<Vec<BackupAdmin>> {
    let mut seen = HashSet::new();
    admins
        .into_iter()
        .map(|admin| {
            let username = validate::username(&admin.username)
                .map_err(|e| invalid(format!("admin {:?}: {e}", admin.username)))?;
            if !password::is_password_hash(&admin.password_hash) {
                return Err(invalid(format!(
                    "admin {username:?}: password_hash is not an argon2 password hash"
                )));
            }
            if !seen.insert(username.clone()) {
                return Err(invalid(format!(
                    "admin {username:?} appears more than once"
                )));
            }
            Ok(BackupAdmin { username, ..admin })
        })
        .collect()
}

/// Roles with valid names unique case-insensitively, and actions the
/// catalog knows, by their canonical names.
fn roles(roles: Vec<BackupRole>, catalog: &Catalog) -> Result<Vec<BackupRole>> {
    let mut seen = HashSet::new();
    roles
        .into_iter()
        .map(|role| {
            let name = validate::role_name(&role.name)
                .map_err(|e| invalid(format!("role {:?}: {e}", role.name)))?;
            let description = validate::description(&role.description)
                .map_err(|e| invalid(format!("role {name:?}: {e}")))?;
            if !seen.insert(name.to_lowercase()) {
                return Err(invalid(format!("role {name:?} appears more than once")));
            }
            let actions = actions(&name, &role.actions, catalog)?;
            Ok(BackupRole {
                name,
                description,
                actions,
                created_at: role.created_at,
            })
        })
        .collect()
}

/// The canonical names of a role's actions, sorted and unique.
fn actions(role: &str, names: &[String], catalog: &Catalog) -> Result<Vec<String>> {
    let canonical = names
        .iter()
        .map(|name| match catalog.resolve(name.trim()) {
            Some(id) => Ok(catalog.action(id).name.clone()),
            None => Err(invalid(format!(
                "role {role:?} allows unknown action {name:?} (not in the catalog: \
                 is it a custom action missing from this configuration?)"
            ))),
        })
        .collect::<Result<BTreeSet<_>>>()?;
    Ok(canonical.into_iter().collect())
}

/// One credential, its owner and roles resolved against the backup's own.
fn credential(
    credential: BackupCredential,
    usernames: &HashSet<&str>,
    role_names: &HashMap<String, &str>,
    now: i64,
) -> Result<BackupCredential> {
    let identifier = validate::imported_token("identifier", &credential.identifier)
        .map_err(|e| invalid(format!("credential {:?}: {e}", credential.identifier)))?;
    let context = |message: String| invalid(format!("credential {identifier:?}: {message}"));
    // The export's usernames are NFKC-normalised above; so is the owner.
    let admin = validate::normalize_name(&credential.admin);
    if !usernames.contains(admin.as_str()) {
        return Err(context(format!(
            "its admin {:?} is not among the export's admins",
            credential.admin
        )));
    }
    let description =
        validate::description(&credential.description).map_err(|e| context(e.to_string()))?;
    let roles = credential
        .roles
        .iter()
        .map(|name| {
            role_names
                .get(&validate::name_key(name))
                .map(|canonical| canonical.to_string())
                .ok_or_else(|| context(format!("unknown role {name:?}")))
        })
        .collect::<Result<BTreeSet<_>>>()?;
    hashes(&credential.secret_sha256, &credential.secret_md5_sha256).map_err(context)?;
    let old_secret = match credential.old_secret {
        Some(old) if old.until > now => {
            hashes(&old.secret_sha256, &old.secret_md5_sha256)
                .map_err(|e| context(format!("old_secret: {e}")))?;
            Some(old)
        }
        _ => None,
    };
    Ok(BackupCredential {
        identifier: identifier.clone(),
        description,
        roles: roles.into_iter().collect(),
        old_secret,
        allow_ips: allow_ips(&credential.allow_ips)
            .map_err(context)?
            .iter()
            .map(ToString::to_string)
            .collect(),
        rate_limit: rate(credential.rate_limit.as_deref())
            .map_err(context)?
            .map(|r| r.to_string()),
        client_ids: client_ids(&credential.client_ids)
            .map_err(context)?
            .into_iter()
            .map(|id| id.0)
            .collect(),
        admin,
        ..credential
    })
}

/// The secret hashes two hex fields hold.
pub(crate) fn hashes(direct: &str, md5: &str) -> Result<SecretHashes, String> {
    let direct =
        unhex32(direct).ok_or("secret_sha256 must be 64 lowercase hex digits (a SHA-256 hash)")?;
    let md5 =
        unhex32(md5).ok_or("secret_md5_sha256 must be 64 lowercase hex digits (a SHA-256 hash)")?;
    SecretHashes::from_parts(&direct, &md5).ok_or_else(|| "corrupt secret hashes".into())
}

/// The hashes of a backup's old secret, with when it stops.
pub(crate) fn old_hashes(old: &BackupOldSecret) -> Result<(SecretHashes, i64), String> {
    let hashes = hashes(&old.secret_sha256, &old.secret_md5_sha256)
        .map_err(|e| format!("old_secret: {e}"))?;
    Ok((hashes, old.until))
}

/// 32 bytes from 64 lowercase hex digits.
fn unhex32(text: &str) -> Option<[u8; 32]> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// An allowlist: networks, without duplicates, at most [`MAX_ALLOW_IPS`].
pub(crate) fn allow_ips(texts: &[String]) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::with_capacity(texts.len());
    for text in texts {
        let net: IpNet = text.parse().map_err(|e| format!("allow_ips: {e}"))?;
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    if nets.len() > MAX_ALLOW_IPS {
        return Err(format!(
            "allow_ips holds {} networks, at most {MAX_ALLOW_IPS} are allowed",
            nets.len()
        ));
    }
    Ok(nets)
}

/// A rate limit such as `600/m`.
pub(crate) fn rate(text: Option<&str>) -> Result<Option<Rate>, String> {
    text.map(|t| t.parse::<Rate>().map_err(|e| format!("rate_limit: {e}")))
        .transpose()
}

/// A client scope: positive ids, sorted, unique, at most
/// [`MAX_CLIENT_IDS`].
pub(crate) fn client_ids(ids: &[i64]) -> Result<Vec<ClientId>, String> {
    if let Some(bad) = ids.iter().find(|&&id| id <= 0) {
        return Err(format!("client_ids: {bad} is not a positive client id"));
    }
    let mut ids: Vec<ClientId> = ids.iter().copied().map(ClientId).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_CLIENT_IDS {
        return Err(format!(
            "client_ids holds {} clients, at most {MAX_CLIENT_IDS} are allowed",
            ids.len()
        ));
    }
    Ok(ids)
}
