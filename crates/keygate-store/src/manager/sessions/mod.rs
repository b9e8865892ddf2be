//! Admin UI sessions in the database, so every instance on it knows every
//! session: a restart logs nobody out and a load balancer needs no sticky
//! sessions. The browser holds the session token; the database holds only
//! what [`seal`] derives from it. A session ends after [`SESSION_IDLE`]
//! without a request or [`SESSION_LIFETIME`] after login, when its admin is
//! disabled or removed, or when its admin's password changes.

mod seal;

use std::time::Duration;

use keygate_core::model::AdminId;
use serde::{Deserialize, Serialize};

use super::Manager;
use crate::store::{now_secs, StoredSession};
use crate::{Error, Result};

/// A session ends after this long without a request (give or take the
/// minute within which requests are not written down).
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, however busy.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// A new secret not shown within this time is dropped.
pub const SECRET_TTL: Duration = Duration::from_secs(10 * 60);

/// A live session as a request sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSession {
    /// The logged-in admin.
    pub admin_id: AdminId,
    /// Its current username.
    pub username: String,
    /// The token every state-changing request must carry.
    pub csrf: String,
}

/// Where a secret waiting to be shown came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretKind {
    /// A newly generated credential.
    Generated,
    /// A rotation; the old secret works until then (unix seconds), or
    /// stopped at once (`None`).
    Rotated {
        /// When the old secret stops.
        old_until: Option<i64>,
    },
    /// A new admin API token (the identifier is the token's id).
    ApiToken,
}

/// A credential's identifier and new secret, waiting to be shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSecret {
    /// The credential's identifier.
    pub identifier: String,
    /// The secret in the clear.
    pub secret: String,
    /// Generated or rotated.
    pub kind: SecretKind,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSecret({}, <redacted>)", self.identifier)
    }
}

fn secs(d: Duration) -> i64 {
    d.as_secs() as i64
}

/// Whether a stored session has outlived either lifetime at `now`.
fn expired(session: &StoredSession, now: i64) -> bool {
    now - session.last_seen_at > secs(SESSION_IDLE)
        || now - session.created_at > secs(SESSION_LIFETIME)
}

impl Manager {
    /// Starts a session for `admin` and returns its token (for the cookie;
    /// it is not kept). Expired sessions are pruned first.
    pub async fn start_session(&self, admin: AdminId) -> Result<String> {
        self.prune_sessions().await?;
        let token = keygate_core::secret::generate_identifier();
        let hash = seal::token_hash(&token);
        self.store.create_session(&hash, admin, now_secs()).await?;
        Ok(token)
    }

    /// The live session with this token, its use recorded (at most once a
    /// minute). An expired session, or one of a disabled admin, is ended.
    pub async fn live_session(&self, token: &str) -> Result<Option<LiveSession>> {
        let hash = seal::token_hash(token);
        let Some(found) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = now_secs();
        if expired(&found, now) || !found.enabled {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        if now - found.last_seen_at >= 60 {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(LiveSession {
            admin_id: found.admin_id,
            username: found.username,
            csrf: seal::csrf(token),
        }))
    }

    /// Ends the session with this token (logout), on every instance.
    pub async fn end_session(&self, token: &str) -> Result<()> {
        self.store.delete_session(&seal::token_hash(token)).await?;
        Ok(())
    }

    /// Deletes expired sessions and secrets left unshown; how many
    /// sessions were deleted.
    pub async fn prune_sessions(&self) -> Result<u64> {
        let now = now_secs();
        self.store
            .prune_sessions(
                now - secs(SESSION_IDLE),
                now - secs(SESSION_LIFETIME),
                now - secs(SECRET_TTL),
            )
            .await
    }

    /// Sets the notice shown once on the session's next page.
    pub async fn set_session_flash(&self, token: &str, message: &str) -> Result<()> {
        let hash = seal::token_hash(token);
        self.store.set_session_flash(&hash, message).await
    }

    /// Takes the session's notice, if any: it is shown once.
    pub async fn take_session_flash(&self, token: &str) -> Result<Option<String>> {
        let hash = seal::token_hash(token);
        self.store.take_session_flash(&hash).await
    }

    /// Keeps a new secret, sealed with a key derived from `token`, until
    /// the page that shows it is loaded (on whichever instance).
    pub async fn put_session_secret(&self, token: &str, secret: &NewSecret) -> Result<()> {
        let plain = serde_json::to_vec(secret)
            .map_err(|e| Error::Invalid(format!("cannot encode the new secret: {e}")))?;
        let sealed = seal::seal(token, &plain)
            .ok_or_else(|| Error::Unavailable("no randomness to seal the new secret".into()))?;
        let hash = seal::token_hash(token);
        self.store
            .set_session_secret(&hash, &sealed, now_secs())
            .await
    }

    /// Takes the new secret: it is handed out once, then forgotten; one
    /// older than [`SECRET_TTL`] is dropped unseen.
    pub async fn take_session_secret(&self, token: &str) -> Result<Option<NewSecret>> {
        let hash = seal::token_hash(token);
        let Some((sealed, at)) = self.store.take_session_secret(&hash).await? else {
            return Ok(None);
        };
        if now_secs() - at > secs(SECRET_TTL) {
            return Ok(None);
        }
        let plain = seal::open(token, &sealed);
        Ok(plain.and_then(|plain| serde_json::from_slice(&plain).ok()))
    }
}
