//! Usage per credential: calls counted per action, hour and outcome, and
//! the least-privilege advisor that turns them into a tighter role. Pure:
//! the server counts, the store keeps the hourly buckets.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// How an authenticated call ended, as usage counts it. Calls that never
/// authenticated (wrong secret, throttled, malformed) belong to no
/// credential and are not counted here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageOutcome {
    /// Allowed (and forwarded, for the gateway).
    Allowed,
    /// The credential's roles do not allow the action.
    ActionNotAllowed,
    /// The credential is disabled (or its admin is).
    Disabled,
    /// The credential has expired.
    Expired,
    /// Called from an address outside the allowlist.
    IpNotAllowed,
    /// Over the rate limit.
    RateLimited,
    /// A client-scoped credential went outside its clients.
    OutsideScope,
    /// The upstream's answer held another client's record and was withheld.
    ResponseBlocked,
}

impl UsageOutcome {
    /// Every outcome.
    pub const ALL: [UsageOutcome; 8] = [
        UsageOutcome::Allowed,
        UsageOutcome::ActionNotAllowed,
        UsageOutcome::Disabled,
        UsageOutcome::Expired,
        UsageOutcome::IpNotAllowed,
        UsageOutcome::RateLimited,
        UsageOutcome::OutsideScope,
        UsageOutcome::ResponseBlocked,
    ];

    /// The stored name (`allowed`, `action_not_allowed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            UsageOutcome::Allowed => "allowed",
            UsageOutcome::ActionNotAllowed => "action_not_allowed",
            UsageOutcome::Disabled => "disabled",
            UsageOutcome::Expired => "expired",
            UsageOutcome::IpNotAllowed => "ip_not_allowed",
            UsageOutcome::RateLimited => "rate_limited",
            UsageOutcome::OutsideScope => "client_scope",
            UsageOutcome::ResponseBlocked => "response_outside_client_scope",
        }
    }

    /// The outcome stored as `name`.
    pub fn parse(name: &str) -> Option<UsageOutcome> {
        UsageOutcome::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the call was allowed.
    pub fn is_allowed(self) -> bool {
        self == UsageOutcome::Allowed
    }
}

/// Seconds in a usage bucket.
pub const HOUR: i64 = 3600;

/// The bucket (start of the hour, unix seconds) holding `at`.
pub fn hour_of(at: i64) -> i64 {
    at.div_euclid(HOUR) * HOUR
}

/// One stored bucket: calls of one credential to one action in one hour
/// that ended one way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    /// Start of the hour, unix seconds.
    pub hour: i64,
    /// The action as called (canonical name when the catalog knows it).
    pub action: String,
    /// How the calls ended.
    pub outcome: UsageOutcome,
    /// How many.
    pub count: u64,
}

/// Per action over a window: allowed calls and denied calls by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionUsage {
    /// The action.
    pub action: String,
    /// Allowed calls.
    pub allowed: u64,
    /// Denied calls by reason (stored outcome name).
    pub denied: BTreeMap<String, u64>,
    /// The last hour with a call (unix seconds).
    pub last_hour: i64,
}

impl ActionUsage {
    /// Denied calls, all reasons.
    pub fn denied_total(&self) -> u64 {
        self.denied.values().sum()
    }
}

/// Sums buckets per action, sorted by action name.
pub fn per_action(buckets: &[UsageBucket]) -> Vec<ActionUsage> {
    let mut by_action: BTreeMap<&str, ActionUsage> = BTreeMap::new();
    for bucket in buckets {
        let entry = by_action
            .entry(&bucket.action)
            .or_insert_with(|| ActionUsage {
                action: bucket.action.clone(),
                ..ActionUsage::default()
            });
        if bucket.outcome.is_allowed() {
            entry.allowed += bucket.count;
        } else {
            *entry
                .denied
                .entry(bucket.outcome.as_str().to_string())
                .or_default() += bucket.count;
        }
        entry.last_hour = entry.last_hour.max(bucket.hour);
    }
    by_action.into_values().collect()
}

/// Allowed and denied calls per hour, ascending, every hour of
/// `[from, to)` present (zeros where nothing was called): the chart's
/// series.
pub fn per_hour(buckets: &[UsageBucket], from: i64, to: i64) -> Vec<(i64, u64, u64)> {
    let from = hour_of(from);
    let mut series: BTreeMap<i64, (u64, u64)> = (0..)
        .map(|i| from + i * HOUR)
        .take_while(|h| *h < to)
        .map(|h| (h, (0, 0)))
        .collect();
    for bucket in buckets {
        if let Some((allowed, denied)) = series.get_mut(&bucket.hour) {
            if bucket.outcome.is_allowed() {
                *allowed += bucket.count;
            } else {
                *denied += bucket.count;
            }
        }
    }
    series.into_iter().map(|(h, (a, d))| (h, a, d)).collect()
}

/// The advisor's finding for one credential over a window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advice {
    /// Every action the credential's roles allow.
    pub allowed: BTreeSet<String>,
    /// Allowed actions it called at least once: the suggested role.
    pub used: BTreeSet<String>,
    /// Allowed actions it never called: what tightening takes away.
    pub unused: BTreeSet<String>,
    /// Actions it tried that its roles do not allow (left out of the
    /// suggestion: tightening never widens).
    pub denied: BTreeSet<String>,
}

impl Advice {
    /// Whether the suggestion would change anything: some allowed action
    /// went unused and at least one was used.
    pub fn can_tighten(&self) -> bool {
        !self.unused.is_empty() && !self.used.is_empty()
    }
}

/// Compares what the roles allow with what was used: the suggestion is
/// exactly the allowed actions called with an allowed outcome. Action names
/// compare case-insensitively (WHMCS does).
pub fn advise(allowed: &BTreeSet<String>, usage: &[ActionUsage]) -> Advice {
    let key = |s: &str| s.to_ascii_lowercase();
    let allowed_keys: BTreeMap<String, &String> = allowed.iter().map(|a| (key(a), a)).collect();
    let mut used = BTreeSet::new();
    let mut denied = BTreeSet::new();
    for action in usage {
        match allowed_keys.get(&key(&action.action)) {
            Some(name) if action.allowed > 0 => {
                used.insert((*name).clone());
            }
            Some(_) => {}
            None if action
                .denied
                .contains_key(UsageOutcome::ActionNotAllowed.as_str()) =>
            {
                denied.insert(action.action.clone());
            }
            None => {}
        }
    }
    let unused = allowed.difference(&used).cloned().collect();
    Advice {
        allowed: allowed.clone(),
        used,
        unused,
        denied,
    }
}

#[cfg(test)]
mod tests;
