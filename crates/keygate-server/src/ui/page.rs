//! The API Credentials screen (`/admin/api-credentials`): the API Roles and
//! API Credentials tabs, and whichever dialog is open on top of them.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use keygate_core::model::Credential;

use super::extract::Authed;
use super::form::FormData;
use super::lifecycle::LifecycleForm;
use super::render::{html, Chrome, UiResult};
use super::session::Session;
use super::time::{now_secs, Stamp};
use super::views::{Choice, Confirm, CredentialRow, Picker, RoleRow};
use crate::AppState;

/// Credentials per page of the table.
pub const PAGE_SIZE: usize = 50;
/// The roles tab.
pub const ROLES_URL: &str = "/admin/api-credentials?tab=roles";
/// The credentials tab.
pub const CREDENTIALS_URL: &str = "/admin/api-credentials?tab=credentials";

/// Columns the credentials table sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Identifier, A to Z.
    Identifier,
    /// Owning admin.
    Admin,
    /// Last access (never used sorts as oldest).
    LastAccess,
    /// Creation time (the default).
    Created,
}

impl SortKey {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "identifier" => Self::Identifier,
            "admin" => Self::Admin,
            "last_access" => Self::LastAccess,
            "created" => Self::Created,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Identifier => "identifier",
            Self::Admin => "admin",
            Self::LastAccess => "last_access",
            Self::Created => "created",
        }
    }

    /// Times read best newest first; names A to Z.
    fn default_desc(self) -> bool {
        matches!(self, Self::LastAccess)
    }
}

/// What the query string asks for; anything unknown falls back to defaults.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// The credentials tab rather than the roles tab.
    pub credentials: bool,
    /// Sort column.
    pub sort: SortKey,
    /// Descending.
    pub desc: bool,
    /// 1-based page.
    pub page: usize,
    /// Role whose permissions are expanded (no-script "View").
    pub view: Option<i64>,
    /// Credential whose description form is open (no-script in-place edit).
    pub describe: Option<String>,
}

impl ListQuery {
    /// Parses a raw query string leniently.
    pub fn parse(raw: Option<&str>) -> Self {
        let form = FormData::parse(raw.unwrap_or("").as_bytes());
        let sort = SortKey::parse(form.get("sort")).unwrap_or(SortKey::Created);
        Self {
            credentials: form.get("tab") == "credentials",
            sort,
            desc: match form.get("dir") {
                "asc" => false,
                "desc" => true,
                _ => sort.default_desc(),
            },
            page: form.get("page").parse().unwrap_or(1).max(1),
            view: form.get("view").parse().ok(),
            describe: form
                .has("describe")
                .then(|| form.get("describe").to_string()),
        }
    }

    /// The tab alone.
    pub fn tab(credentials: bool) -> Self {
        let tab = if credentials {
            "tab=credentials"
        } else {
            "tab=roles"
        };
        Self::parse(Some(tab))
    }
}

/// The Create/Edit API Role dialog.
pub struct RoleForm {
    /// "Create API Role" or "Edit API Role".
    pub heading: &'static str,
    /// Where the form posts.
    pub action: String,
    /// Name field.
    pub name: String,
    /// Description field.
    pub description: String,
    /// Permissions.
    pub picker: Picker,
    /// Validation message.
    pub error: Option<String>,
}

/// The Generate New API Credential dialog.
pub struct GenerateForm {
    /// Admin choices.
    pub admins: Vec<Choice>,
    /// Description field.
    pub description: String,
    /// Role choices (empty: a role must be created first).
    pub roles: Vec<Choice>,
    /// Expiry, allowlist, rate limit.
    pub lifecycle: LifecycleForm,
    /// Validation message.
    pub error: Option<String>,
}

/// The dialog that edits a credential's roles and lifecycle.
pub struct EditCredentialForm {
    /// The credential.
    pub identifier: String,
    /// Its description (shown, not edited here).
    pub description: String,
    /// Role choices.
    pub roles: Vec<Choice>,
    /// Expiry, allowlist, rate limit.
    pub lifecycle: LifecycleForm,
    /// Validation message.
    pub error: Option<String>,
}

/// The Rotate dialog: how long the old secret keeps working.
pub struct RotateForm {
    /// The credential.
    pub identifier: String,
    /// Its description.
    pub description: String,
    /// Overlap choices (one checked).
    pub overlaps: Vec<Choice>,
    /// An earlier rotation's old secret, still working until then: it
    /// stops at once when the credential is rotated again.
    pub pending: Option<Stamp>,
    /// Validation message.
    pub error: Option<String>,
}

/// A freshly generated (or rotated) credential's secret, shown once.
pub struct SecretView {
    /// Identifier.
    pub identifier: String,
    /// Secret.
    pub secret: String,
    /// A rotation rather than a new credential.
    pub rotated: bool,
    /// After a rotation: when the old secret stops (`None`: it already has).
    pub old_until: Option<Stamp>,
}

/// The dialog open on the screen.
pub enum Dialog {
    /// None.
    None,
    /// Create or edit a role.
    RoleForm(RoleForm),
    /// Generate a credential.
    Generate(GenerateForm),
    /// The new secret.
    Secret(SecretView),
    /// Edit a credential's roles and lifecycle.
    EditCredential(EditCredentialForm),
    /// Rotate a credential's secret.
    Rotate(RotateForm),
    /// Confirm a delete.
    Confirm(Confirm),
}

/// The whole screen.
#[derive(Template)]
#[template(path = "api_credentials.html")]
pub struct ApiCredentialsPage {
    /// Layout.
    pub chrome: Chrome,
    /// CSRF token for the forms.
    pub csrf: String,
    /// What was asked for.
    pub list: ListQuery,
    /// Rows of the roles tab.
    pub roles: Vec<RoleRow>,
    /// Rows of the credentials tab (this page of them).
    pub credentials: Vec<CredentialRow>,
    /// Credentials in all.
    pub total: usize,
    /// Pages in all.
    pub pages: usize,
    /// Index of the first row shown, 1-based (0 when none).
    pub first: usize,
    /// Index of the last row shown.
    pub last: usize,
    /// The configured default rate limit, if any.
    pub default_rate: Option<String>,
    /// The open dialog.
    pub dialog: Dialog,
}

impl ApiCredentialsPage {
    /// Link that sorts by `key` (toggling the direction if already sorted by it).
    pub fn sort_href(&self, key: &str) -> String {
        let key = SortKey::parse(key).unwrap_or(SortKey::Created);
        let desc = if key == self.list.sort {
            !self.list.desc
        } else {
            key.default_desc()
        };
        let dir = if desc { "desc" } else { "asc" };
        format!("{CREDENTIALS_URL}&sort={}&dir={dir}", key.as_str())
    }

    /// `aria-sort` of the column `key`.
    pub fn aria_sort(&self, key: &str) -> &'static str {
        match SortKey::parse(key) {
            Some(k) if k == self.list.sort && self.list.desc => "descending",
            Some(k) if k == self.list.sort => "ascending",
            _ => "none",
        }
    }

    /// Arrow after a sorted column's heading.
    pub fn sort_mark(&self, key: &str) -> &'static str {
        match self.aria_sort(key) {
            "descending" => "▼",
            "ascending" => "▲",
            _ => "",
        }
    }

    /// Link to page `page` in the current order.
    pub fn page_href(&self, page: usize) -> String {
        let dir = if self.list.desc { "desc" } else { "asc" };
        format!(
            "{CREDENTIALS_URL}&sort={}&dir={dir}&page={page}",
            self.list.sort.as_str()
        )
    }
}

/// `GET /admin/api-credentials`.
pub async fn show(
    State(state): State<AppState>,
    Authed(session): Authed,
    RawQuery(query): RawQuery,
) -> UiResult {
    let list = ListQuery::parse(query.as_deref());
    render(&state, &session, list, Dialog::None, StatusCode::OK).await
}

/// Renders the screen with `dialog` open.
pub async fn render(
    state: &AppState,
    session: &Session,
    list: ListQuery,
    dialog: Dialog,
    status: StatusCode,
) -> UiResult {
    let catalog = state.manager.catalog();
    let mut page = ApiCredentialsPage {
        chrome: Chrome::for_session(state, session, "API Credentials", "credentials"),
        csrf: session.csrf.clone(),
        roles: Vec::new(),
        credentials: Vec::new(),
        total: 0,
        pages: 1,
        first: 0,
        last: 0,
        default_rate: state.config().rate_limit.default.map(|r| r.to_string()),
        dialog,
        list,
    };
    if page.list.credentials {
        let mut all = state.manager.list_credentials(None).await?;
        sort(&mut all, page.list.sort, page.list.desc);
        page.total = all.len();
        page.pages = all.len().div_ceil(PAGE_SIZE).max(1);
        page.list.page = page.list.page.min(page.pages);
        let start = (page.list.page - 1) * PAGE_SIZE;
        let describe = page.list.describe.clone();
        let now = now_secs();
        page.credentials = all
            .iter()
            .enumerate()
            .skip(start)
            .take(PAGE_SIZE)
            .map(|(i, c)| {
                let describing = describe.as_deref() == Some(c.identifier.as_str());
                CredentialRow::new(c, i, describing, now)
            })
            .collect();
        page.first = if page.credentials.is_empty() {
            0
        } else {
            start + 1
        };
        page.last = start + page.credentials.len();
    } else {
        let roles = state.manager.list_roles().await?;
        page.roles = roles
            .iter()
            .map(|r| RoleRow::new(r, &catalog, page.list.view == Some(r.id.0)))
            .collect();
    }
    Ok(html(status, &page))
}

fn sort(credentials: &mut [Credential], key: SortKey, desc: bool) {
    match key {
        SortKey::Identifier => credentials.sort_by(|a, b| a.identifier.cmp(&b.identifier)),
        SortKey::Admin => credentials.sort_by(|a, b| a.admin.cmp(&b.admin)),
        SortKey::LastAccess => credentials.sort_by_key(|c| c.last_access),
        SortKey::Created => credentials.sort_by_key(|c| (c.created_at, c.id)),
    }
    if desc {
        credentials.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing_is_lenient() {
        let q = ListQuery::parse(Some("tab=credentials&sort=last_access&page=x&view=7"));
        assert!(q.credentials);
        assert_eq!(q.sort, SortKey::LastAccess);
        assert!(q.desc, "last access defaults to newest first");
        assert_eq!(q.page, 1);
        assert_eq!(q.view, Some(7));
        let q = ListQuery::parse(Some("tab=%ZZ&sort=nonsense&dir=asc&page=0"));
        assert!(!q.credentials);
        assert_eq!(q.sort, SortKey::Created);
        assert_eq!(q.page, 1);
        assert!(ListQuery::parse(None).describe.is_none());
    }
}
