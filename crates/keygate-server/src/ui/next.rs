//! Where a login leads afterwards (issue 16, item 8): a deep link opened
//! while logged out, or the page a form was on when its session had ended,
//! travels through the login as a `next` parameter. Only relative paths
//! inside `/admin/` are accepted, so the login can never redirect to another
//! site (`//evil.example`, `https://evil.example`, `/admin/../x`).

use axum::http::{header, HeaderMap, Method, Uri};

/// Longest `next` kept, in bytes.
const MAX_NEXT: usize = 2048;

/// Why the login page is shown, as its `ended` parameter says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Not logged in before (a deep link).
    No,
    /// The session ended (expired, logged out elsewhere, server restart).
    Session,
    /// The session ended and a submitted form was not saved.
    Unsaved,
}

impl Ended {
    /// Reads the login page's `ended` parameter.
    pub fn parse(value: &str) -> Self {
        match value {
            "1" => Self::Session,
            "unsaved" => Self::Unsaved,
            _ => Self::No,
        }
    }

    fn param(self) -> Option<&'static str> {
        match self {
            Self::No => None,
            Self::Session => Some("1"),
            Self::Unsaved => Some("unsaved"),
        }
    }

    /// The notice the login page shows.
    pub fn notice(self) -> Option<&'static str> {
        match self {
            Self::No => None,
            Self::Session => Some("Your session has ended; sign in again."),
            Self::Unsaved => Some(
                "Your session has ended; sign in again. The change you submitted was not saved: \
                 after signing in you are back on the page, make it again there.",
            ),
        }
    }
}

/// `raw` if it is a safe place to go after login: a relative path inside
/// `/admin/` (query allowed), printable ASCII, no `//`, no backslash, no
/// dot segments, and not the login or logout itself.
pub fn safe_next(raw: &str) -> Option<String> {
    if raw.len() > MAX_NEXT || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let path = raw.split(['?', '#']).next().unwrap_or("");
    if !(path == "/admin" || path.starts_with("/admin/")) {
        return None;
    }
    if raw.contains('\\') || path.contains("//") || path.split('/').any(is_dot_segment) {
        return None;
    }
    if matches!(path, "/admin/login" | "/admin/logout") {
        return None;
    }
    Some(raw.to_string())
}

/// `.` or `..`, also percent-encoded (browsers resolve `%2e%2e` too).
fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// The page a form was posted from, from the `Referer` (same host only).
pub fn from_referer(headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("https://")
        .or_else(|| referer.strip_prefix("http://"))?;
    let path = rest.strip_prefix(host)?;
    path.starts_with('/').then(|| safe_next(path)).flatten()
}

/// Where a request without a live session is sent: the login, carrying
/// the page to return to and why the login is asked for.
pub fn login_location(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    had_session: bool,
) -> String {
    if uri.path() == "/admin/logout" {
        // Logging out of a session that had already ended: nothing was lost.
        return "/admin/login?logged_out=1".to_string();
    }
    let (next, ended) = if method == Method::GET || method == Method::HEAD {
        let ended = if had_session {
            Ended::Session
        } else {
            Ended::No
        };
        (
            uri.path_and_query().and_then(|p| safe_next(p.as_str())),
            ended,
        )
    } else {
        (from_referer(headers), Ended::Unsaved)
    };
    login_url(next.as_deref(), ended)
}

/// `/admin/login` with `next` and `ended` (percent-encoded).
pub fn login_url(next: Option<&str>, ended: Ended) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(next) = next {
        query.append_pair("next", next);
    }
    if let Some(value) = ended.param() {
        query.append_pair("ended", value);
    }
    let query = query.finish();
    if query.is_empty() {
        "/admin/login".to_string()
    } else {
        format!("/admin/login?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_admin_paths_are_kept() {
        let good = [
            "/admin",
            "/admin/",
            "/admin/api-credentials?tab=roles&page=2",
            "/admin/roles?page=2",
            "/admin/api-credentials/roles/5/edit",
        ];
        for next in good {
            assert_eq!(safe_next(next).as_deref(), Some(next), "{next}");
        }
        let bad = [
            "",
            "//evil.example",
            "//evil.example/admin/",
            "https://evil.example",
            "https://evil.example/admin/",
            "/\\evil.example",
            "/admin\\..\\x",
            "/admin//evil.example",
            "/admin/../x",
            "/admin/%2e%2e/x",
            "/admin/.%2E/x",
            "/administrator",
            "/adminx/y",
            "admin/",
            "/admin/login",
            "/admin/logout",
            "/admin/a b",
            "/admin/\u{e9}",
            "javascript:alert(1)",
        ];
        for next in bad {
            assert_eq!(safe_next(next), None, "{next:?}");
        }
        assert_eq!(safe_next(&format!("/admin/{}", "a".repeat(MAX_NEXT))), None);
    }

    #[test]
    fn referer_must_be_this_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let with = |referer: &'static str| {
            let mut headers = headers.clone();
            headers.insert(header::REFERER, HeaderValue::from_static(referer));
            from_referer(&headers)
        };
        assert_eq!(
            with("http://127.0.0.1:8080/admin/api-credentials/roles/new").as_deref(),
            Some("/admin/api-credentials/roles/new")
        );
        assert_eq!(with("http://127.0.0.1:8080.evil.example/admin/"), None);
        assert_eq!(with("http://evil.example/admin/"), None);
        assert_eq!(with("http://127.0.0.1:8080//evil.example"), None);
        assert_eq!(from_referer(&headers), None);
    }

    #[test]
    fn login_location_keeps_the_page() {
        let uri: Uri = "/admin/api-credentials?tab=roles&page=2".parse().unwrap();
        let headers = HeaderMap::new();
        assert_eq!(
            login_location(&Method::GET, &uri, &headers, false),
            "/admin/login?next=%2Fadmin%2Fapi-credentials%3Ftab%3Droles%26page%3D2"
        );
        assert_eq!(
            login_location(&Method::GET, &uri, &headers, true),
            "/admin/login?next=%2Fadmin%2Fapi-credentials%3Ftab%3Droles%26page%3D2&ended=1"
        );
        assert_eq!(
            login_location(&Method::POST, &uri, &headers, true),
            "/admin/login?ended=unsaved"
        );
        let logout: Uri = "/admin/logout".parse().unwrap();
        assert_eq!(
            login_location(&Method::POST, &logout, &headers, true),
            "/admin/login?logged_out=1"
        );
        assert_eq!(login_url(None, Ended::No), "/admin/login");
        assert_eq!(Ended::parse("unsaved"), Ended::Unsaved);
        assert_eq!(Ended::parse("x"), Ended::No);
    }
}
