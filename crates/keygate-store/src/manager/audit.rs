//! Who makes a change, and the audit event every change appends.

use keygate_core::audit::{Actor, AuditVerb, ChainBreak, ChainWalk, Changes, NewAuditEvent};

use super::Manager;
use crate::store::{AuditPage, AuditQuery};
use crate::{Error, Result};

/// Events read at a time while verifying the chain.
const VERIFY_PAGE: u32 = 1000;

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
