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
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    resolve(canonical(peer), headers, trusted)
}

fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Several headers count as one list, in order.
    let mut forwarded: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        forwarded.extend(value.to_str().ok()?.split(','));
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

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
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
        ];
        for (peer, forwarded, expected) in cases {
            let got = resolve(peer.parse().unwrap(), &headers(forwarded), &trusted);
            assert_eq!(
                got,
                expected.map(|e| e.parse().unwrap()),
                "{peer} {forwarded:?}"
            );
        }
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let got = resolve("127.0.0.1".parse().unwrap(), &headers(&["6.6.6.6"]), &[]);
        assert_eq!(got, Some("127.0.0.1".parse().unwrap()));
    }
}
