//! Usage per credential and the least-privilege advisor: the hourly
//! buckets the server flushes, read over a window, compared with what the
//! credential's roles allow, and turned into one tighter role.

use std::collections::BTreeSet;

use keygate_core::audit::{AuditVerb, Changes};
use keygate_core::model::{Credential, Role};
use keygate_core::usage::{advise, per_action, Advice, UsageBucket};
use keygate_core::validate;
use serde_json::json;

use super::Manager;
use crate::store::{now_secs, CredentialPatch, RoleDraft};
use crate::{Error, Result};

/// The longest window usage can be read over, in days: the longest
/// retention the server accepts (`[usage] retention_days`).
pub const MAX_USAGE_DAYS: u32 = 3650;

/// What a least-privilege role's name starts with.
const ROLE_PREFIX: &str = "Least privilege for ";

/// How many numbered names (" (2)", " (3)", …) are tried when the name is
/// taken.
const MAX_NAME_TRIES: u32 = 1000;

/// A credential's usage buckets over a window.
#[derive(Clone, Debug)]
pub struct CredentialUsage {
    /// The credential.
    pub credential: Credential,
    /// Start of the window (unix seconds).
    pub since: i64,
    /// Its buckets, ascending by hour.
    pub buckets: Vec<UsageBucket>,
}

/// What [`super::Manager::tighten`] did.
#[derive(Clone, Debug)]
pub struct Tightened {
    /// The credential, now holding only the new role.
    pub credential: Credential,
    /// The least-privilege role created.
    pub role: Role,
    /// The advice it followed.
    pub advice: Advice,
}

impl Manager {
    /// The credential's usage buckets over the last `days` days (1 to
    /// [`MAX_USAGE_DAYS`]; buckets older than the server's retention are
    /// gone already).
    pub async fn credential_usage(&self, identifier: &str, days: u32) -> Result<CredentialUsage> {
        let since = window_start(days)?;
        let credential = self.credential(identifier).await?;
        let buckets = self.store.usage(credential.id, since).await?;
        Ok(CredentialUsage {
            credential,
            since,
            buckets,
        })
    }

    /// The advisor's finding for the credential over the last `days` days:
    /// the actions its roles allow (all of them together), those it used,
    /// those it left unused, and those it tried but was denied.
    pub async fn advice(&self, identifier: &str, days: u32) -> Result<(Credential, Advice)> {
        let usage = self.credential_usage(identifier, days).await?;
        let allowed = self.allowed_actions(&usage.credential).await?;
        let advice = advise(&allowed, &per_action(&usage.buckets));
        Ok((usage.credential, advice))
    }

    /// Replaces the credential's roles with one new role of exactly the
    /// actions it used over the last `days` days, named `Least privilege
    /// for <description or identifier>` (numbered when taken). One audit
    /// event (`credential.tighten`) records the new role and the roles
    /// before and after. Refused when nothing would change: nothing used in
    /// the window, or every allowed action used.
    pub async fn tighten(&self, identifier: &str, days: u32) -> Result<Tightened> {
        let (credential, advice) = self.advice(identifier, days).await?;
        if advice.used.is_empty() {
            return Err(Error::Invalid(format!(
                "credential {} made no allowed call in the last {days} days: \
                 nothing to base a least-privilege role on (its roles are left as they are)",
                credential.identifier
            )));
        }
        if !advice.can_tighten() {
            return Err(Error::Invalid(format!(
                "credential {} already has least privilege: it used every one of the {} \
                 actions its roles allow in the last {days} days",
                credential.identifier,
                advice.allowed.len()
            )));
        }
        let role = self
            .create_least_privilege_role(&credential, &advice, days)
            .await?;
        let patch = CredentialPatch {
            roles: Some(vec![role.id]),
            ..CredentialPatch::default()
        };
        let updated = match self.store.update_credential(credential.id, &patch).await? {
            Some(updated) => updated,
            None => {
                // Deleted meanwhile: the role made for it has no purpose.
                let _ = self.store.delete_role(role.id).await;
                return Err(Error::NotFound(format!(
                    "credential {:?} not found",
                    credential.identifier
                )));
            }
        };
        let changes = Changes::new()
            .note(
                "role_created",
                json!({ "id": role.id, "name": role.name, "actions": role.actions }),
            )
            .field("roles", json!(credential.roles), json!(updated.roles))
            .note("actions_removed", json!(advice.unused))
            .note("window_days", json!(days));
        self.audit(
            AuditVerb::CredentialTighten,
            &updated.identifier,
            &updated.description,
            changes,
        )
        .await?;
        let tightened = Tightened {
            credential: updated,
            role,
            advice,
        };
        Ok(self.changed(tightened).await)
    }

    /// Every action the credential's roles allow together.
    async fn allowed_actions(&self, credential: &Credential) -> Result<BTreeSet<String>> {
        let mut allowed = BTreeSet::new();
        for role in &credential.roles {
            if let Some(role) = self.store.get_role(role.id).await? {
                allowed.extend(role.actions);
            }
        }
        Ok(allowed)
    }

    /// Creates the role of the used actions under the first free name.
    async fn create_least_privilege_role(
        &self,
        credential: &Credential,
        advice: &Advice,
        days: u32,
    ) -> Result<Role> {
        let subject = match credential.description.trim() {
            "" => credential.identifier.as_str(),
            description => description,
        };
        let description = validate::description(&format!(
            "The actions credential {} used in the {days} days before {} (keygate credential tighten)",
            truncate_chars(&credential.identifier, 64),
            format_day(now_secs()),
        ))?;
        for n in 1..=MAX_NAME_TRIES {
            let name = role_name(subject, n);
            if self.store.find_role(&name).await?.is_some() {
                continue;
            }
            let draft = RoleDraft {
                name,
                description: description.clone(),
                actions: advice.used.iter().cloned().collect(),
            };
            match self.store.create_role(&draft).await {
                Ok(role) => return Ok(role),
                // Taken meanwhile: try the next number.
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "every name from {:?} to {:?} is taken",
            role_name(subject, 1),
            role_name(subject, MAX_NAME_TRIES)
        )))
    }
}

/// The start of a window of `days` days ending now.
fn window_start(days: u32) -> Result<i64> {
    if days == 0 {
        return Err(Error::Invalid(
            "the usage window must be at least 1 day".into(),
        ));
    }
    if days > MAX_USAGE_DAYS {
        return Err(Error::Invalid(format!(
            "the usage window must be at most {MAX_USAGE_DAYS} days ({days} given)"
        )));
    }
    Ok(now_secs() - i64::from(days) * 86_400)
}

/// `Least privilege for <subject>`, with ` (n)` from the second on; the
/// subject is shortened (ending in `...`) to keep within the longest role
/// name.
fn role_name(subject: &str, n: u32) -> String {
    let suffix = if n > 1 {
        format!(" ({n})")
    } else {
        String::new()
    };
    let subject = validate::normalize_name(subject);
    let room = validate::MAX_ROLE_NAME - ROLE_PREFIX.chars().count() - suffix.chars().count();
    let subject = if subject.chars().count() > room {
        format!("{}...", truncate_chars(&subject, room - 3).trim_end())
    } else {
        subject
    };
    let name = format!("{ROLE_PREFIX}{subject}{suffix}");
    // Normalising again cannot lengthen an already normalised name; the
    // fallback only guards against a subject it would.
    validate::role_name(&name).unwrap_or_else(|_| format!("{ROLE_PREFIX}credential{suffix}"))
}

/// The first `max` characters of `text`.
fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `YYYY-MM-DD` (UTC) of unix seconds.
fn format_day(secs: i64) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_fit_and_number() {
        assert_eq!(
            role_name("billing bot", 1),
            "Least privilege for billing bot"
        );
        assert_eq!(
            role_name("billing bot", 2),
            "Least privilege for billing bot (2)"
        );
        let long = "x".repeat(300);
        for n in [1, 2, 10, 1000] {
            let name = role_name(&long, n);
            assert_eq!(name.chars().count(), validate::MAX_ROLE_NAME, "{name}");
            assert!(validate::role_name(&name).is_ok());
            assert!(name.contains("..."));
        }
        assert!(role_name(&long, 12).ends_with("... (12)"));
        // Full-width letters are normalised before measuring.
        assert_eq!(role_name("ｂｏｔ", 1), "Least privilege for bot");
        let wide = "é".repeat(100);
        assert!(validate::role_name(&role_name(&wide, 3)).is_ok());
    }

    #[test]
    fn windows_are_bounded() {
        assert!(matches!(window_start(0), Err(Error::Invalid(_))));
        assert!(matches!(
            window_start(MAX_USAGE_DAYS + 1),
            Err(Error::Invalid(_))
        ));
        let start = window_start(30).unwrap();
        assert!((now_secs() - start - 30 * 86_400).abs() <= 1);
    }

    #[test]
    fn days_format() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(1_795_000_000), "2026-11-18");
        assert_eq!(format_day(951_782_400), "2000-02-29");
    }
}
