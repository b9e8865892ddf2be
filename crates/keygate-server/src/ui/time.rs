//! Unix timestamps as the UI shows them (UTC, minute precision), and the
//! dates an admin types (a `datetime-local` field, read as UTC), without a
//! date library: the civil-from-days conversions are a few lines each.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment shown in a page: machine-readable and for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// `2026-01-31 14:05 UTC`.
    pub text: String,
}

/// Year, month, day of the day `days` after 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Stamp {
    /// The date part of [`Stamp::text`] (`2026-01-31`).
    pub fn date(&self) -> &str {
        self.text
            .split_once(' ')
            .map_or(&self.text, |(date, _)| date)
    }

    /// The time part of [`Stamp::text`] (`14:05 UTC`).
    pub fn clock(&self) -> &str {
        self.text.split_once(' ').map_or("", |(_, clock)| clock)
    }
}

/// Days from 1970-01-01 to this date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A date and time as typed in the expiry field, read as UTC: what a
/// `datetime-local` input submits (`2027-01-31T14:05`, seconds optional),
/// also with a space for the `T`, or a date alone (midnight). `None` when
/// it is not a real date of years 1970 to 9999.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((date, time)) => (date, Some(time.trim())),
        None => (text, None),
    };
    let number = |part: &str, len: usize| -> Option<u32> {
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let mut parts = date.split('-');
    let year = i64::from(number(parts.next()?, 4)?);
    let month = number(parts.next()?, 2)?;
    let day = number(parts.next()?, 2)?;
    if parts.next().is_some()
        || !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
    {
        return None;
    }
    let (hour, minute, second) = match time {
        None => (0, 0, 0),
        Some(time) => {
            let mut parts = time.split(':');
            let hour = number(parts.next()?, 2)?;
            let minute = number(parts.next()?, 2)?;
            let second = match parts.next() {
                Some(s) => number(s, 2)?,
                None => 0,
            };
            if parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            (hour, minute, second)
        }
    };
    let secs = i64::from(hour * 3600 + minute * 60 + second);
    Some(days_from_civil(year, month, day) * 86_400 + secs)
}

/// `secs` as a `datetime-local` value in UTC (`2027-01-31T14:05`).
pub fn datetime_local(secs: i64) -> String {
    let iso = stamp(secs).iso;
    iso[..iso.len().min(16)].to_string()
}

/// The moment `secs` after the Unix epoch.
pub fn stamp(secs: i64) -> Stamp {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rest = secs.rem_euclid(86_400);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    Stamp {
        iso: format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"),
        text: format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(stamp(0).iso, "1970-01-01T00:00:00Z");
        assert_eq!(stamp(951_782_400).text, "2000-02-29 00:00 UTC");
        assert_eq!(stamp(1_700_000_000).iso, "2023-11-14T22:13:20Z");
        assert_eq!(stamp(-1).iso, "1969-12-31T23:59:59Z");
        let t = stamp(1_700_000_000);
        assert_eq!((t.date(), t.clock()), ("2023-11-14", "22:13 UTC"));
    }

    #[test]
    fn typed_dates_round_trip() {
        assert_eq!(parse_datetime("1970-01-01T00:00"), Some(0));
        assert_eq!(parse_datetime("2023-11-14T22:13:20"), Some(1_700_000_000));
        assert_eq!(parse_datetime(" 2023-11-14 22:13:20 "), Some(1_700_000_000));
        assert_eq!(parse_datetime("2000-02-29"), Some(951_782_400));
        for bad in [
            "",
            "2001-02-29",
            "2023-13-01T00:00",
            "2023-11-14T24:00",
            "2023-11-14T22:60",
            "23-11-14",
            "2023-11-14T22",
            "2023-11-14T22:13:20Z",
            "1969-12-31T23:59",
            "+2023-11-14",
            "next week",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad:?}");
        }
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let minute = secs - secs % 60;
            assert_eq!(parse_datetime(&datetime_local(secs)), Some(minute));
        }
        assert_eq!(datetime_local(1_700_000_000), "2023-11-14T22:13");
    }
}
