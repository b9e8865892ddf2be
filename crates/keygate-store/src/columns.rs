//! How lifecycle values are stored, shared by both backends: the allowlist
//! as canonical CIDRs separated by single spaces (empty: any address), the
//! rate limit as its text (`600/m`), the client scope as ascending decimal
//! client ids separated by single spaces (empty: not scoped). A stored
//! value that no longer parses is
//! reported as [`Error::Unavailable`], never a panic: the database is
//! damaged, not the request wrong.

use keygate_core::model::{ClientId, Lifecycle, RoleId};
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

/// The stored form of a client scope (the manager has already sorted and
/// deduplicated it).
pub(crate) fn client_ids_text(ids: &[ClientId]) -> String {
    ids.iter()
        .map(|id| id.0.to_string())
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
    pub client_ids: String,
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
        let mut client_ids = self
            .client_ids
            .split_whitespace()
            .map(|id| match id.parse::<i64>() {
                Ok(id) if id > 0 => Ok(ClientId(id)),
                _ => Err(Error::Unavailable(format!(
                    "credential {identifier:?} has a corrupt stored client scope: \
                     {id:?} is not a positive client id"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        // Written canonical; a hand-edited value is made so too, so readers
        // can rely on an ascending list without duplicates.
        client_ids.sort_unstable();
        client_ids.dedup();
        Ok(Lifecycle {
            enabled: self.enabled,
            expires_at: self.expires_at,
            allow_ips,
            rate_limit,
            client_ids,
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

/// Role ids as a snapshot read aggregates them (`"3,7"`; `None`: no role).
pub(crate) fn role_id_list(list: Option<String>) -> Result<Vec<RoleId>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|id| {
            id.trim().parse().map(RoleId).map_err(|_| {
                Error::Unavailable(format!("unreadable role id {id:?} in the database"))
            })
        })
        .collect()
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
            client_ids: String::new(),
        }
    }

    fn scoped(client_ids: &str) -> LifecycleColumns {
        LifecycleColumns {
            client_ids: client_ids.into(),
            ..columns("", None)
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
    fn client_ids_round_trip() {
        let ids = [ClientId(12), ClientId(40), ClientId(i64::MAX)];
        let text = client_ids_text(&ids);
        assert_eq!(text, "12 40 9223372036854775807");
        assert_eq!(scoped(&text).parse("id").unwrap().client_ids, ids);
        assert_eq!(client_ids_text(&[]), "");
        assert!(scoped("").parse("id").unwrap().client_ids.is_empty());
        assert_eq!(
            scoped(" 40  12 40 ").parse("id").unwrap().client_ids,
            [ClientId(12), ClientId(40)],
            "a hand-edited value is read canonical"
        );
    }

    #[test]
    fn corrupt_values_are_unavailable_not_panics() {
        let damaged = [
            columns("10.0.0.0/99", None),
            columns("", Some("lots")),
            scoped("12 banana"),
            scoped("0"),
            scoped("-3"),
            scoped("99999999999999999999"),
        ];
        for damaged in damaged {
            match damaged.parse("ABC") {
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
