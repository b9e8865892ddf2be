//! Rate limits (`600/m`) and the pure GCRA decision behind them.
//!
//! # The algorithm: GCRA
//!
//! The generic cell rate algorithm keeps **one timestamp per key**, the
//! *theoretical arrival time* (TAT): the instant at which the key's budget
//! is back to full if nothing more arrives. For a rate of `count` calls per
//! `period`:
//!
//! - the *emission interval* `T = period / count` is what one call costs;
//! - the *burst tolerance* `τ = T × (count − 1)` lets a whole period's worth
//!   (`count` calls) arrive at once;
//! - a call at `now` is allowed when `max(TAT, now) − now ≤ τ`; an allowed
//!   call that consumes moves the TAT to `max(TAT, now) + T`; a refused
//!   call changes nothing and may retry after `max(TAT, now) − τ − now`.
//!
//! So a fresh key takes `count` calls at once, then one call per emission
//! interval, and after a quiet period of `period` it has its full burst
//! again.
//!
//! Why GCRA rather than a token bucket or a window counter: the state is a
//! single integer (no "tokens + last refill" pair to keep consistent), every
//! decision is O(1), it is exact (no window edges that let `2 × count`
//! through), and because the state is one value with a natural expiry
//! (a TAT in the past is the same as no state) it can be kept as one Redis
//! key updated by one atomic script, shared by every keygate instance.
//!
//! Everything here is pure: the caller supplies the clock (`now`, in
//! nanoseconds on any monotonic scale) and stores the returned TAT.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The largest `N` accepted in `N/s`, `N/m` or `N/h`.
pub const MAX_RATE_COUNT: u32 = 1_000_000;

/// The period of a [`Rate`]: per second, per minute or per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// `N/s`.
    Second,
    /// `N/m`.
    Minute,
    /// `N/h`.
    Hour,
}

impl Period {
    /// The period's length.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.seconds())
    }

    /// The period's length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
        }
    }

    /// The suffix used in the textual form (`s`, `m` or `h`).
    pub fn suffix(self) -> &'static str {
        match self {
            Period::Second => "s",
            Period::Minute => "m",
            Period::Hour => "h",
        }
    }

    fn from_suffix(suffix: &str) -> Option<Period> {
        match suffix {
            "s" => Some(Period::Second),
            "m" => Some(Period::Minute),
            "h" => Some(Period::Hour),
            _ => None,
        }
    }
}

/// Why a rate could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The text is not of the form `N/s`, `N/m` or `N/h`.
    #[error("invalid rate {0:?}: expected N/s, N/m or N/h (e.g. 600/m)")]
    Syntax(String),
    /// `N` is 0 or above [`MAX_RATE_COUNT`].
    #[error("invalid rate {0:?}: N must be between 1 and {MAX_RATE_COUNT}")]
    OutOfRange(String),
}

/// A rate limit: at most `count` calls per `period`, with a burst of a full
/// period's worth. Parsed from and displayed as `N/s`, `N/m` or `N/h`.
///
/// Always valid: `1 ≤ count ≤ MAX_RATE_COUNT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: u32,
    period: Period,
}

impl Rate {
    /// `count` calls per `period`; fails unless `1 ≤ count ≤ MAX_RATE_COUNT`.
    pub fn new(count: u32, period: Period) -> Result<Rate, RateError> {
        if (1..=MAX_RATE_COUNT).contains(&count) {
            Ok(Rate { count, period })
        } else {
            Err(RateError::OutOfRange(format!(
                "{count}/{}",
                period.suffix()
            )))
        }
    }

    /// How many calls a period allows (also the burst size).
    pub fn count(self) -> u32 {
        self.count
    }

    /// The period.
    pub fn period(self) -> Period {
        self.period
    }

    /// What one call costs: `period / count`.
    pub fn emission_interval(self) -> Duration {
        Duration::from_nanos(self.emission_interval_nanos())
    }

    /// [`Rate::emission_interval`] in nanoseconds (at least 1000).
    pub fn emission_interval_nanos(self) -> u64 {
        period_nanos(self.period) / u64::from(self.count.max(1))
    }

    /// [`Rate::emission_interval`] in microseconds (at least 1), the unit
    /// of the shared (Redis) limiter.
    pub fn emission_interval_micros(self) -> u64 {
        self.period.seconds() * 1_000_000 / u64::from(self.count.max(1))
    }

    /// The burst tolerance `τ = T × (count − 1)` in nanoseconds: how far
    /// ahead of `now` the TAT may be for a call to still be allowed.
    pub fn burst_tolerance_nanos(self) -> u64 {
        self.emission_interval_nanos() * u64::from(self.count.saturating_sub(1))
    }

    /// [`Rate::burst_tolerance_nanos`] in microseconds.
    pub fn burst_tolerance_micros(self) -> u64 {
        self.emission_interval_micros() * u64::from(self.count.saturating_sub(1))
    }
}

fn period_nanos(period: Period) -> u64 {
    period.seconds() * 1_000_000_000
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Rate, RateError> {
        let syntax = || RateError::Syntax(text.to_owned());
        let (number, suffix) = text.trim().split_once('/').ok_or_else(syntax)?;
        let period = Period::from_suffix(suffix).ok_or_else(syntax)?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let out_of_range = || RateError::OutOfRange(text.to_owned());
        let count: u32 = number.parse().map_err(|_| out_of_range())?;
        Rate::new(count, period).map_err(|_| out_of_range())
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period.suffix())
    }
}

/// The result of one [`gcra`] decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraOutcome {
    /// Whether the call is within the rate.
    pub allowed: bool,
    /// The TAT to store. Unchanged (or `now` when there was none, which is
    /// equivalent) when the call was refused or not consumed.
    pub new_tat: u64,
    /// How long until one call would be allowed; zero when allowed.
    pub retry_after: Duration,
}

/// One GCRA decision for a key whose stored TAT is `tat` (`None`: no state),
/// at `now` (nanoseconds), under `rate`. With `consume` an allowed call
/// spends one emission interval; without it (a peek) the state never
/// changes. See the module documentation for the algorithm.
pub fn gcra(tat: Option<u64>, now: u64, rate: Rate, consume: bool) -> GcraOutcome {
    let tat = tat.map_or(now, |tat| tat.max(now));
    let allow_at = tat.saturating_sub(rate.burst_tolerance_nanos());
    if allow_at > now {
        return GcraOutcome {
            allowed: false,
            new_tat: tat,
            retry_after: Duration::from_nanos(allow_at - now),
        };
    }
    let new_tat = if consume {
        tat.saturating_add(rate.emission_interval_nanos())
    } else {
        tat
    };
    GcraOutcome {
        allowed: true,
        new_tat,
        retry_after: Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_displays() {
        let cases = [
            ("600/m", 600, Period::Minute, "600/m"),
            ("5/s", 5, Period::Second, "5/s"),
            ("1/h", 1, Period::Hour, "1/h"),
            (" 20/m ", 20, Period::Minute, "20/m"),
            ("0007/s", 7, Period::Second, "7/s"),
            ("1000000/s", 1_000_000, Period::Second, "1000000/s"),
        ];
        for (text, count, period, shown) in cases {
            let parsed = rate(text);
            assert_eq!((parsed.count(), parsed.period()), (count, period), "{text}");
            assert_eq!(parsed.to_string(), shown, "{text}");
            assert_eq!(rate(shown), parsed, "round trip of {text}");
        }
    }

    #[test]
    fn rejects_bad_text_with_a_clear_error() {
        let syntax = [
            "", "x", "600", "600/", "/m", "600/min", "600/sec", "600/d", "600/M", "-1/s", "+5/s",
            "1.5/s", "5 /s", "5/ s", "5/s/s", "٣/s",
        ];
        for text in syntax {
            let err = text.parse::<Rate>().unwrap_err();
            assert_eq!(err, RateError::Syntax(text.to_owned()), "{text:?}");
        }
        assert_eq!(
            "x".parse::<Rate>().unwrap_err().to_string(),
            r#"invalid rate "x": expected N/s, N/m or N/h (e.g. 600/m)"#
        );
        for text in ["0/m", "1000001/s", "99999999999999999999999/h"] {
            let err = text.parse::<Rate>().unwrap_err();
            assert_eq!(err, RateError::OutOfRange(text.to_owned()), "{text:?}");
        }
        assert_eq!(
            "0/m".parse::<Rate>().unwrap_err().to_string(),
            r#"invalid rate "0/m": N must be between 1 and 1000000"#
        );
        assert!(Rate::new(0, Period::Second).is_err());
        assert!(Rate::new(MAX_RATE_COUNT + 1, Period::Second).is_err());
    }

    #[test]
    fn emission_interval_and_tolerance() {
        let cases = [
            ("1/s", SEC, 0),
            ("5/s", SEC / 5, 4 * SEC / 5),
            ("600/m", SEC / 10, 599 * SEC / 10),
            ("1/h", 3600 * SEC, 0),
            ("1000000/s", 1_000, 999_999_000),
        ];
        for (text, interval, tolerance) in cases {
            let r = rate(text);
            assert_eq!(r.emission_interval_nanos(), interval, "{text}");
            assert_eq!(r.emission_interval(), Duration::from_nanos(interval));
            assert_eq!(r.burst_tolerance_nanos(), tolerance, "{text}");
            assert_eq!(r.emission_interval_micros(), interval / 1000, "{text}");
            assert_eq!(r.burst_tolerance_micros(), tolerance / 1000, "{text}");
        }
    }

    /// Runs `calls` (time offset in ns, consume) against one key from
    /// `start` and returns (allowed, retry_after) per call.
    fn run(rate: Rate, start: u64, calls: &[(u64, bool)]) -> Vec<(bool, Duration)> {
        let mut tat = None;
        calls
            .iter()
            .map(|&(offset, consume)| {
                let outcome = gcra(tat, start + offset, rate, consume);
                tat = Some(outcome.new_tat);
                (outcome.allowed, outcome.retry_after)
            })
            .collect()
    }

    #[test]
    fn burst_then_refusal_then_recovery() {
        let r = rate("5/s");
        let t = SEC / 5;
        let mut calls = vec![(0, true); 5];
        calls.push((0, true)); // 6th at once: refused, one interval to wait
        calls.push((t / 2, true)); // half an interval later: half to wait
        calls.push((t, true)); // one interval later: allowed
        calls.push((t, true)); // and only one
        calls.push((t + 6 * t, true)); // after a full quiet period: burst back
        let got = run(r, 42 * SEC, &calls);
        let allowed: Vec<bool> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            allowed,
            [true, true, true, true, true, false, false, true, false, true]
        );
        assert_eq!(got[5].1, Duration::from_nanos(t));
        assert_eq!(got[6].1, Duration::from_nanos(t / 2));
        assert_eq!(got[8].1, Duration::from_nanos(t));
        assert!(got.iter().filter(|g| g.0).all(|g| g.1.is_zero()));
    }

    #[test]
    fn a_refused_call_does_not_push_the_tat() {
        let r = rate("2/s");
        let mut calls = vec![(0, true); 2];
        calls.extend([(0, true); 50]); // hammering while limited
        calls.push((SEC / 2, true)); // still allowed after one interval
        let got = run(r, 0, &calls);
        assert!(got[2..52].iter().all(|g| !g.0));
        assert!(got[52].0);
    }

    #[test]
    fn full_budget_after_a_quiet_period() {
        let r = rate("3/m");
        let mut calls = vec![(0, true); 3];
        calls.extend([(60 * SEC, true); 3]);
        calls.push((60 * SEC, true));
        let got = run(r, 7, &calls);
        let allowed: Vec<bool> = got.iter().map(|g| g.0).collect();
        assert_eq!(allowed, [true, true, true, true, true, true, false]);
    }

    #[test]
    fn peek_never_changes_state() {
        let r = rate("2/s");
        let now = 10 * SEC;
        for tat in [
            None,
            Some(0),
            Some(now),
            Some(now + SEC / 2),
            Some(now + SEC),
        ] {
            let peek = gcra(tat, now, r, false);
            assert_eq!(peek.new_tat, tat.map_or(now, |t| t.max(now)), "{tat:?}");
            let hit = gcra(tat, now, r, true);
            assert_eq!(peek.allowed, hit.allowed, "{tat:?}");
            assert_eq!(peek.retry_after, hit.retry_after, "{tat:?}");
        }
        // Peeking forever never uses up the budget.
        let mut tat = None;
        for _ in 0..100 {
            let peek = gcra(tat, now, r, false);
            assert!(peek.allowed);
            tat = Some(peek.new_tat);
        }
        assert!(gcra(tat, now, r, true).allowed);
    }

    #[test]
    fn peek_reports_the_wait_when_limited() {
        let r = rate("1/s");
        let hit = gcra(None, 0, r, true);
        assert!(hit.allowed);
        let peek = gcra(Some(hit.new_tat), SEC / 4, r, false);
        assert!(!peek.allowed);
        assert_eq!(peek.retry_after, Duration::from_nanos(3 * SEC / 4));
        assert_eq!(peek.new_tat, hit.new_tat);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let r = rate("1/h");
        let outcome = gcra(Some(u64::MAX), 0, r, true);
        assert!(!outcome.allowed);
        assert_eq!(outcome.new_tat, u64::MAX);
        let outcome = gcra(None, u64::MAX, r, true);
        assert!(outcome.allowed);
        assert_eq!(outcome.new_tat, u64::MAX);
    }
}
