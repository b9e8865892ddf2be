//! Admin passwords: argon2id in PHC string format.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// An argon2id hash of `password` with a fresh random salt (PHC string).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Whether `password` matches `stored`; a malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Whether `stored` is a well-formed argon2 PHC string, as
/// [`hash_password`] writes (checked when a backup is imported).
pub fn is_password_hash(stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        hash.hash.is_some() && matches!(hash.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d")
    })
}

/// A well-formed hash that matches no password, verified when a login names
/// an unknown user so the answer takes as long as for a known one.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("keygate-dummy-password-never-used"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let stored = hash_password("correct horse");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &stored));
        assert!(!verify_password("wrong horse", &stored));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(stored, hash_password("correct horse"), "salted");
        assert!(is_password_hash(&stored));
        assert!(!is_password_hash("not a hash"));
        let without_output = &stored[..stored.rfind('$').unwrap()];
        assert!(!is_password_hash(without_output), "{without_output}");
        assert!(!is_password_hash("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA"));
    }
}
