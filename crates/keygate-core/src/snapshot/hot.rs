//! The lifecycle settings every call of a credential reads, kept inside its
//! slot: enabled, the first IPv4 networks of its allowlist, its own rate,
//! and the local rate limiter's state. At a million credentials the slot is
//! the one cache miss a decision pays; anything read from elsewhere would
//! be a second (see docs/benchmarks.md "Credential lifecycle").

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::model::Lifecycle;
use crate::net::{self, IpNet};
use crate::rate::{gcra, Rate};

/// IPv4 networks of an allowlist kept in the slot; longer lists, and any
/// with IPv6, are read from the credential's extra instead.
const INLINE_NETS: usize = 2;

/// Flag: the credential is disabled.
const DISABLED: u8 = 1;
/// Flag: the allowlist is in the extra, not inline.
const ALLOW_IN_EXTRA: u8 = 2;
/// Flag: the credential is client-scoped (its clients are in the extra).
const SCOPED: u8 = 4;

/// See the module documentation.
#[derive(Debug)]
pub(super) struct Hot {
    /// The local limiter's theoretical arrival time of the credential's
    /// next call, nanoseconds since the Unix epoch; 0: no call counted yet.
    tat: AtomicU64,
    /// The credential's own rate, if it has one.
    rate: Option<Rate>,
    /// Inline allowlist: network addresses and prefix lengths.
    nets: [u32; INLINE_NETS],
    prefixes: [u8; INLINE_NETS],
    net_count: u8,
    flags: u8,
}

impl Clone for Hot {
    fn clone(&self) -> Self {
        Self {
            tat: AtomicU64::new(self.tat.load(Ordering::Relaxed)),
            ..*self
        }
    }
}

impl Hot {
    /// Enabled, any address, the default rate, no calls counted.
    pub(super) const fn plain() -> Self {
        Self {
            tat: AtomicU64::new(0),
            rate: None,
            nets: [0; INLINE_NETS],
            prefixes: [0; INLINE_NETS],
            net_count: 0,
            flags: 0,
        }
    }

    /// What `lifecycle` puts in the slot.
    pub(super) fn of(lifecycle: &Lifecycle) -> Self {
        let mut hot = Self {
            rate: lifecycle.rate_limit,
            ..Self::plain()
        };
        if !lifecycle.enabled {
            hot.flags |= DISABLED;
        }
        if !lifecycle.client_ids.is_empty() {
            hot.flags |= SCOPED;
        }
        match inline_nets(&lifecycle.allow_ips) {
            Some(nets) => {
                for (i, (network, prefix)) in nets.into_iter().enumerate() {
                    hot.nets[i] = network;
                    hot.prefixes[i] = prefix;
                    hot.net_count += 1;
                }
            }
            None => hot.flags |= ALLOW_IN_EXTRA,
        }
        hot
    }

    /// Whether the allowlist must be read from the extra.
    pub(super) fn allowlist_in_extra(&self) -> bool {
        self.flags & ALLOW_IN_EXTRA != 0
    }

    /// Whether the credential is disabled.
    pub(super) fn disabled(&self) -> bool {
        self.flags & DISABLED != 0
    }

    /// Whether the credential is client-scoped.
    pub(super) fn scoped(&self) -> bool {
        self.flags & SCOPED != 0
    }

    /// The credential's own rate.
    pub(super) fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// Whether the inline allowlist admits `ip` (any address when empty);
    /// only meaningful when the list is not in the extra.
    pub(super) fn admits(&self, ip: Option<IpAddr>) -> bool {
        let count = usize::from(self.net_count);
        if count == 0 {
            return true;
        }
        let Some(IpAddr::V4(ip)) = ip.map(net::canonical) else {
            return false;
        };
        let ip = u32::from(ip);
        (0..count).any(|i| net::mask32(ip, self.prefixes[i]) == self.nets[i])
    }

    /// Counts one call at `now` (nanoseconds since the Unix epoch) against
    /// `rate`: `None` when it fits, else how long until one would.
    pub(super) fn count_call(&self, rate: Rate, now: u64) -> Option<Duration> {
        let mut stored = self.tat.load(Ordering::Relaxed);
        loop {
            let outcome = gcra((stored != 0).then_some(stored), now, rate, true);
            if !outcome.allowed {
                return Some(outcome.retry_after);
            }
            match self.tat.compare_exchange_weak(
                stored,
                outcome.new_tat,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return None,
                Err(current) => stored = current,
            }
        }
    }

    /// Takes over `previous`'s limiter state when the credential kept its
    /// rate (a changed rate starts a fresh budget).
    pub(super) fn carry_from(&self, previous: &Hot) {
        if previous.rate == self.rate {
            let tat = previous.tat.load(Ordering::Relaxed);
            self.tat.fetch_max(tat, Ordering::Relaxed);
        }
    }
}

/// An allowlist as inline IPv4 networks, when it is one: at most
/// [`INLINE_NETS`], all IPv4.
fn inline_nets(nets: &[IpNet]) -> Option<Vec<(u32, u8)>> {
    if nets.len() > INLINE_NETS {
        return None;
    }
    nets.iter().map(IpNet::v4_parts).collect()
}
