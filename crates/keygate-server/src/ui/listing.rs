//! Searching, filtering, natural ordering and paging of the API Roles and
//! API Credentials lists (all server-side, driven by the query string).

use std::cmp::Ordering;

use keygate_core::model::{Credential, Role};

/// Roles per page of the roles table.
pub const ROLE_PAGE_SIZE: usize = 25;

/// The credentials state filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateFilter {
    /// Every credential (the default).
    #[default]
    All,
    /// Enabled and not expired.
    Enabled,
    /// Disabled.
    Disabled,
    /// Enabled but past its expiry.
    Expired,
}

impl StateFilter {
    /// Parses the `state` parameter; anything unknown is [`StateFilter::All`].
    pub fn parse(text: &str) -> Self {
        match text {
            "enabled" => Self::Enabled,
            "disabled" => Self::Disabled,
            "expired" => Self::Expired,
            _ => Self::All,
        }
    }

    /// The parameter value ("" for all).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "",
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
        }
    }

    /// Whether `credential` passes at `now`.
    pub fn admits(self, credential: &Credential, now: i64) -> bool {
        let lifecycle = &credential.lifecycle;
        match self {
            Self::All => true,
            Self::Enabled => lifecycle.enabled && !lifecycle.expired_at(now),
            Self::Disabled => !lifecycle.enabled,
            Self::Expired => lifecycle.enabled && lifecycle.expired_at(now),
        }
    }
}

/// Whether the credential matches the search text (identifier,
/// description, admin, role name or client id; case-insensitive).
pub fn credential_matches(credential: &Credential, needle: &str) -> bool {
    let needle = needle.trim().to_lowercase();
    if needle.is_empty() {
        return true;
    }
    let has = |text: &str| text.to_lowercase().contains(&needle);
    has(&credential.identifier)
        || has(&credential.description)
        || has(&credential.admin)
        || credential.roles.iter().any(|r| has(&r.name))
        || credential
            .lifecycle
            .client_ids
            .iter()
            .any(|id| id.0.to_string() == needle.trim_start_matches('#'))
}

/// Whether the role matches the search text (name or description).
pub fn role_matches(role: &Role, needle: &str) -> bool {
    let needle = needle.trim().to_lowercase();
    needle.is_empty()
        || role.name.to_lowercase().contains(&needle)
        || role.description.to_lowercase().contains(&needle)
}

/// Natural order: case-insensitive, runs of digits compared as numbers
/// ("Role 2" before "Role 10").
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let order = compare_numbers(&digits(&mut x), &digits(&mut y));
                if order != Ordering::Equal {
                    return order;
                }
            }
            (Some(c), Some(d)) => {
                let order = c.to_lowercase().cmp(d.to_lowercase());
                if order != Ordering::Equal {
                    return order;
                }
                x.next();
                y.next();
            }
        }
    }
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut run = String::new();
    while let Some(c) = chars.next_if(char::is_ascii_digit) {
        run.push(c);
    }
    run
}

fn compare_numbers(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Roles in natural order of their names.
pub fn sort_roles(roles: &mut [Role]) {
    roles.sort_by(|a, b| natural_cmp(&a.name, &b.name));
}

/// One page of a list.
pub struct Paged<T> {
    /// The rows of the page, with their index in the whole list.
    pub rows: Vec<(usize, T)>,
    /// The 1-based page shown (clamped to the pages there are).
    pub page: usize,
    /// Rows in all.
    pub total: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
    /// 1-based index of the first row shown (0 when none).
    pub first: usize,
    /// Index of the last row shown.
    pub last: usize,
}

/// Page `page` (1-based, clamped) of `items`, `size` per page.
pub fn paginate<T>(items: Vec<T>, page: usize, size: usize) -> Paged<T> {
    let total = items.len();
    let pages = total.div_ceil(size).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * size;
    let rows: Vec<(usize, T)> = items
        .into_iter()
        .enumerate()
        .skip(start)
        .take(size)
        .collect();
    let first = if rows.is_empty() { 0 } else { start + 1 };
    Paged {
        page,
        total,
        pages,
        first,
        last: start + rows.len(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec!["Role 10", "role 2", "Role 1", "Alpha", "Role 02b"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["Alpha", "Role 1", "role 2", "Role 02b", "Role 10"]);
    }

    #[test]
    fn paging_clamps() {
        let paged = paginate((0..60).collect(), 9, 25);
        assert_eq!(
            (paged.page, paged.pages, paged.first, paged.last),
            (3, 3, 51, 60)
        );
        let empty = paginate(Vec::<u8>::new(), 0, 25);
        assert_eq!((empty.page, empty.pages, empty.first), (1, 1, 0));
    }
}
