//! Rules the admin lists share between the database and the UI, kept in
//! one place so the SQL order and the order shown in memory cannot drift:
//! the natural sort key of names and descriptions, and when a credential
//! counts as unused.

use std::cmp::Ordering;

/// A credential unused for this long (seconds: 90 days) is flagged.
pub const UNUSED_AFTER_SECS: i64 = 90 * 24 * 60 * 60;

/// Digits the length prefix of a digit run takes: enough for any run a
/// validated name or description can hold (at most 255 characters).
const LENGTH_WIDTH: usize = 3;

/// The natural sort key of `text`: lowercase (Unicode), and every run of
/// ASCII digits written as its length without leading zeros, zero-padded
/// to a fixed width of three digits, followed by those digits. Comparing
/// keys byte for byte (SQLite's `BINARY`, PostgreSQL's `"C"`, Rust's `str`
/// order) then compares digit runs as numbers, so "Role 2" (`role 0012`)
/// sorts before "Role 10" (`role 00210`), and ignores case.
///
/// The length prefix, rather than padding the digits themselves, keeps the
/// order exact for runs of any length (a padded width would overflow on a
/// 30-digit run). Equal keys ("Role 02" and "role 2") are told apart by
/// [`natural_cmp`] with the text itself.
pub fn sort_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut run = String::from(c);
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                run.push(d);
            }
            let digits = run.trim_start_matches('0');
            // Longer runs than the prefix can count (none validated) still
            // sort after every shorter one.
            let length = digits.len().min(10usize.pow(LENGTH_WIDTH as u32) - 1);
            key.push_str(&format!("{length:0LENGTH_WIDTH$}"));
            key.push_str(digits);
        } else {
            key.extend(c.to_lowercase());
        }
    }
    key
}

/// Natural order: by [`sort_key`], then by the text itself so the order is
/// total ("Role 1" before "role 1"). The database sorts the same way:
/// `ORDER BY sort_key, name`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    sort_key(a).cmp(&sort_key(b)).then_with(|| a.cmp(b))
}

/// Lowercase text a search matches against (Unicode, as the UI lowercases
/// the search words), stored beside descriptions so both databases match
/// alike whatever their locale.
pub fn search_key(text: &str) -> String {
    text.to_lowercase()
}

/// Whether a credential created at `created_at` and last used at
/// `last_access` (unix seconds) counts as unused at `now`: never used and
/// created more than [`UNUSED_AFTER_SECS`] ago, or last used more than
/// that long ago. The database filter is the same condition.
pub fn is_unused(created_at: i64, last_access: Option<i64>, now: i64) -> bool {
    last_access.unwrap_or(created_at) < now.saturating_sub(UNUSED_AFTER_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_key_table() {
        for (text, key) in [
            ("", ""),
            ("Role 2", "role 0012"),
            ("Role 10", "role 00210"),
            ("role 02", "role 0012"),
            ("a0", "a000"),
            ("v1.10.3", "v0011.00210.0013"),
            ("ÄBC 7", "äbc 0017"),
            ("ΣΑΣ", "σασ"),
            ("x٣", "x٣"), // not an ASCII digit: kept as a character
            ("12345678901234567890123", "02312345678901234567890123"),
        ] {
            assert_eq!(sort_key(text), key, "{text:?}");
        }
    }

    #[test]
    fn natural_order_table() {
        let mut names = vec![
            "Role 10",
            "role 2",
            "Role 1",
            "Alpha",
            "Role 02b",
            "role 1",
            "Role 02",
            "Zeta",
            "Émile",
            "alpha 3",
            "Role",
            "Role 99999999999999999999999",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "Alpha",
                "alpha 3",
                "Role",
                "Role 1",
                "role 1",
                "Role 02",
                "role 2",
                "Role 02b",
                "Role 10",
                "Role 99999999999999999999999",
                "Zeta",
                "Émile",
            ]
        );
    }

    #[test]
    fn digits_compare_with_other_characters_as_digits_do() {
        // A digit run's key starts with a digit, so against any other
        // character it sorts where a digit would.
        assert_eq!(natural_cmp("a5", "a!"), Ordering::Greater);
        assert_eq!(natural_cmp("a5", "a:"), Ordering::Less);
        assert_eq!(natural_cmp("a", "a0"), Ordering::Less);
    }

    #[test]
    fn unused_after_ninety_days() {
        let now = 1_000 * UNUSED_AFTER_SECS;
        let old = now - UNUSED_AFTER_SECS - 1;
        assert!(is_unused(old, None, now), "never used, created long ago");
        assert!(!is_unused(now - 10, None, now), "new and never used");
        assert!(is_unused(old, Some(old), now), "last used long ago");
        assert!(!is_unused(old, Some(now - 5), now), "used lately");
        assert!(
            !is_unused(now - UNUSED_AFTER_SECS, None, now),
            "exactly 90 days"
        );
    }
}
