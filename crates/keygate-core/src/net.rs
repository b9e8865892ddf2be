//! IP networks for credential allowlists: `10.0.0.0/8`, `2001:db8::/32`, or
//! a bare address (one host). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`,
//! what a dual-stack socket reports for an IPv4 peer) match as IPv4.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address with the host bits cleared, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid network {input:?}: expected an address or CIDR such as 203.0.113.0/24 or 2001:db8::/32")]
pub struct InvalidNet {
    input: String,
}

impl IpNet {
    /// The network of `address` with `prefix` bits; `None` when the prefix
    /// is longer than the address.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let address = canonical(address);
        let network = match address {
            IpAddr::V4(v4) if prefix <= 32 => {
                IpAddr::V4(Ipv4Addr::from(mask32(u32::from(v4), prefix)))
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                IpAddr::V6(Ipv6Addr::from(mask128(u128::from(v6), prefix)))
            }
            _ => return None,
        };
        Some(Self { network, prefix })
    }

    /// An IPv4 network as its address and prefix length; `None` for IPv6.
    pub fn v4_parts(&self) -> Option<(u32, u8)> {
        match self.network {
            IpAddr::V4(v4) => Some((u32::from(v4), self.prefix)),
            IpAddr::V6(_) => None,
        }
    }

    /// Whether `address` is in this network.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask32(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask128(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they carry.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// `bits` with all but the first `prefix` bits cleared.
pub(crate) fn mask32(bits: u32, prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => bits & (u32::MAX << (32 - u32::from(p))),
    }
}

fn mask128(bits: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => bits & (u128::MAX << (128 - u32::from(p))),
    }
}

impl FromStr for IpNet {
    type Err = InvalidNet;

    fn from_str(input: &str) -> Result<Self, InvalidNet> {
        let invalid = || InvalidNet {
            input: input.to_string(),
        };
        let text = input.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => {
                let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
                (address, Some(prefix))
            }
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let address = canonical(address);
        let full = if address.is_ipv4() { 32 } else { 128 };
        IpNet::new(address, prefix.unwrap_or(full)).ok_or_else(invalid)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parsing_and_display() {
        let cases = [
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("10.1.2.3", "10.1.2.3/32"),
            (" 192.168.0.1/32 ", "192.168.0.1/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("::1", "::1/128"),
            ("::/0", "::/0"),
            ("::ffff:10.0.0.1", "10.0.0.1/32"),
        ];
        for (input, shown) in cases {
            assert_eq!(net(input).to_string(), shown, "{input}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "1.2.3.4/8/8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn membership() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("203.0.113.7/32", "203.0.113.7", true),
            ("203.0.113.7/32", "203.0.113.8", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::1", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "2001:db8::1", true),
            ("10.0.0.0/8", "::ffff:10.1.1.1", true),
            ("::1/128", "127.0.0.1", false),
        ];
        for (network, address, expected) in cases {
            assert_eq!(
                net(network).contains(ip(address)),
                expected,
                "{network} {address}"
            );
        }
    }
}
