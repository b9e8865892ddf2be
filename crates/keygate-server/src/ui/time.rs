//! Unix timestamps as the UI shows them (UTC, minute precision), without a
//! date library: the civil-from-days conversion is a few lines.

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
    }
}
