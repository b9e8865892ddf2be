//! How PHP turns a request variable's name into a place in `$_GET`,
//! `$_POST` and `$_REQUEST` (`php_register_variable_ex` in
//! `main/php_variables.c`, PHP 8; see `docs/security.md`):
//!
//! - a NUL byte ends the name;
//! - leading spaces are dropped;
//! - before the first `[`, spaces and dots become `_`;
//! - `[` opens an index that ends at the next `]`; one whitespace byte right
//!   after `[` followed by `]` (`a[ ]`) is an append like `a[]`;
//! - after `]`, only another `[` continues; anything else is ignored;
//! - a `[` without a `]` after it is not an index: at the first level it
//!   becomes `_` and the rest of the name is kept with spaces, dots and `[`
//!   as `_`; at a deeper level the name ends at the previous index;
//! - more than 64 levels (`max_input_nesting_level`) and PHP drops the
//!   variable *and* deletes any earlier one of the same base name;
//! - an empty name (after the above) is ignored.

use std::borrow::Cow;

/// PHP's default `max_input_nesting_level`.
pub const MAX_NESTING: usize = 64;

/// One step below the base name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// `[]`: the next integer index.
    Append,
    /// `[key]`: the key as written (PHP later reads decimal integers as
    /// integer keys).
    Key(&'a [u8]),
}

/// A name as PHP registers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhpName<'a> {
    /// The top-level variable name: borrowed from the raw name when PHP
    /// keeps it as it is (the common case), so parsing a plain name does
    /// not allocate.
    pub base: Cow<'a, [u8]>,
    /// Array indexes below it, outermost first; empty for a plain variable.
    pub path: Vec<Segment<'a>>,
}

/// What PHP does with one raw name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameParse<'a> {
    /// Registered at this place.
    Name(PhpName<'a>),
    /// Empty after canonicalization: PHP ignores the pair.
    Ignored,
    /// More than [`MAX_NESTING`] levels: PHP drops the pair and deletes the
    /// base variable. keygate refuses such requests.
    TooDeep,
}

/// Parses one decoded name the way PHP registers it.
pub fn parse(raw: &[u8]) -> NameParse<'_> {
    let raw = match raw.iter().position(|&b| b == 0) {
        Some(nul) => &raw[..nul],
        None => raw,
    };
    let start = raw.iter().position(|&b| b != b' ').unwrap_or(raw.len());
    let raw = &raw[start..];
    let bracket = raw.iter().position(|&b| b == b'[');
    let base_end = bracket.unwrap_or(raw.len());
    let base = mangled(&raw[..base_end]);
    if base.is_empty() {
        return NameParse::Ignored;
    }
    let Some(mut open) = bracket else {
        return NameParse::Name(PhpName {
            base,
            path: Vec::new(),
        });
    };
    let mut path = Vec::new();
    loop {
        if path.len() == MAX_NESTING {
            return NameParse::TooDeep;
        }
        let index_start = open + 1;
        let mut cursor = index_start;
        if raw.get(cursor).is_some_and(|&b| is_c_space(b)) {
            cursor += 1;
        }
        let close = if raw.get(cursor) == Some(&b']') {
            path.push(Segment::Append);
            cursor
        } else {
            match raw[cursor.min(raw.len())..].iter().position(|&b| b == b']') {
                Some(offset) => {
                    let close = cursor + offset;
                    path.push(Segment::Key(&raw[index_start..close]));
                    close
                }
                None if path.is_empty() => {
                    // Not an index: the `[` and the rest join the name.
                    let base = joined(&base, &raw[index_start..]);
                    return NameParse::Name(PhpName { base, path });
                }
                // Deeper: the value lands at the previous index.
                None => return NameParse::Name(PhpName { base, path }),
            }
        };
        match raw.get(close + 1) {
            Some(b'[') => open = close + 1,
            _ => return NameParse::Name(PhpName { base, path }),
        }
    }
}

/// The base before any `[`, spaces and dots as `_`: borrowed when there is
/// none to replace.
fn mangled(base: &[u8]) -> Cow<'_, [u8]> {
    if base.iter().any(|&b| underscore(b, false) != b) {
        Cow::Owned(base.iter().map(|&b| underscore(b, false)).collect())
    } else {
        Cow::Borrowed(base)
    }
}

/// `base`, the `_` an unmatched `[` becomes, and the rest of the name with
/// spaces, dots and `[` as `_`, in one buffer of the final size.
fn joined<'a>(base: &[u8], rest: &[u8]) -> Cow<'a, [u8]> {
    let mut out = Vec::with_capacity(base.len() + 1 + rest.len());
    out.extend_from_slice(base);
    out.push(b'_');
    out.extend(rest.iter().map(|&b| underscore(b, true)));
    Cow::Owned(out)
}

/// Spaces and dots (and, after an unmatched `[`, brackets) become `_`.
fn underscore(b: u8, bracket_too: bool) -> u8 {
    match b {
        b' ' | b'.' => b'_',
        b'[' if bracket_too => b'_',
        b => b,
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(raw: &str) -> String {
        match parse(raw.as_bytes()) {
            NameParse::Ignored => "ignored".into(),
            NameParse::TooDeep => "too deep".into(),
            NameParse::Name(name) => {
                let mut out = String::from_utf8_lossy(&name.base).into_owned();
                for segment in name.path {
                    match segment {
                        Segment::Append => out.push_str("[]"),
                        Segment::Key(key) => {
                            out.push('<');
                            out.push_str(&String::from_utf8_lossy(key));
                            out.push('>');
                        }
                    }
                }
                out
            }
        }
    }

    /// Every row was checked against PHP 8.2's `parse_str`.
    #[test]
    fn names_as_php_registers_them() {
        let cases = [
            ("action", "action"),
            (" action", "action"),
            ("   action", "action"),
            ("action\0x", "action"),
            ("\0action", "ignored"),
            ("act ion", "act_ion"),
            ("action.", "action_"),
            (" . a", "__a"),
            (".a", "_a"),
            ("", "ignored"),
            ("   ", "ignored"),
            ("[x]", "ignored"),
            ("action[]", "action[]"),
            ("action[x]", "action<x>"),
            ("action[", "action_"),
            ("a[b.c", "a_b_c"),
            ("a[ [x", "a___x"),
            ("a[\tb", "a_\tb"),
            ("a[ ]", "a[]"),
            ("a[\t]", "a[]"),
            ("a[  ]", "a<  >"),
            ("a[ x]", "a< x>"),
            ("a[[x]]", "a<[x>"),
            ("a[x]]", "a<x>"),
            ("a]", "a]"),
            ("a[b][c", "a<b>"),
            ("a[b]x[c]", "a<b>"),
            ("a[b][ ]", "a<b>[]"),
            ("x.y[a.b]", "x_y<a.b>"),
            ("a[\0b]", "a_"),
            ("a[b][c][]", "a<b><c>[]"),
        ];
        for (raw, expected) in cases {
            assert_eq!(show(raw), expected, "{raw:?}");
        }
    }

    /// A name PHP keeps as it is costs no copy; one it mangles is owned.
    #[test]
    fn plain_bases_are_borrowed() {
        let borrowed = |raw: &str| match parse(raw.as_bytes()) {
            NameParse::Name(name) => matches!(name.base, Cow::Borrowed(_)),
            other => panic!("{raw:?}: {other:?}"),
        };
        for raw in [
            "action",
            "  action",
            "action\0x",
            "a[b]",
            "a]",
            "5",
            "a[b][c",
        ] {
            assert!(borrowed(raw), "{raw:?}");
        }
        for raw in ["act ion", "action.", "action[", "a[b.c"] {
            assert!(!borrowed(raw), "{raw:?}");
        }
    }

    /// The parser before bases were borrowed: the base always copied.
    fn parse_copying(raw: &[u8]) -> Option<(Vec<u8>, Vec<Segment<'_>>)> {
        let raw = match raw.iter().position(|&b| b == 0) {
            Some(nul) => &raw[..nul],
            None => raw,
        };
        let start = raw.iter().position(|&b| b != b' ').unwrap_or(raw.len());
        let raw = &raw[start..];
        let bracket = raw.iter().position(|&b| b == b'[');
        let base_end = bracket.unwrap_or(raw.len());
        let mut base: Vec<u8> = raw[..base_end]
            .iter()
            .map(|&b| underscore(b, false))
            .collect();
        if base.is_empty() {
            return None;
        }
        let Some(mut open) = bracket else {
            return Some((base, Vec::new()));
        };
        let mut path = Vec::new();
        loop {
            if path.len() == MAX_NESTING {
                return None;
            }
            let index_start = open + 1;
            let mut cursor = index_start;
            if raw.get(cursor).is_some_and(|&b| is_c_space(b)) {
                cursor += 1;
            }
            let close = if raw.get(cursor) == Some(&b']') {
                path.push(Segment::Append);
                cursor
            } else {
                match raw[cursor.min(raw.len())..].iter().position(|&b| b == b']') {
                    Some(offset) => {
                        let close = cursor + offset;
                        path.push(Segment::Key(&raw[index_start..close]));
                        close
                    }
                    None if path.is_empty() => {
                        base.push(b'_');
                        base.extend(raw[index_start..].iter().map(|&b| underscore(b, true)));
                        return Some((base, path));
                    }
                    None => return Some((base, path)),
                }
            };
            match raw.get(close + 1) {
                Some(b'[') => open = close + 1,
                _ => return Some((base, path)),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Borrowing changes no name: the same base bytes and path as the
        /// copying parser, on names made of the bytes PHP treats apart.
        #[test]
        fn borrowed_bases_match_the_copying_parser(
            raw in proptest::collection::vec(
                proptest::sample::select(&b"aA5 .[]\0\t_-"[..]),
                0..24,
            )
        ) {
            let expected = parse_copying(&raw);
            match parse(&raw) {
                NameParse::Name(name) => {
                    let got = (name.base.into_owned(), name.path);
                    proptest::prop_assert_eq!(Some(got), expected);
                }
                NameParse::Ignored | NameParse::TooDeep => {
                    proptest::prop_assert_eq!(None, expected);
                }
            }
        }
    }

    #[test]
    fn nesting_limit() {
        let at_limit = format!("a{}", "[x]".repeat(MAX_NESTING));
        let beyond = format!("a{}", "[x]".repeat(MAX_NESTING + 1));
        let beyond_unmatched = format!("a{}[", "[x]".repeat(MAX_NESTING));
        assert!(
            matches!(parse(at_limit.as_bytes()), NameParse::Name(n) if n.path.len() == MAX_NESTING)
        );
        assert_eq!(parse(beyond.as_bytes()), NameParse::TooDeep);
        assert_eq!(parse(beyond_unmatched.as_bytes()), NameParse::TooDeep);
    }
}
