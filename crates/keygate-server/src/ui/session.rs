//! Admin sessions: random tokens held in memory, with an idle and an
//! absolute lifetime, a CSRF token each, and one-time messages (the flash
//! notice and the new secret, which must never be shown twice).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::header::{HeaderMap, COOKIE};
use keygate_core::model::AdminId;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "keygate_session";
/// Name of the cookie holding the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "keygate_login";
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);
/// A new secret not displayed within this time is dropped.
const SECRET_TTL: Duration = Duration::from_secs(10 * 60);

/// Where a secret waiting to be shown came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A newly generated credential.
    Generated,
    /// A rotation; the old secret works until then (unix seconds), or
    /// stopped at once (`None`).
    Rotated {
        /// When the old secret stops.
        old_until: Option<i64>,
    },
}

/// A credential's identifier and secret, waiting to be shown once.
#[derive(Clone)]
pub struct NewSecret {
    /// The credential's identifier.
    pub identifier: String,
    /// The secret in the clear.
    pub secret: String,
    /// Generated or rotated.
    pub kind: SecretKind,
    created: Instant,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSecret({}, <redacted>)", self.identifier)
    }
}

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
}

struct Entry {
    admin_id: AdminId,
    username: String,
    csrf: String,
    created: Instant,
    last_seen: Instant,
    flash: Option<String>,
    secret: Option<NewSecret>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) > IDLE_TIMEOUT
            || now.duration_since(self.created) > ABSOLUTE_TIMEOUT
    }
}

/// Every live session.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave an entry half-written.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session for this admin and returns its token.
    pub fn create(&self, admin_id: AdminId, username: &str, now: Instant) -> String {
        let token = new_token();
        let mut entries = self.lock();
        entries.retain(|_, e| !e.expired(now));
        entries.insert(
            token.clone(),
            Entry {
                admin_id,
                username: username.to_string(),
                csrf: new_token(),
                created: now,
                last_seen: now,
                flash: None,
                secret: None,
            },
        );
        token
    }

    /// The live session with this token, marked as used now.
    pub fn touch(&self, token: &str, now: Instant) -> Option<Session> {
        let mut entries = self.lock();
        let entry = entries.get_mut(token)?;
        if entry.expired(now) {
            entries.remove(token);
            return None;
        }
        entry.last_seen = now;
        Some(Session {
            token: token.to_string(),
            admin_id: entry.admin_id,
            username: entry.username.clone(),
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends one session.
    pub fn end(&self, token: &str) {
        self.lock().remove(token);
    }

    /// Ends every session of this admin except `keep` (after a password change).
    pub fn end_others(&self, admin_id: AdminId, keep: Option<&str>) {
        self.lock()
            .retain(|token, e| e.admin_id != admin_id || Some(token.as_str()) == keep);
    }

    /// Number of live sessions (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the notice shown once on the next page.
    pub fn set_flash(&self, token: &str, message: impl Into<String>) {
        if let Some(entry) = self.lock().get_mut(token) {
            entry.flash = Some(message.into());
        }
    }

    /// Takes the notice, if any.
    pub fn take_flash(&self, token: &str) -> Option<String> {
        self.lock().get_mut(token)?.flash.take()
    }

    /// Keeps a new secret until the page that shows it is loaded.
    pub fn put_secret(
        &self,
        token: &str,
        identifier: &str,
        secret: &str,
        kind: SecretKind,
        now: Instant,
    ) {
        if let Some(entry) = self.lock().get_mut(token) {
            entry.secret = Some(NewSecret {
                identifier: identifier.to_string(),
                secret: secret.to_string(),
                kind,
                created: now,
            });
        }
    }

    /// Takes the new secret: it is handed out once, then forgotten.
    pub fn take_secret(&self, token: &str, now: Instant) -> Option<NewSecret> {
        let secret = self.lock().get_mut(token)?.secret.take()?;
        (now.duration_since(secret.created) <= SECRET_TTL).then_some(secret)
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
    fn sessions_expire_when_idle_and_absolutely() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let token = sessions.create(AdminId(1), "alice", start);
        assert!(sessions.touch(&token, start + IDLE_TIMEOUT / 2).is_some());
        let later = start + IDLE_TIMEOUT / 2 + IDLE_TIMEOUT + Duration::from_secs(1);
        assert!(
            sessions.touch(&token, later).is_none(),
            "idle session ended"
        );

        let token = sessions.create(AdminId(1), "alice", start);
        let mut now = start;
        while now < start + ABSOLUTE_TIMEOUT {
            assert!(sessions.touch(&token, now).is_some());
            now += IDLE_TIMEOUT / 2;
        }
        now += Duration::from_secs(1);
        assert!(sessions.touch(&token, now).is_none(), "absolute lifetime");
    }

    #[test]
    fn end_and_end_others() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let a = sessions.create(AdminId(1), "alice", now);
        let b = sessions.create(AdminId(1), "alice", now);
        let c = sessions.create(AdminId(2), "bob", now);
        sessions.end_others(AdminId(1), Some(&a));
        assert!(sessions.touch(&a, now).is_some());
        assert!(sessions.touch(&b, now).is_none());
        assert!(sessions.touch(&c, now).is_some());
        sessions.end(&a);
        assert!(sessions.touch(&a, now).is_none());
    }

    #[test]
    fn secret_is_taken_once() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let token = sessions.create(AdminId(1), "alice", now);
        sessions.put_secret(&token, "ID", "SECRET", SecretKind::Generated, now);
        assert_eq!(sessions.take_secret(&token, now).unwrap().secret, "SECRET");
        assert!(sessions.take_secret(&token, now).is_none());
        let rotated = SecretKind::Rotated { old_until: Some(5) };
        sessions.put_secret(&token, "ID", "SECRET", rotated, now);
        assert!(sessions.take_secret(&token, now + SECRET_TTL * 2).is_none());
    }

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
