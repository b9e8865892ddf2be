//! Admin sessions, kept in the database through the manager (see
//! `keygate_store`'s session module) so every instance on it shares them: a
//! random token in the cookie, an idle and an absolute lifetime, a CSRF
//! token each, and one-time messages (the flash notice and the new secret,
//! which must never be shown twice). The database holds only the token's
//! hash, and the new secret only sealed with a key derived from the token.

use std::time::Duration;

use axum::http::header::{HeaderMap, COOKIE};
use keygate_core::model::AdminId;
use keygate_store::Manager;
use tokio::sync::watch;

pub use keygate_store::{NewSecret, SecretKind};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "keygate_session";
/// Name of the cookie holding the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "keygate_login";
/// How often expired sessions and unshown secrets are deleted (also at
/// every login); a lookup refuses them in between.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What a request learns about its session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The session token (the cookie's value).
    pub token: String,
    /// The logged-in admin.
    pub admin_id: AdminId,
    /// The logged-in admin's username.
    pub username: String,
    /// The token every state-changing request must carry.
    pub csrf: String,
    /// The address the request came from (as `trusted_proxies` tell it),
    /// recorded with every change the admin makes; set by the extractor.
    pub address: Option<String>,
}

impl Session {
    /// The manager acting as this admin from this request's address: every
    /// change made through it is audited in the admin's name.
    pub fn acting(&self, state: &crate::AppState) -> keygate_store::Manager {
        let actor = keygate_core::audit::Actor::admin(&self.username, self.address.clone());
        state.manager.acting_as(actor)
    }

    /// Sets the notice shown once on this session's next page.
    pub async fn flash(&self, state: &crate::AppState, message: impl Into<String>) {
        state.ui.sessions.set_flash(&self.token, message).await;
    }
}

/// Every session, in the database.
pub struct Sessions {
    manager: Manager,
}

impl Sessions {
    /// Sessions kept through `manager`'s store.
    pub fn new(manager: Manager) -> Self {
        Self { manager }
    }

    /// Starts a session for this admin and returns its token.
    pub async fn create(&self, admin_id: AdminId) -> keygate_store::Result<String> {
        self.manager.start_session(admin_id).await
    }

    /// The live session with this token, marked as used now; an expired
    /// session, or one of a disabled or removed admin, is none.
    pub async fn touch(&self, token: &str) -> keygate_store::Result<Option<Session>> {
        let live = self.manager.live_session(token).await?;
        Ok(live.map(|live| Session {
            token: token.to_string(),
            admin_id: live.admin_id,
            username: live.username,
            csrf: live.csrf,
            address: None,
        }))
    }

    /// Ends one session, on every instance.
    pub async fn end(&self, token: &str) -> keygate_store::Result<()> {
        self.manager.end_session(token).await
    }

    /// Sets the notice shown once on the next page. A notice is a comfort:
    /// if the database fails here, the change it reports stands, so the
    /// failure is logged rather than shown.
    pub async fn set_flash(&self, token: &str, message: impl Into<String>) {
        if let Err(e) = self.manager.set_session_flash(token, &message.into()).await {
            tracing::warn!(error = %e, "admin UI: cannot keep a notice for the next page");
        }
    }

    /// Takes the notice, if any (none if the database fails: logged).
    pub async fn take_flash(&self, token: &str) -> Option<String> {
        match self.manager.take_session_flash(token).await {
            Ok(flash) => flash,
            Err(e) => {
                tracing::warn!(error = %e, "admin UI: cannot read the notice for this page");
                None
            }
        }
    }

    /// Keeps a new secret until the page that shows it is loaded.
    pub async fn put_secret(
        &self,
        token: &str,
        identifier: &str,
        secret: &str,
        kind: SecretKind,
    ) -> keygate_store::Result<()> {
        let new = NewSecret {
            identifier: identifier.to_string(),
            secret: secret.to_string(),
            kind,
        };
        self.manager.put_session_secret(token, &new).await
    }

    /// Takes the new secret: it is handed out once, then forgotten.
    pub async fn take_secret(&self, token: &str) -> keygate_store::Result<Option<NewSecret>> {
        self.manager.take_session_secret(token).await
    }
}

/// Deletes expired sessions and unshown secrets every minute until
/// shutdown; every instance does, which is harmless.
pub async fn prune_loop(manager: Manager, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = manager.prune_sessions().await {
                    tracing::warn!(error = %e, "admin UI: cannot prune expired sessions");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// A random 32-character alphanumeric token (about 190 bits, OS CSPRNG).
pub fn new_token() -> String {
    keygate_core::secret::generate_identifier()
}

/// The value of cookie `name` in the request, if well-formed.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, scoped to `/admin`,
/// `Secure` when served over TLS; `None` deletes the cookie.
pub fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(value) => format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_parsed_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; keygate_session=abcXYZ09; b=2"),
        );
        assert_eq!(
            cookie(&headers, SESSION_COOKIE).as_deref(),
            Some("abcXYZ09")
        );
        headers.insert(COOKIE, HeaderValue::from_static("keygate_session=a%20b"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
        assert!(set_cookie("n", Some("v"), true).contains("HttpOnly; SameSite=Strict; Secure"));
        assert!(!set_cookie("n", Some("v"), false).contains("Secure"));
    }

    #[test]
    fn token_comparison() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", ""));
    }
}
