//! Admin API tokens for the management API: `kgat_`, 36 random base62
//! characters (214 bits), then a 6-character checksum, so a mistyped or
//! truncated token is refused without a database lookup and secret
//! scanners can recognise one. Shown once as a [`PlainToken`]; stored only
//! as its [`TokenHash`].

use rand::{distributions::Alphanumeric, rngs::OsRng, Rng};
use sha2::{Digest, Sha256};

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "kgat_";

/// Random characters after the prefix (36 × log2(62) ≈ 214 bits).
const RANDOM_LEN: usize = 36;

/// Checksum characters at the end.
const CHECKSUM_LEN: usize = 6;

/// Random characters shown in listings to tell tokens apart (what stays
/// secret is still 32 characters, about 190 bits).
const SHOWN_LEN: usize = 4;

/// Length of a whole token.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a text is not a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormatError {
    /// It does not start with `kgat_`.
    Prefix,
    /// It is too short or too long, or holds other characters.
    Shape,
    /// The checksum does not match: mistyped or cut.
    Checksum,
}

impl std::fmt::Display for TokenFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenFormatError::Prefix => "not a keygate API token (they start with kgat_)",
            TokenFormatError::Shape => "malformed API token (wrong length or characters)",
            TokenFormatError::Checksum => {
                "malformed API token (checksum mismatch: mistyped or cut)"
            }
        })
    }
}

/// A token in the clear: returned once when made, never stored, never
/// printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(String);

impl PlainToken {
    /// A new random token from the OS CSPRNG.
    pub fn generate() -> Self {
        let random: String = OsRng
            .sample_iter(&Alphanumeric)
            .take(RANDOM_LEN)
            .map(char::from)
            .collect();
        Self(format!("{TOKEN_PREFIX}{random}{}", checksum(&random)))
    }

    /// Checks a presented token's shape and checksum.
    pub fn parse(text: &str) -> Result<Self, TokenFormatError> {
        let body = text
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenFormatError::Prefix)?;
        if body.len() != RANDOM_LEN + CHECKSUM_LEN
            || !body.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(TokenFormatError::Shape);
        }
        let (random, sum) = body.split_at(RANDOM_LEN);
        if checksum(random) != sum {
            return Err(TokenFormatError::Checksum);
        }
        Ok(Self(text.to_string()))
    }

    /// The token's text, for the one time it is shown.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored in its place.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The part shown in listings: `kgat_AbCd…`.
    pub fn shown_prefix(&self) -> String {
        format!("{}…", &self.0[..TOKEN_PREFIX.len() + SHOWN_LEN])
    }
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

/// The SHA-256 of a token: what the store keeps and looks tokens up by (a
/// fast hash is right for 214 random bits, as for credential secrets).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// Six base62 characters from the SHA-256 of the random part.
fn checksum(random: &str) -> String {
    let digest = Sha256::digest(random.as_bytes());
    let mut value = u64::from(u32::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ]));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = PlainToken::generate();
        let b = PlainToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert!(a.expose().starts_with("kgat_"));
        assert_eq!(PlainToken::parse(a.expose()), Ok(a.clone()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.shown_prefix().chars().count(), 10);
    }

    #[test]
    fn malformed_tokens_are_named() {
        let good = PlainToken::generate().expose().to_string();
        let mut typo = good.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let cases = [
            ("", TokenFormatError::Prefix),
            ("ghp_abc", TokenFormatError::Prefix),
            (&good[..good.len() - 1], TokenFormatError::Shape),
            (
                "kgat_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
                TokenFormatError::Shape,
            ),
            (&typo, TokenFormatError::Checksum),
        ];
        for (text, expected) in cases {
            assert_eq!(PlainToken::parse(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = PlainToken::generate();
        assert!(!format!("{token:?}").contains(&token.expose()[5..]));
        assert!(!format!("{:?}", token.hash()).contains('['));
    }
}
