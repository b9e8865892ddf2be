//! How lifecycle values are stored, shared by both backends: the allowlist
//! as canonical CIDRs separated by single spaces (empty: any address), the
//! rate limit as its text (`600/m`). A stored value that no longer parses is
//! reported as [`Error::Unavailable`], never a panic: the database is
//! damaged, not the request wrong.

use keygate_core::model::Lifecycle;
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_core::SecretHashes;

use crate::{Error, Result};

/// The stored form of an allowlist.
pub(crate) fn allow_ips_text(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The stored form of a rate limit.
pub(crate) fn rate_text(rate: Option<Rate>) -> Option<String> {
    rate.map(|r| r.to_string())
}

/// The lifecycle columns of one credential row, as read.
pub(crate) struct LifecycleColumns {
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub allow_ips: String,
    pub rate_limit: Option<String>,
}

impl LifecycleColumns {
    /// Parses the columns of the credential named `identifier`.
    pub(crate) fn parse(self, identifier: &str) -> Result<Lifecycle> {
        let allow_ips = self
            .allow_ips
            .split_whitespace()
            .map(|net| {
                net.parse::<IpNet>().map_err(|e| {
                    Error::Unavailable(format!(
                        "credential {identifier:?} has a corrupt stored IP allowlist: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let rate_limit = self
            .rate_limit
            .as_deref()
            .map(|text| {
                text.parse::<Rate>().map_err(|e| {
                    Error::Unavailable(format!(
                        "credential {identifier:?} has a corrupt stored rate limit: {e}"
                    ))
                })
            })
            .transpose()?;
        Ok(Lifecycle {
            enabled: self.enabled,
            expires_at: self.expires_at,
            allow_ips,
            rate_limit,
            client_ids: Vec::new(),
        })
    }
}

/// The current secret's hashes of the credential named `identifier`.
pub(crate) fn hashes(identifier: &str, direct: &[u8], md5: &[u8]) -> Result<SecretHashes> {
    SecretHashes::from_parts(direct, md5).ok_or_else(|| {
        Error::Unavailable(format!(
            "credential {identifier:?} has corrupt secret hashes"
        ))
    })
}

/// The previous secret of a rotation, when it still works at `now`: its
/// hashes and the unix second it stops. One that has ended is left out.
pub(crate) fn old_secret(
    identifier: &str,
    direct: Option<Vec<u8>>,
    md5: Option<Vec<u8>>,
    until: Option<i64>,
    now: i64,
) -> Result<Option<(SecretHashes, i64)>> {
    match (direct, md5, until) {
        (Some(direct), Some(md5), Some(until)) if until > now => {
            let hashes = SecretHashes::from_parts(&direct, &md5).ok_or_else(|| {
                Error::Unavailable(format!(
                    "credential {identifier:?} has corrupt old secret hashes"
                ))
            })?;
            Ok(Some((hashes, until)))
        }
        _ => Ok(None),
    }
}

/// When a pending rotation's old secret stops, as listed: `None` when there
/// is none or it has already stopped at `now`.
pub(crate) fn pending_until(until: Option<i64>, now: i64) -> Option<i64> {
    until.filter(|&until| until > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(allow_ips: &str, rate_limit: Option<&str>) -> LifecycleColumns {
        LifecycleColumns {
            enabled: true,
            expires_at: None,
            allow_ips: allow_ips.into(),
            rate_limit: rate_limit.map(Into::into),
        }
    }

    #[test]
    fn round_trip() {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "2001:db8::/32"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        let text = allow_ips_text(&nets);
        assert_eq!(text, "10.0.0.0/8 2001:db8::/32");
        let rate: Rate = "600/m".parse().unwrap();
        let parsed = columns(&text, rate_text(Some(rate)).as_deref())
            .parse("id")
            .unwrap();
        assert_eq!(parsed.allow_ips, nets);
        assert_eq!(parsed.rate_limit, Some(rate));
        assert!(columns("", None).parse("id").unwrap().allow_ips.is_empty());
    }

    #[test]
    fn corrupt_values_are_unavailable_not_panics() {
        for (ips, rate) in [("10.0.0.0/99", None), ("", Some("lots"))] {
            match columns(ips, rate).parse("ABC") {
                Err(Error::Unavailable(message)) => {
                    assert!(
                        message.contains("\"ABC\" has a corrupt stored"),
                        "{message}"
                    )
                }
                other => panic!("expected Unavailable, got {other:?}"),
            }
        }
        assert!(matches!(
            old_secret("ABC", Some(vec![1]), Some(vec![2]), Some(i64::MAX), 0),
            Err(Error::Unavailable(_))
        ));
    }

    #[test]
    fn an_ended_old_secret_is_left_out() {
        let h = SecretHashes::of("s");
        let (d, m) = (Some(h.direct().to_vec()), Some(h.md5().to_vec()));
        assert!(old_secret("x", d.clone(), m.clone(), Some(100), 100)
            .unwrap()
            .is_none());
        assert_eq!(
            old_secret("x", d, m, Some(101), 100).unwrap().map(|o| o.1),
            Some(101)
        );
        assert_eq!(old_secret("x", None, None, None, 0).unwrap(), None);
        assert_eq!(pending_until(Some(5), 5), None);
        assert_eq!(pending_until(Some(6), 5), Some(6));
    }
}
