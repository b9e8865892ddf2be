//! The API Credentials screen (`/admin/api-credentials`): the API Roles and
//! API Credentials tabs, and whichever dialog is open on top of them.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

use super::extract::Authed;
use super::form::FormData;
use super::lifecycle::LifecycleForm;
use super::listing::{self, StateFilter, UnheldRoles};
use super::render::{html, Chrome, UiResult};
use super::session::Session;
use super::time::Stamp;
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
        matches!(self, Self::LastAccess | Self::Created)
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
    /// Search text (`q`).
    pub q: String,
    /// Credentials state filter (`state`).
    pub state: StateFilter,
    /// Credential to show and highlight (`hl`): its page is shown.
    pub highlight: Option<String>,
    /// Roles tab: only the roles no credential holds (`unheld=1`).
    pub unheld: bool,
}

impl ListQuery {
    /// Parses a raw query string leniently.
    pub fn parse(raw: Option<&str>) -> Self {
        let form = FormData::parse(raw.unwrap_or("").as_bytes());
        let sort = SortKey::parse(form.get("sort")).unwrap_or(SortKey::Created);
        let credentials = form.get("tab") == "credentials";
        Self {
            credentials,
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
            q: form.get("q").trim().chars().take(200).collect(),
            state: StateFilter::parse(form.get("state")),
            highlight: form.has("hl").then(|| form.get("hl").to_string()),
            unheld: !credentials && form.get("unheld") == "1",
        }
    }

    /// The list state a form's `return` field (or a query's) names; only
    /// this screen's own URLs count, and the URL is rebuilt from the parsed
    /// state, so it cannot lead anywhere else.
    pub fn from_return(raw: &str, credentials: bool) -> Self {
        let mut list = match raw.strip_prefix("/admin/api-credentials?") {
            Some(query) => Self::parse(Some(query)),
            None => Self::tab(credentials),
        };
        if list.credentials != credentials {
            list = Self::tab(credentials);
        }
        list.view = None;
        list.describe = None;
        list.highlight = None;
        list
    }

    /// The query parameters of this list state, defaults left out.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let tab = if self.credentials {
            "credentials"
        } else {
            "roles"
        };
        let mut params = vec![("tab", tab.to_string())];
        if self.credentials && self.sort != SortKey::Created {
            params.push(("sort", self.sort.as_str().to_string()));
        }
        if self.credentials && self.desc != self.sort.default_desc() {
            params.push(("dir", if self.desc { "desc" } else { "asc" }.to_string()));
        }
        if self.page > 1 {
            params.push(("page", self.page.to_string()));
        }
        if !self.q.is_empty() {
            params.push(("q", self.q.clone()));
        }
        if self.credentials && self.state != StateFilter::All {
            params.push(("state", self.state.as_str().to_string()));
        }
        if !self.credentials && self.unheld {
            params.push(("unheld", "1".to_string()));
        }
        params
    }

    /// The URL of this list state (where actions return to).
    pub fn url(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in self.params() {
            query.append_pair(key, &value);
        }
        format!("/admin/api-credentials?{}", query.finish())
    }

    /// Whether a search or a state filter narrows the list.
    pub fn is_filtered(&self) -> bool {
        !self.q.is_empty() || self.state != StateFilter::All || self.unheld
    }

    /// The URL of page `page` of this list state.
    pub fn page_url(&self, page: usize) -> String {
        let mut list = self.clone();
        list.page = page;
        list.url()
    }

    /// The tab alone.
    pub fn tab(credentials: bool) -> Self {
        let url = if credentials {
            CREDENTIALS_URL
        } else {
            ROLES_URL
        };
        Self::parse(url.split_once('?').map(|(_, query)| query))
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

impl GenerateForm {
    /// Whether the selected admin is disabled (the credential would be
    /// refused until it is enabled).
    pub fn admin_disabled(&self) -> bool {
        self.admins.iter().any(|a| a.checked && a.warn)
    }
}

/// The dialog that edits a credential's roles and lifecycle.
pub struct EditCredentialForm {
    /// The credential.
    pub identifier: String,
    /// Its description (an editable field, saved with the rest).
    pub description: String,
    /// Owner, status and effective actions, as stored.
    pub overview: super::overview::CredentialOverview,
    /// Role choices (a role that allows no action is marked).
    pub roles: Vec<Choice>,
    /// Expiry, allowlist, rate limit.
    pub lifecycle: LifecycleForm,
    /// Validation message.
    pub error: Option<String>,
}

impl EditCredentialForm {
    /// Whether no ticked role allows an action: every call would be refused.
    pub fn no_actions(&self) -> bool {
        !self.roles.iter().any(|r| r.checked && !r.warn)
    }
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
    /// The owning admin, when it is disabled: the credential is refused
    /// until that admin is enabled again.
    pub admin_disabled: Option<String>,
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
    /// Credentials tab: the roles no credential holds, if any.
    pub unheld: Option<UnheldRoles>,
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
        let mut list = self.list.clone();
        (list.sort, list.desc, list.page) = (key, desc, 1);
        list.url()
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
        self.list.page_url(page)
    }

    /// The list state as hidden fields (forms that lead back to it).
    pub fn list_fields(&self) -> Vec<(&'static str, String)> {
        self.list.params()
    }

    /// The sort order alone as hidden fields (the search form keeps it).
    pub fn order_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = self.list.params();
        fields.retain(|(key, _)| matches!(*key, "sort" | "dir"));
        fields
    }

    /// Whether the credential's row is the one to highlight.
    pub fn is_highlighted(&self, identifier: &str) -> bool {
        self.list.highlight.as_deref() == Some(identifier)
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
    let mut page = ApiCredentialsPage {
        chrome: Chrome::for_session(state, session, "API Credentials", "credentials").await,
        csrf: session.csrf.clone(),
        roles: Vec::new(),
        credentials: Vec::new(),
        total: 0,
        pages: 1,
        first: 0,
        last: 0,
        default_rate: state.config().rate_limit.default.map(|r| r.to_string()),
        unheld: None,
        dialog,
        list,
    };
    if page.list.credentials {
        listing::fill_credentials(state, &mut page).await?;
    } else {
        listing::fill_roles(state, &mut page).await?;
    }
    Ok(html(status, &page))
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

    #[test]
    fn return_urls_are_rebuilt_from_the_list_state() {
        let back = "/admin/api-credentials?tab=credentials&sort=admin&page=3&q=a+b&state=expired";
        let list = ListQuery::from_return(back, true);
        assert_eq!(list.url(), back);
        assert!(ListQuery::tab(true).desc, "created: newest first");
        for bad in ["https://evil.example/", "//evil.example", "/admin/../x", ""] {
            assert_eq!(ListQuery::from_return(bad, true).url(), CREDENTIALS_URL);
            assert_eq!(ListQuery::from_return(bad, false).url(), ROLES_URL);
        }
        let roles = ListQuery::from_return("/admin/api-credentials?tab=roles&page=2&q=x", false);
        assert_eq!(roles.url(), "/admin/api-credentials?tab=roles&page=2&q=x");
    }
}
