//! WHMCS request parameters: the query string and the body
//! (`application/x-www-form-urlencoded` or `multipart/form-data`), body
//! winning. Keys stay exactly as sent, so PHP arrays (`pid[]`, `pid[0]`)
//! pass through untouched and in order.

use axum::body::Body;
use bytes::Bytes;

/// Parameters in the order they arrived, keys and values decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// Why the parameters could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// The body is larger than the configured limit.
    #[error("Request body too large (limit {0} bytes)")]
    TooLarge(usize),
    /// The body could not be read or parsed.
    #[error("Invalid request body: {0}")]
    Malformed(String),
}

impl Params {
    /// Parameters of a query string (`None`: no query).
    pub fn from_query(query: Option<&str>) -> Self {
        Self {
            pairs: parse_urlencoded(query.unwrap_or("").as_bytes()),
        }
    }

    /// The value of the last `key` parameter, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the last `key` parameter, if it is not empty.
    pub fn get_non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Merges body parameters in: every key the body carries replaces the
    /// query's values of that key.
    pub fn merge_body(self, body: Params) -> Params {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .into_iter()
            .filter(|(k, _)| !body.pairs.iter().any(|(bk, _)| bk == k))
            .collect();
        pairs.extend(body.pairs);
        Params { pairs }
    }
}

fn parse_urlencoded(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Reads at most `limit` bytes of body.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ParamsError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            ParamsError::TooLarge(limit)
        } else {
            ParamsError::Malformed(e.to_string())
        }
    })
}

/// Body parameters, by content type; other content types carry none.
pub async fn parse_body(content_type: Option<&str>, body: Bytes) -> Result<Params, ParamsError> {
    let Some(content_type) = content_type else {
        return Ok(Params {
            pairs: parse_urlencoded(&body),
        });
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" | "" => Ok(Params {
            pairs: parse_urlencoded(&body),
        }),
        "multipart/form-data" => parse_multipart(content_type, body).await,
        _ => Ok(Params::default()),
    }
}

async fn parse_multipart(content_type: &str, body: Bytes) -> Result<Params, ParamsError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ParamsError::Malformed(format!("multipart: {e}")))?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut pairs = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ParamsError::Malformed(format!("multipart: {e}")))?
    {
        let Some(name) = field.name().map(str::to_string) else {
            continue;
        };
        let value = field
            .text()
            .await
            .map_err(|e| ParamsError::Malformed(format!("multipart: {e}")))?;
        pairs.push((name, value));
    }
    Ok(Params { pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_wins_and_arrays_stay_untouched() {
        let query = Params::from_query(Some("action=GetClients&responsetype=xml&pid%5B%5D=1"));
        let body = Params {
            pairs: parse_urlencoded(b"responsetype=json&pid[]=2&pid[]=3&x=a+b%26c"),
        };
        let merged = query.merge_body(body);
        assert_eq!(merged.get("action"), Some("GetClients"));
        assert_eq!(merged.get("responsetype"), Some("json"));
        let pids: Vec<&str> = merged
            .pairs()
            .iter()
            .filter(|(k, _)| k == "pid[]")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(pids, ["2", "3"]);
        assert_eq!(merged.get("x"), Some("a b&c"));
    }

    #[tokio::test]
    async fn multipart_fields_are_read() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nGetClients\r\n--XX\r\nContent-Disposition: form-data; name=\"pid[0]\"\r\n\r\n7\r\n--XX--\r\n";
        let params = parse_body(Some("multipart/form-data; boundary=XX"), Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(params.get("action"), Some("GetClients"));
        assert_eq!(params.get("pid[0]"), Some("7"));
        assert!(parse_body(Some("multipart/form-data"), Bytes::new())
            .await
            .is_err());
    }

    #[tokio::test]
    async fn other_content_types_carry_no_parameters() {
        let params = parse_body(Some("application/json"), Bytes::from("{\"action\":1}"))
            .await
            .unwrap();
        assert!(params.pairs().is_empty());
    }
}
