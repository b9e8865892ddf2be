//! Submitted forms: `application/x-www-form-urlencoded` pairs, with repeated
//! names kept (a checkbox per action submits `actions` many times).

/// The fields of a submitted form, in order.
#[derive(Clone, Debug, Default)]
pub struct FormData {
    pairs: Vec<(String, String)>,
}

impl FormData {
    /// Parses a urlencoded body (or query string); bad encoding is lenient.
    pub fn parse(body: &[u8]) -> Self {
        Self {
            pairs: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// The first value of `name`, or `""`.
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether `name` was submitted at all.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every value of `name` that is a whole number (ids); others dropped.
    pub fn ids(&self, name: &str) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .all(name)
            .iter()
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_and_ids() {
        let form = FormData::parse(
            b"name=A+b&actions=GetClients&actions=AddOrder&roles=3&roles=x&roles=4",
        );
        assert_eq!(form.get("name"), "A b");
        assert_eq!(form.get("missing"), "");
        assert!(form.has("actions") && !form.has("missing"));
        assert_eq!(form.all("actions"), ["GetClients", "AddOrder"]);
        assert_eq!(form.ids("roles"), [3, 4]);
    }
}
