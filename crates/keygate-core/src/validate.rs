//! Input rules for names, descriptions, passwords and imported credentials.
//! Every rule returns a message fit to show the user as it is.

/// Longest admin username, in characters.
pub const MAX_USERNAME: usize = 64;
/// Shortest admin password, in characters.
pub const MIN_PASSWORD: usize = 8;
/// Longest admin password, in characters.
pub const MAX_PASSWORD: usize = 1024;
/// Longest role name, in characters.
pub const MAX_ROLE_NAME: usize = 64;
/// Longest role or credential description, in characters.
pub const MAX_DESCRIPTION: usize = 255;
/// Longest imported identifier or secret, in characters.
pub const MAX_IMPORTED_TOKEN: usize = 128;

/// A rule was broken; the message says which and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(message.into()))
}

/// `input` trimmed and in Unicode NFKC, so look-alikes such as full-width
/// letters become the plain ones (`ａｌｉｃｅ` is `alice`).
pub fn normalize_name(input: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    input.trim().nfkc().collect::<String>().trim().to_string()
}

/// The key admin usernames and role names are unique by: normalised
/// ([`normalize_name`]) and lowercase, so `ALICE` and `alice` are one name.
pub fn name_key(input: &str) -> String {
    normalize_name(input).to_lowercase()
}

/// 1 to 64 characters: letters, digits, `.`, `_`, `-`, `@` (after NFKC).
pub fn username(input: &str) -> Result<String, Invalid> {
    let name = &normalize_name(input);
    if name.is_empty() {
        return invalid("username must not be empty");
    }
    if name.chars().count() > MAX_USERNAME {
        return invalid(format!(
            "username must be at most {MAX_USERNAME} characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return invalid("username may contain only letters, digits, '.', '_', '-' and '@'");
    }
    Ok(name.to_string())
}

/// 8 to 1024 characters, nothing else required.
pub fn password(input: &str) -> Result<(), Invalid> {
    let len = input.chars().count();
    if len < MIN_PASSWORD {
        return invalid(format!(
            "password must be at least {MIN_PASSWORD} characters"
        ));
    }
    if len > MAX_PASSWORD {
        return invalid(format!(
            "password must be at most {MAX_PASSWORD} characters"
        ));
    }
    Ok(())
}

/// 1 to 64 characters after trimming and NFKC, no control characters.
pub fn role_name(input: &str) -> Result<String, Invalid> {
    let name = &normalize_name(input);
    if name.is_empty() {
        return invalid("role name must not be empty");
    }
    if name.chars().count() > MAX_ROLE_NAME {
        return invalid(format!(
            "role name must be at most {MAX_ROLE_NAME} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return invalid("role name must not contain control characters");
    }
    Ok(name.to_string())
}

/// 0 to 255 characters after trimming, no control characters.
pub fn description(input: &str) -> Result<String, Invalid> {
    let text = input.trim();
    if text.chars().count() > MAX_DESCRIPTION {
        return invalid(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        ));
    }
    if text.chars().any(char::is_control) {
        return invalid("description must not contain control characters");
    }
    Ok(text.to_string())
}

/// An imported (legacy) identifier or secret: 1 to 128 printable ASCII
/// characters without spaces. `what` names it in the message.
pub fn imported_token(what: &str, input: &str) -> Result<String, Invalid> {
    if input.is_empty() {
        return invalid(format!("{what} must not be empty"));
    }
    if input.len() > MAX_IMPORTED_TOKEN {
        return invalid(format!(
            "{what} must be at most {MAX_IMPORTED_TOKEN} characters"
        ));
    }
    if !input.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid(format!(
            "{what} may contain only printable ASCII characters without spaces"
        ));
    }
    Ok(input.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_table() {
        let long = "a".repeat(65);
        let cases: [(&str, Result<&str, &str>); 6] = [
            ("alice", Ok("alice")),
            ("  bob.smith@example ", Ok("bob.smith@example")),
            ("", Err("username must not be empty")),
            ("   ", Err("username must not be empty")),
            (&long, Err("username must be at most 64 characters")),
            (
                "a b",
                Err("username may contain only letters, digits, '.', '_', '-' and '@'"),
            ),
        ];
        for (input, expected) in cases {
            let got = username(input);
            assert_eq!(
                got.as_deref().map_err(|e| e.0.as_str()),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn names_are_nfkc_normalised_table() {
        let cases: [(&str, &str, &str); 6] = [
            ("ａｌｉｃｅ", "alice", "alice"),
            ("ALICE", "ALICE", "alice"),
            (" Ａlice ", "Alice", "alice"),
            ("ｂｏｂ＠ｅｘａｍｐｌｅ", "bob@example", "bob@example"),
            ("Ｓｕｐｐｏｒｔ", "Support", "support"),
            ("ﬁnance", "finance", "finance"),
        ];
        for (input, normal, key) in cases {
            assert_eq!(normalize_name(input), normal, "{input:?}");
            assert_eq!(name_key(input), key, "{input:?}");
        }
        assert_eq!(username("ａｌｉｃｅ").unwrap(), "alice");
        assert_eq!(role_name(" Ｓｕｐｐｏｒｔ ").unwrap(), "Support");
        assert!(
            username("ａ　ｂ").is_err(),
            "an ideographic space is a space"
        );
    }

    #[test]
    fn password_table() {
        assert!(password("12345678").is_ok());
        assert!(password("1234567").is_err());
        assert!(password(&"x".repeat(1025)).is_err());
        assert!(password(&"x".repeat(1024)).is_ok());
    }

    #[test]
    fn role_name_and_description_table() {
        assert_eq!(role_name(" Support ").unwrap(), "Support");
        assert!(role_name("").is_err());
        assert!(role_name(&"r".repeat(65)).is_err());
        assert!(role_name("a\tb").is_err());
        assert_eq!(description("").unwrap(), "");
        assert_eq!(description(&"d".repeat(255)).unwrap().len(), 255);
        assert!(description(&"d".repeat(256)).is_err());
        assert!(description("line\nbreak").is_err());
    }

    #[test]
    fn imported_token_table() {
        assert!(imported_token("identifier", "abcDEF123").is_ok());
        assert!(imported_token("identifier", "").is_err());
        assert!(imported_token("identifier", "a b").is_err());
        assert!(imported_token("secret", &"x".repeat(129)).is_err());
    }
}
