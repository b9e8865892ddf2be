//! The client's address: the socket peer, or, when the peer is a trusted
//! proxy, the right-most `X-Forwarded-For` address that is not itself a
//! trusted proxy. Anyone can write an `X-Forwarded-For` header, so it is
//! read only from peers the operator listed in `trusted_proxies`, and only
//! from the right, where those proxies append.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use keygate_core::net::{canonical, IpNet};

/// The client address of a request; `None` when it cannot be told (no
/// socket address, or a trusted proxy forwarded something unreadable).
pub fn client_ip(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0;
    let forwarded = headers.get_all("x-forwarded-for");
    client_ip_of(peer, forwarded.iter().map(|v| v.as_bytes()), trusted)
}

/// The client address of a request from `peer` whose `X-Forwarded-For`
/// headers hold `forwarded` (in order), for callers without a `HeaderMap`.
pub fn client_ip_of<'a>(
    peer: SocketAddr,
    forwarded: impl Iterator<Item = &'a [u8]>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    resolve(canonical(peer.ip()), forwarded, trusted)
}

fn resolve<'a>(
    peer: IpAddr,
    values: impl Iterator<Item = &'a [u8]>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Several headers count as one list, in order.
    let mut forwarded: Vec<&str> = Vec::new();
    for value in values {
        forwarded.extend(visible_text(value)?.split(','));
    }
    for entry in forwarded.iter().rev() {
        let ip = canonical(parse_entry(entry.trim())?);
        if !is_trusted(ip) {
            return Some(ip);
        }
    }
    // Only proxies in the chain (or no header): the peer is the client.
    Some(peer)
}

/// A header value read as `HeaderValue::to_str` reads it: visible ASCII
/// and tabs only, anything else unreadable.
fn visible_text(value: &[u8]) -> Option<&str> {
    let visible = value.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, also with a
/// port (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(values: &'a [&'a str]) -> impl Iterator<Item = &'a [u8]> {
        values.iter().map(|v| v.as_bytes())
    }

    #[test]
    fn client_address_table() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            // an untrusted peer is the client, whatever it claims
            ("203.0.113.5", &["198.51.100.1"], Some("203.0.113.5")),
            ("203.0.113.5", &[], Some("203.0.113.5")),
            // a trusted proxy: the right-most address not a proxy
            ("10.0.0.1", &["198.51.100.1"], Some("198.51.100.1")),
            ("10.0.0.1", &["6.6.6.6, 198.51.100.1"], Some("198.51.100.1")),
            (
                "10.0.0.1",
                &["6.6.6.6, 198.51.100.1, 10.0.0.2"],
                Some("198.51.100.1"),
            ),
            (
                "10.0.0.1",
                &["6.6.6.6", "198.51.100.1"],
                Some("198.51.100.1"),
            ),
            ("::1", &["2001:db8::7"], Some("2001:db8::7")),
            ("10.0.0.1", &["198.51.100.1:4711"], Some("198.51.100.1")),
            ("10.0.0.1", &["[2001:db8::7]:4711"], Some("2001:db8::7")),
            ("10.0.0.1", &["::ffff:198.51.100.1"], Some("198.51.100.1")),
            // only proxies, or no header: the peer
            ("10.0.0.1", &["10.0.0.2"], Some("10.0.0.1")),
            ("10.0.0.1", &[], Some("10.0.0.1")),
            // garbage from a trusted proxy: unknown, never a guess
            ("10.0.0.1", &["6.6.6.6, not-an-ip"], None),
            ("10.0.0.1", &["198.51.100.1, "], None),
            // unreadable as text (as HeaderValue::to_str): unknown
            ("10.0.0.1", &["6.6.6.6, 198.51.100.1\u{e9}"], None),
            ("10.0.0.1", &["6.6.6.6\u{e9}", "198.51.100.1"], None),
        ];
        for (peer, forwarded, expected) in cases {
            let got = resolve(peer.parse().unwrap(), values(forwarded), &trusted);
            assert_eq!(
                got,
                expected.map(|e| e.parse().unwrap()),
                "{peer} {forwarded:?}"
            );
        }
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let got = resolve("127.0.0.1".parse().unwrap(), values(&["6.6.6.6"]), &[]);
        assert_eq!(got, Some("127.0.0.1".parse().unwrap()));
    }
}
