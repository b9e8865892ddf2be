//! Times and durations typed on the command line: `--expires WHEN` (RFC
//! 3339 or a duration from now) and `--overlap DURATION`.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail};

/// `WHEN` as unix seconds: an RFC 3339 time (`2027-01-31T00:00:00Z`, any
/// offset, fractions of a second dropped) or a duration from `now`
/// (`90m`, `12h`, `30d`, `1h 30m`). Whether it lies in the future is the
/// manager's rule, not checked here.
pub fn parse_when(text: &str, now: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    let invalid = || {
        anyhow!(
            "invalid time {text:?}: expected RFC 3339 (2027-01-31T00:00:00Z) \
             or a duration from now (90m, 12h, 30d)"
        )
    };
    if text.is_empty() {
        return Err(invalid());
    }
    if looks_like_a_date(text) {
        return rfc3339(text).ok_or_else(invalid);
    }
    let duration = humantime::parse_duration(text).map_err(|_| invalid())?;
    i64::try_from(duration.as_secs())
        .ok()
        .and_then(|secs| now.checked_add(secs))
        .ok_or_else(|| anyhow!("invalid time {text:?}: too far in the future"))
}

/// `--since WHEN` as unix seconds: an RFC 3339 time, or a duration ago
/// (`24h`, `7d`).
pub fn parse_since(text: &str, now: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    let invalid = || {
        anyhow!(
            "invalid time {text:?}: expected RFC 3339 (2027-01-31T00:00:00Z) \
             or a duration ago (90m, 24h, 7d)"
        )
    };
    if looks_like_a_date(text) {
        return rfc3339(text).ok_or_else(invalid);
    }
    let duration = humantime::parse_duration(text).map_err(|_| invalid())?;
    Ok(i64::try_from(duration.as_secs()).map_or(i64::MIN, |secs| now.saturating_sub(secs)))
}

/// `DURATION` (`30m`, `24h`, `7d`, `0`).
pub fn parse_duration(what: &str, text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    match humantime::parse_duration(text) {
        Ok(duration) => Ok(duration),
        Err(_) => {
            bail!("invalid {what} {text:?}: expected a duration such as 30m, 24h or 7d, or 0")
        }
    }
}

/// `YYYY-MM-DD…`: a date, not a duration.
fn looks_like_a_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 10 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

/// RFC 3339 with `Z` or a numeric offset, as unix seconds (negative before
/// 1970 is kept as the epoch: such a time is in the past either way).
fn rfc3339(text: &str) -> Option<i64> {
    let upper = text.to_ascii_uppercase();
    let (local, offset_secs) = match upper.strip_suffix('Z') {
        Some(local) => (local.to_string(), 0),
        None => {
            // `±HH:MM` at the end.
            let split = upper.len().checked_sub(6)?;
            let (local, offset) = upper.split_at(split);
            let sign = match offset.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, minutes) = offset[1..].split_once(':')?;
            if hours.len() != 2 || minutes.len() != 2 {
                return None;
            }
            let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            (local.to_string(), sign * (hours * 3600 + minutes * 60))
        }
    };
    if !local.contains('T') {
        return None;
    }
    let at = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Some(secs.saturating_sub(offset_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn rfc3339_times() {
        let cases = [
            ("2027-01-31T00:00:00Z", 1_801_353_600),
            ("2027-01-31t00:00:00z", 1_801_353_600),
            ("2027-01-31T00:00:00.75Z", 1_801_353_600),
            ("2027-01-31T02:00:00+02:00", 1_801_353_600),
            ("2027-01-30T19:30:00-04:30", 1_801_353_600),
            (" 1970-01-01T00:00:00Z ", 0),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_when(text, NOW).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn durations_from_now() {
        let cases = [
            ("90m", NOW + 5400),
            ("12h", NOW + 43_200),
            ("30d", NOW + 30 * 86_400),
            ("1h 30m", NOW + 5400),
            ("45s", NOW + 45),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_when(text, NOW).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn bad_times_are_one_clear_error() {
        for text in [
            "",
            "tomorrow",
            "-5m",
            "12",
            "2027-01-31",
            "2027-01-31 00:00:00",
            "2027-13-01T00:00:00Z",
            "2027-01-31T00:00:00+2:00",
            "2027-01-31T00:00:00+25:00",
        ] {
            let err = parse_when(text, NOW).unwrap_err().to_string();
            assert!(err.starts_with("invalid time"), "{text:?}: {err}");
            assert!(err.contains("RFC 3339"), "{err}");
        }
        assert!(parse_when("999999999999999d", NOW).is_err());
        let err = parse_when("300000000000y", NOW).unwrap_err().to_string();
        assert!(err.ends_with("too far in the future"), "{err}");
    }

    #[test]
    fn overlaps() {
        assert_eq!(parse_duration("overlap", "0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_duration("overlap", "24h").unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_duration("overlap", "7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        let err = parse_duration("overlap", "soon").unwrap_err().to_string();
        assert_eq!(
            err,
            r#"invalid overlap "soon": expected a duration such as 30m, 24h or 7d, or 0"#
        );
    }
}
