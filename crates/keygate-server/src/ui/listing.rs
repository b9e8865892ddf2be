//! Searching, filtering, natural ordering and paging of the API Roles and
//! API Credentials tabs, driven by the query string and done in the store
//! (issue 12: lists that scale): a tab asks for one page and its count,
//! never for the whole table. The rules themselves (natural order, when a
//! credential counts as unused) live in [`keygate_core::listing`], which
//! the database's sort keys and filters follow too.

use keygate_store::{CredentialQuery, CredentialSort, CredentialState, RoleQuery};

use super::page::{ApiCredentialsPage, SortKey, PAGE_SIZE};
use super::render::UiError;
use super::time::now_secs;
use super::views::{CredentialRow, RoleRow, Standing};
use crate::AppState;

pub use keygate_core::listing::natural_cmp;

/// Roles per page of the roles table.
pub const ROLE_PAGE_SIZE: usize = 25;

/// Roles no credential holds named by the credentials tab's notice; the
/// rest are counted.
pub const UNHELD_SHOWN: u32 = 5;

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
    /// Not used for 90 days (or never, and created that long ago).
    Unused,
}

impl StateFilter {
    /// Parses the `state` parameter; anything unknown is [`StateFilter::All`].
    pub fn parse(text: &str) -> Self {
        match text {
            "enabled" => Self::Enabled,
            "disabled" => Self::Disabled,
            "expired" => Self::Expired,
            "unused" => Self::Unused,
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
            Self::Unused => "unused",
        }
    }

    /// The store's state filter.
    fn state(self) -> Option<CredentialState> {
        match self {
            Self::All => None,
            Self::Enabled => Some(CredentialState::Enabled),
            Self::Disabled => Some(CredentialState::Disabled),
            Self::Expired => Some(CredentialState::Expired),
            Self::Unused => Some(CredentialState::Unused),
        }
    }
}

/// The store's order for a sort column.
fn store_sort(key: SortKey) -> CredentialSort {
    match key {
        SortKey::Identifier => CredentialSort::Identifier,
        SortKey::Admin => CredentialSort::Admin,
        SortKey::LastAccess => CredentialSort::LastAccess,
        SortKey::Created => CredentialSort::Created,
    }
}

/// Where a page lies in a list of `total` rows, `size` per page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The 1-based page (clamped to the pages there are).
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
    /// Rows to skip.
    pub offset: usize,
}

impl Window {
    /// Page `page` (1-based, clamped) of `total` rows.
    pub fn new(page: usize, total: usize, size: usize) -> Self {
        let pages = total.div_ceil(size).max(1);
        let page = page.clamp(1, pages);
        Self {
            page,
            pages,
            offset: (page - 1) * size,
        }
    }

    /// 1-based index of the first of `shown` rows (0 when none), and of
    /// the last.
    pub fn range(self, shown: usize) -> (usize, usize) {
        let first = if shown == 0 { 0 } else { self.offset + 1 };
        (first, self.offset + shown)
    }
}

/// Roles no credential holds, as the credentials tab's notice names them.
pub struct UnheldRoles {
    /// The first few names, in natural order, with a link to each on the
    /// roles tab.
    pub shown: Vec<(String, String)>,
    /// How many are not named.
    pub more: u64,
    /// How many there are.
    pub total: u64,
}

impl UnheldRoles {
    /// "1 API role is" / "3 API roles are".
    pub fn heading(&self) -> String {
        if self.total == 1 {
            "1 API role is held by no credential:".to_string()
        } else {
            format!("{} API roles are held by no credential:", self.total)
        }
    }
}

/// The URL of the roles tab searching for `name`.
fn role_search_url(name: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("tab", "roles")
        .append_pair("q", name)
        .finish();
    format!("/admin/api-credentials?{query}")
}

/// The roles tab's rows: searched and paged in the store, in natural
/// order of the names.
pub async fn fill_roles(state: &AppState, page: &mut ApiCredentialsPage) -> Result<(), UiError> {
    let list = &mut page.list;
    let mut query = RoleQuery {
        search: list.q.clone(),
        unheld: list.unheld,
        limit: ROLE_PAGE_SIZE as u32,
        ..RoleQuery::default()
    };
    let mut window = Window::new(list.page, usize::MAX, ROLE_PAGE_SIZE);
    query.offset = window.offset as u64;
    let mut found = state.manager.roles_page(&query).await?;
    let total = usize::try_from(found.total).unwrap_or(usize::MAX);
    let clamped = Window::new(list.page, total, ROLE_PAGE_SIZE);
    window.pages = clamped.pages;
    if clamped.page != window.page {
        // Past the last page: show the last one instead.
        window = clamped;
        query.offset = window.offset as u64;
        found = state.manager.roles_page(&query).await?;
    }
    let usage = state.manager.role_usage().await?;
    let catalog = state.manager.catalog();
    list.page = window.page;
    (page.total, page.pages) = (total, window.pages);
    (page.first, page.last) = window.range(found.roles.len());
    page.roles = found
        .roles
        .iter()
        .map(|r| {
            let used_by = usage.get(&r.id).copied().unwrap_or(0);
            RoleRow::new(r, &catalog, list.view == Some(r.id.0), used_by)
        })
        .collect();
    Ok(())
}

/// The credentials tab's rows: searched, filtered, sorted, counted and
/// paged in the store (the page holding the highlighted credential when
/// there is one), and the roles no credential holds.
pub async fn fill_credentials(
    state: &AppState,
    page: &mut ApiCredentialsPage,
) -> Result<(), UiError> {
    let now = now_secs();
    let list = &mut page.list;
    let mut query = CredentialQuery {
        search: list.q.clone(),
        state: list.state.state(),
        now,
        sort: store_sort(list.sort),
        desc: list.desc,
        limit: PAGE_SIZE as u32,
        ..CredentialQuery::default()
    };
    if let Some(hl) = list.highlight.as_deref() {
        if let Some(at) = state.manager.credential_position(&query, hl).await? {
            list.page = usize::try_from(at).unwrap_or(usize::MAX) / PAGE_SIZE + 1;
        }
    }
    let mut window = Window::new(list.page, usize::MAX, PAGE_SIZE);
    query.offset = window.offset as u64;
    let mut found = state.manager.credentials_page(&query).await?;
    let total = usize::try_from(found.total).unwrap_or(usize::MAX);
    let clamped = Window::new(list.page, total, PAGE_SIZE);
    window.pages = clamped.pages;
    if clamped.page != window.page {
        window = clamped;
        query.offset = window.offset as u64;
        found = state.manager.credentials_page(&query).await?;
    }
    // Admins and roles decide whether a credential can work at all; both
    // lists are short beside the credentials.
    let admins = state.manager.list_admins().await?;
    let roles = state.manager.list_roles().await?;
    let standing = Standing::new(&admins, &roles, &state.manager.catalog());
    list.page = window.page;
    (page.total, page.pages) = (total, window.pages);
    (page.first, page.last) = window.range(found.credentials.len());
    let describe = list.describe.as_deref();
    page.credentials = found
        .credentials
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let describing = describe == Some(c.identifier.as_str());
            CredentialRow::new(c, window.offset + i, describing, now, &standing)
        })
        .collect();
    page.unheld = unheld_roles(state).await?;
    Ok(())
}

/// The roles no credential holds (`None` when every role is held).
async fn unheld_roles(state: &AppState) -> Result<Option<UnheldRoles>, UiError> {
    let found = state.manager.unheld_roles(UNHELD_SHOWN).await?;
    if found.total == 0 {
        return Ok(None);
    }
    Ok(Some(UnheldRoles {
        more: found.total.saturating_sub(found.roles.len() as u64),
        total: found.total,
        shown: found
            .roles
            .iter()
            .map(|r| (r.name.clone(), role_search_url(&r.name)))
            .collect(),
    }))
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
        let window = Window::new(9, 60, 25);
        assert_eq!((window.page, window.pages, window.offset), (3, 3, 50));
        assert_eq!(window.range(10), (51, 60));
        let empty = Window::new(0, 0, 25);
        assert_eq!((empty.page, empty.pages, empty.range(0)), (1, 1, (0, 0)));
        let unknown = Window::new(4, usize::MAX, 25);
        assert_eq!(unknown.offset, 75, "before the count is known");
    }

    #[test]
    fn state_parameters_round_trip() {
        for state in ["", "enabled", "disabled", "expired", "unused"] {
            assert_eq!(StateFilter::parse(state).as_str(), state);
        }
        assert_eq!(StateFilter::parse("bogus"), StateFilter::All);
    }

    #[test]
    fn unheld_notice_names_links_safely() {
        assert_eq!(
            role_search_url("a&b c"),
            "/admin/api-credentials?tab=roles&q=a%26b+c"
        );
        let one = UnheldRoles {
            shown: vec![],
            more: 0,
            total: 1,
        };
        assert_eq!(one.heading(), "1 API role is held by no credential:");
    }
}
