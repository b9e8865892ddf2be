//! Cursor paging for the list endpoints: `?limit=N&cursor=…` answers
//! `{"items":[…],"next_cursor":"…"|null}`. The cursor is opaque to
//! clients (base64url of the offset it resumes at); a cursor that does
//! not decode is 400.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::errors::ApiError;

/// Items a page holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 50;

/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = keygate_store::MAX_PAGE;

/// What the cursor text starts with once decoded: a version, so the
/// encoding can change without old cursors being misread.
const CURSOR_PREFIX: &str = "o1:";

/// Which slice of a list to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Items to skip.
    pub offset: u64,
    /// Items to answer at most.
    pub limit: u32,
}

impl Window {
    /// The window `limit` and `cursor` ask for; 400 when either is bad.
    pub fn from_query(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT} ({limit} given)"
            )));
        }
        // An empty cursor (`?cursor=`) is the first page.
        let offset = match cursor.filter(|text| !text.is_empty()) {
            Some(text) => decode(text).ok_or_else(|| {
                ApiError::bad_request("invalid cursor: pass back a next_cursor unchanged")
            })?,
            None => 0,
        };
        Ok(Self { offset, limit })
    }

    /// The cursor of the page after this one, which held `shown` of
    /// `total` items; `None` on the last page.
    pub fn next_cursor(&self, shown: usize, total: u64) -> Option<String> {
        let next = self.offset.saturating_add(shown as u64);
        (shown > 0 && next < total).then(|| encode(next))
    }

    /// This window of `items` (a list paged in memory) and the next cursor.
    pub fn slice<T>(&self, items: Vec<T>) -> (Vec<T>, Option<String>) {
        let total = items.len() as u64;
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let page: Vec<T> = items
            .into_iter()
            .skip(start)
            .take(self.limit as usize)
            .collect();
        let next = self.next_cursor(page.len(), total);
        (page, next)
    }
}

/// The cursor resuming at `offset`.
pub fn encode(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{offset}"))
}

/// The offset a cursor resumes at; `None` when it is not one of ours.
fn decode(cursor: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let digits = text.strip_prefix(CURSOR_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Declares a page type of `$item`s for the OpenAPI document.
macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// This page's items, in the list's order.
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; `null` on the last page.
            #[schema(required = true)]
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        for offset in [0, 1, 50, u64::MAX] {
            assert_eq!(decode(&encode(offset)), Some(offset));
        }
        for bad in [
            "!!",
            "abc",
            &URL_SAFE_NO_PAD.encode("o1:-1"),
            &URL_SAFE_NO_PAD.encode("o1:"),
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        assert!(Window::from_query(Some(0), None).is_err());
        assert!(Window::from_query(Some(MAX_LIMIT + 1), None).is_err());
        assert!(Window::from_query(None, Some("nope")).is_err());
    }

    #[test]
    fn slices_page_through_everything_once() {
        let items: Vec<u32> = (0..7).collect();
        let mut window = Window::from_query(Some(3), None).unwrap();
        let mut seen = Vec::new();
        loop {
            let (page, next) = window.slice(items.clone());
            seen.extend(page);
            match next {
                Some(cursor) => window = Window::from_query(Some(3), Some(&cursor)).unwrap(),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }
}
