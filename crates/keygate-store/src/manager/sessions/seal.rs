//! What is derived from a session token, which only the admin's browser
//! holds: the database's key for the session (its SHA-256), the CSRF token
//! (an HMAC of a fixed label, so it need not be stored), and the key that
//! seals a new secret waiting to be shown (HKDF-SHA256, for
//! ChaCha20-Poly1305). The database alone can therefore neither act as the
//! session nor read a waiting secret.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hkdf, hmac};

/// Separates keygate's derivations from any other use of the token.
const SALT: &[u8] = b"keygate admin UI session v1";
/// Labels each derived value.
const CSRF_LABEL: &[u8] = b"csrf";
const SEAL_LABEL: &[u8] = b"new secret";

/// The SHA-256 of the token: how the database names the session.
pub(super) fn token_hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// The session's CSRF token: 64 hex digits.
pub(super) fn csrf(token: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
    let mut message = SALT.to_vec();
    message.extend_from_slice(CSRF_LABEL);
    hex(hmac::sign(&key, &message).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sealing key for this token.
fn key(token: &str) -> Option<LessSafeKey> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(token.as_bytes());
    let okm = prk.expand(&[SEAL_LABEL], &CHACHA20_POLY1305).ok()?;
    Some(LessSafeKey::new(UnboundKey::from(okm)))
}

/// `plain` encrypted and authenticated: a random nonce, then the
/// ciphertext and tag. `None` only if the OS random source fails.
pub(super) fn seal(token: &str, plain: &[u8]) -> Option<Vec<u8>> {
    let key = key(token)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).ok()?;
    let mut data = plain.to_vec();
    let nonce_value = Nonce::assume_unique_for_key(nonce);
    key.seal_in_place_append_tag(nonce_value, Aad::from(SEAL_LABEL), &mut data)
        .ok()?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&data);
    Some(sealed)
}

/// What [`seal`] sealed with the same token; `None` for another token or
/// altered bytes.
pub(super) fn open(token: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + aead::MAX_TAG_LEN {
        return None;
    }
    let (nonce, data) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key(token)?
        .open_in_place(nonce, Aad::from(SEAL_LABEL), &mut data)
        .ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_opens_only_with_its_token() {
        let sealed = seal("token-a", b"the secret").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"the secret"));
        assert_eq!(open("token-a", &sealed).unwrap(), b"the secret");
        assert!(open("token-b", &sealed).is_none());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open("token-a", &altered).is_none());
        assert!(open("token-a", &sealed[..10]).is_none());
        assert_ne!(seal("token-a", b"x"), seal("token-a", b"x"), "fresh nonce");
    }

    #[test]
    fn derived_values_differ_per_token() {
        assert_eq!(csrf("a"), csrf("a"));
        assert_ne!(csrf("a"), csrf("b"));
        assert_eq!(csrf("a").len(), 64);
        assert_ne!(token_hash("a"), token_hash("b"));
    }
}
