//! Identifiers and secrets: generated from the OS CSPRNG, shown once as a
//! [`PlainSecret`], stored only as [`SecretHashes`].
//!
//! Secrets are 32 random alphanumeric characters (about 190 bits), so a fast
//! hash is enough: SHA-256 cannot be brute-forced at that entropy, and it
//! keeps the per-request check in the microsecond range (argon2 is for the
//! low-entropy admin passwords).

use md5::Md5;
use rand::{distributions::Alphanumeric, rngs::OsRng, Rng};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of generated identifiers and secrets.
pub const TOKEN_LEN: usize = 32;

fn random_token() -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect()
}

/// A new public credential identifier: 32 alphanumeric characters.
pub fn generate_identifier() -> String {
    random_token()
}

/// A secret in the clear: returned once when a credential is made, never
/// stored, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainSecret(String);

impl PlainSecret {
    /// A new random secret: 32 alphanumeric characters from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// Wraps a secret supplied by a user (legacy import).
    pub fn from_user(secret: String) -> Self {
        Self(secret)
    }

    /// The secret's text, for the one time it is shown.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hashes stored in place of this secret.
    pub fn hashes(&self) -> SecretHashes {
        SecretHashes::of(&self.0)
    }
}

impl std::fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainSecret(<redacted>)")
    }
}

/// What is stored for a secret: SHA-256 of the secret, and SHA-256 of the
/// lowercase hex MD5 of the secret (older WHMCS clients send `md5(secret)`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHashes {
    direct: [u8; 32],
    md5: [u8; 32],
}

impl SecretHashes {
    /// Hashes of `secret`.
    pub fn of(secret: &str) -> Self {
        let md5_hex = hex(&Md5::digest(secret.as_bytes()));
        Self {
            direct: sha256(secret.as_bytes()),
            md5: sha256(md5_hex.as_bytes()),
        }
    }

    /// Rebuilds stored hashes; `None` unless both are 32 bytes.
    pub fn from_parts(direct: &[u8], md5: &[u8]) -> Option<Self> {
        Some(Self {
            direct: direct.try_into().ok()?,
            md5: md5.try_into().ok()?,
        })
    }

    /// SHA-256 of the secret, for storage.
    pub fn direct(&self) -> &[u8; 32] {
        &self.direct
    }

    /// SHA-256 of md5-hex(secret), for storage.
    pub fn md5(&self) -> &[u8; 32] {
        &self.md5
    }

    /// Whether `presented` is the secret or its lowercase hex MD5. Both
    /// comparisons always run, in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        PresentedSecret::of(presented).matches(self)
    }

    /// Hashes no presented secret can match, checked for unknown identifiers
    /// so they cost the same as known ones.
    pub fn unmatchable() -> Self {
        Self {
            direct: [0xff; 32],
            md5: [0xff; 32],
        }
    }
}

/// Bytes of each hash a [`ShortHashes`] keeps: 128 bits, as hard to find a
/// preimage for as the secret (≈190 bits) is to guess, and half the room.
pub const SHORT_HASH_LEN: usize = 16;

/// The first [`SHORT_HASH_LEN`] bytes of both [`SecretHashes`]: what the
/// snapshot keeps in a credential's slot, so that the identifier, both
/// hashes and every lifecycle setting a call reads fit in two cache lines.
/// The store keeps the full hashes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortHashes {
    direct: [u8; SHORT_HASH_LEN],
    md5: [u8; SHORT_HASH_LEN],
}

impl SecretHashes {
    /// The prefixes the snapshot compares.
    pub fn short(&self) -> ShortHashes {
        let mut short = ShortHashes {
            direct: [0; SHORT_HASH_LEN],
            md5: [0; SHORT_HASH_LEN],
        };
        short.direct.copy_from_slice(&self.direct[..SHORT_HASH_LEN]);
        short.md5.copy_from_slice(&self.md5[..SHORT_HASH_LEN]);
        short
    }
}

impl std::fmt::Debug for ShortHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShortHashes(<redacted>)")
    }
}

impl std::fmt::Debug for SecretHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHashes(<redacted>)")
    }
}

/// A presented secret, hashed: [`SecretHashes::verify`] in two halves, so
/// the snapshot can hash while the stored hashes are still on their way
/// from memory.
pub struct PresentedSecret([u8; 32]);

impl PresentedSecret {
    /// SHA-256 of what the client sent.
    pub fn of(presented: &str) -> Self {
        Self(sha256(presented.as_bytes()))
    }

    /// Whether it is the secret or its lowercase hex MD5: both compared,
    /// in constant time.
    pub fn matches(&self, hashes: &SecretHashes) -> bool {
        let direct = self.0.ct_eq(&hashes.direct);
        let md5 = self.0.ct_eq(&hashes.md5);
        (direct | md5).into()
    }

    /// [`PresentedSecret::matches`] against the snapshot's prefixes.
    pub fn matches_short(&self, hashes: &ShortHashes) -> bool {
        let presented = self
            .0
            .first_chunk::<SHORT_HASH_LEN>()
            .unwrap_or(&[0; SHORT_HASH_LEN]);
        let direct = difference(presented, &hashes.direct).ct_eq(&0);
        let md5 = difference(presented, &hashes.md5).ct_eq(&0);
        (direct | md5).into()
    }
}

/// The bits in which two prefixes differ, folded into one word (zero:
/// equal) with branch-free operations, so that comparing it is one
/// constant-time equality rather than one per byte.
fn difference(a: &[u8; SHORT_HASH_LEN], b: &[u8; SHORT_HASH_LEN]) -> u64 {
    a.chunks_exact(8)
        .zip(b.chunks_exact(8))
        .map(|(a, b)| word(a) ^ word(b))
        .fold(0, |all, diff| all | diff)
}

/// Eight bytes as a word (chunks of eight only).
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
}

impl std::fmt::Debug for PresentedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PresentedSecret(<redacted>)")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_prefixes_match_the_secret_or_its_md5_and_nothing_one_bit_off() {
        let hashes = SecretHashes::of("s3cret");
        let md5_hex = hex(&Md5::digest(b"s3cret"));
        let short = hashes.short();
        assert!(PresentedSecret::of("s3cret").matches_short(&short));
        assert!(PresentedSecret::of(&md5_hex).matches_short(&short));
        assert!(!PresentedSecret::of("s3creT").matches_short(&short));
        // Every bit of both prefixes counts.
        let presented = PresentedSecret::of("s3cret");
        for byte in 0..SHORT_HASH_LEN {
            for bit in 0..8 {
                let mut off = presented.0;
                off[byte] ^= 1 << bit;
                assert!(!PresentedSecret(off).matches_short(&short), "{byte}.{bit}");
            }
        }
        let md5_presented = PresentedSecret::of(&md5_hex);
        let mut off = md5_presented.0;
        off[SHORT_HASH_LEN - 1] ^= 0x80;
        assert!(!PresentedSecret(off).matches_short(&short));
    }

    #[test]
    fn generated_tokens_are_32_alphanumerics_and_distinct() {
        let a = generate_identifier();
        let b = PlainSecret::generate();
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(b.expose().len(), TOKEN_LEN);
        assert_ne!(a, generate_identifier());
        assert_ne!(b, PlainSecret::generate());
    }

    #[test]
    fn verification_table() {
        let secret = PlainSecret::from_user("s3cret".into());
        let hashes = secret.hashes();
        let md5_hex = hex(&Md5::digest(b"s3cret"));
        let cases = [
            ("s3cret", true),
            (md5_hex.as_str(), true),
            (&md5_hex.to_uppercase(), false),
            ("S3cret", false),
            ("", false),
            ("s3cret ", false),
        ];
        for (presented, expected) in cases {
            assert_eq!(hashes.verify(presented), expected, "{presented:?}");
        }
        assert!(!SecretHashes::unmatchable().verify("s3cret"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let secret = PlainSecret::from_user("topsecretvalue".into());
        assert_eq!(format!("{secret:?}"), "PlainSecret(<redacted>)");
        assert!(!format!("{:?}", secret.hashes()).contains("topsecret"));
    }

    #[test]
    fn hashes_round_trip_through_storage() {
        let hashes = SecretHashes::of("x");
        let back = SecretHashes::from_parts(hashes.direct(), hashes.md5()).unwrap();
        assert_eq!(back, hashes);
        assert!(SecretHashes::from_parts(&[1, 2], hashes.md5()).is_none());
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}

/// A secret read from configuration (the upstream's secret, say): usable,
/// but never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct ConfigSecret(String);

impl ConfigSecret {
    /// Wraps a configured value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
