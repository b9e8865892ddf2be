//! Who makes a change, and the audit event every change appends.

use std::collections::BTreeSet;

use keygate_core::audit::{Actor, AuditVerb, ChainBreak, ChainWalk, Changes, NewAuditEvent};
use keygate_core::model::{Credential, Lifecycle, Role};
use serde_json::{json, Map, Value};

use super::Manager;
use crate::list_sql::CredentialQuery;
use crate::store::{AuditPage, AuditQuery};
use crate::{Error, Result};

/// Events read at a time while verifying the chain.
const VERIFY_PAGE: u32 = 1000;

/// At most this many credentials are named in an audit event's note of
/// the credentials a change touched (a deleted role's holders, a removed
/// admin's credentials); beyond, the note says how many there were in all.
/// A role held by a million credentials must not make an event of tens of
/// megabytes, nor a read of every holder.
pub(crate) const NOTED_CREDENTIALS: u32 = 1000;

/// The credentials a change touches, as its audit event names them.
pub(crate) struct NotedCredentials {
    /// The first [`NOTED_CREDENTIALS`] identifiers, oldest first.
    identifiers: Vec<String>,
    /// How many in all.
    total: u64,
}

impl NotedCredentials {
    /// `changes` noting the identifiers as `field` and, when not all of
    /// them are named, their number as `{field}_total`.
    pub(crate) fn note(self, changes: Changes, field: &str) -> Changes {
        let named = self.identifiers.len() as u64;
        let changes = changes.note(field, json!(self.identifiers));
        match self.total > named {
            true => changes.note(&format!("{field}_total"), json!(self.total)),
            false => changes,
        }
    }
}

/// The outcome of [`Manager::verify_audit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditVerification {
    /// Every event is intact and linked; this many were checked.
    Intact(i64),
    /// The first break found.
    Broken(ChainBreak),
}

impl Manager {
    /// This manager acting for `actor`: every change made through the
    /// returned handle is audited in its name (clones share everything
    /// else).
    pub fn acting_as(&self, actor: Actor) -> Manager {
        Manager {
            actor,
            ..self.clone()
        }
    }

    /// The credentials `query` selects (its paging aside), as an audit
    /// event names them: one page and a count, never every row.
    pub(crate) async fn noted_credentials(
        &self,
        query: CredentialQuery,
    ) -> Result<NotedCredentials> {
        let query = CredentialQuery {
            offset: 0,
            limit: NOTED_CREDENTIALS,
            ..query
        };
        let page = self.store.credentials_page(&query).await?;
        Ok(NotedCredentials {
            identifiers: page.credentials.into_iter().map(|c| c.identifier).collect(),
            total: page.total,
        })
    }

    /// Who changes made through this handle are audited as.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Appends the event for a change just made. The change is already in
    /// force, so a failure says so instead of pretending nothing happened.
    pub(crate) async fn audit(
        &self,
        verb: AuditVerb,
        target_id: &str,
        target_name: &str,
        changes: Changes,
    ) -> Result<()> {
        let event = NewAuditEvent {
            actor: self.actor.clone(),
            verb,
            target_id: target_id.to_string(),
            target_name: target_name.to_string(),
            changes,
        };
        match self.store.append_audit(&event).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, verb = %verb, target = target_id, "cannot append to the audit trail");
                Err(Error::Unavailable(format!(
                    "the change ({verb} {target_id}) was made, but the audit trail could not record it: {e}"
                )))
            }
        }
    }

    /// Audits a role change (`None`: the role did not exist on that side).
    pub(super) async fn audit_role(
        &self,
        verb: AuditVerb,
        before: Option<&Role>,
        after: Option<&Role>,
    ) -> Result<()> {
        let Some(role) = after.or(before) else {
            return Ok(());
        };
        let changes = role_changes(before, after);
        self.audit(verb, &role.id.0.to_string(), &role.name, changes)
            .await
    }

    /// Audits a credential change (`None`: it did not exist on that side).
    pub(super) async fn audit_credential(
        &self,
        verb: AuditVerb,
        before: Option<&Credential>,
        after: Option<&Credential>,
    ) -> Result<()> {
        let Some(credential) = after.or(before) else {
            return Ok(());
        };
        let changes = credential_changes(before, after);
        self.audit(
            verb,
            &credential.identifier,
            &credential.description,
            changes,
        )
        .await
    }

    /// The audit events `query` selects, newest first, and their count.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<AuditPage> {
        self.store.audit_events(query).await
    }

    /// Walks the whole chain from the first event, page by page, and
    /// checks it against the recorded head.
    pub async fn verify_audit(&self) -> Result<AuditVerification> {
        let mut walk = ChainWalk::new();
        loop {
            loop {
                let page = self.store.audit_chain(walk.last_id(), VERIFY_PAGE).await?;
                if page.is_empty() {
                    break;
                }
                for event in &page {
                    if let Err(broken) = walk.step(event) {
                        return Ok(AuditVerification::Broken(broken));
                    }
                }
            }
            // Read after the walk, so an event appended meanwhile is walked
            // on the next round instead of looking cut off.
            let (head_id, head_hash) = self.store.audit_head().await?;
            let fresh = self.store.audit_chain(walk.last_id(), 1).await?;
            if head_id > walk.last_id() && !fresh.is_empty() {
                continue;
            }
            return Ok(match walk.finish(head_id, &head_hash) {
                Ok(checked) => AuditVerification::Intact(checked),
                Err(broken) => AuditVerification::Broken(broken),
            });
        }
    }
}

/// The audited fields of a credential: owner, description, roles (ids and
/// names) and every lifecycle field. Never the secret or its hashes.
fn credential_fields(credential: &Credential) -> Map<String, Value> {
    let mut fields = match serde_json::to_value(&credential.lifecycle) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    fields.insert("admin".into(), json!(credential.admin));
    fields.insert("description".into(), json!(credential.description));
    fields.insert("roles".into(), json!(credential.roles));
    fields
}

/// What changed between two states of a credential (`None`: it did not
/// exist on that side).
pub(crate) fn credential_changes(
    before: Option<&Credential>,
    after: Option<&Credential>,
) -> Changes {
    let before = before.map(credential_fields).unwrap_or_default();
    let after = after.map(credential_fields).unwrap_or_default();
    diff(&before, &after)
}

/// What changed between two states of a role: name and description as
/// before/after; the actions whole when the role is created or deleted,
/// otherwise as the lists added and removed.
pub(crate) fn role_changes(before: Option<&Role>, after: Option<&Role>) -> Changes {
    let fields = |role: &Role| {
        let mut map = Map::new();
        map.insert("name".into(), json!(role.name));
        map.insert("description".into(), json!(role.description));
        map
    };
    let mut changes = diff(
        &before.map(fields).unwrap_or_default(),
        &after.map(fields).unwrap_or_default(),
    );
    match (before, after) {
        (Some(before), Some(after)) => {
            let old: BTreeSet<&String> = before.actions.iter().collect();
            let new: BTreeSet<&String> = after.actions.iter().collect();
            let added: Vec<_> = new.difference(&old).collect();
            let removed: Vec<_> = old.difference(&new).collect();
            if !added.is_empty() {
                changes = changes.note("actions_added", json!(added));
            }
            if !removed.is_empty() {
                changes = changes.note("actions_removed", json!(removed));
            }
        }
        (before, after) => {
            let actions = |role: Option<&Role>| role.map_or(Value::Null, |r| json!(r.actions));
            changes = changes.field("actions", actions(before), actions(after));
        }
    }
    changes
}

/// Before/after of every field that differs between two field maps.
fn diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Changes {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter().fold(Changes::new(), |changes, key| {
        let old = before.get(key).cloned().unwrap_or(Value::Null);
        let new = after.get(key).cloned().unwrap_or(Value::Null);
        changes.field(key, old, new)
    })
}

/// The verb for an edit: enabling or disabling alone reads as such.
pub(super) fn edit_verb(before: &Credential, after: &Credential) -> AuditVerb {
    let toggled = Credential {
        lifecycle: Lifecycle {
            enabled: after.lifecycle.enabled,
            ..before.lifecycle.clone()
        },
        ..before.clone()
    };
    match (before.lifecycle.enabled, after.lifecycle.enabled) {
        (true, false) if toggled == *after => AuditVerb::CredentialDisable,
        (false, true) if toggled == *after => AuditVerb::CredentialEnable,
        _ => AuditVerb::CredentialEdit,
    }
}
