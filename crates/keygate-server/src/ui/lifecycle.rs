//! The credential lifecycle fields of the Generate and Edit dialogs
//! (DESIGN.md "Credential lifecycle"): *Expires* (a choice of never, 30
//! days, 90 days, 1 year or a custom date, plus *keep* when editing a
//! credential that has an expiry), *Allowed IP addresses* (one address or
//! CIDR per line; empty: any), *Rate limit* (`600/m`; empty: the
//! server's default) and *Client IDs* (WHMCS client ids separated by commas
//! or spaces; empty: not scoped, DESIGN.md "Client scope"). Everything is
//! checked here, before the manager is called, so a mistake names its field
//! and nothing is written.

use std::time::Duration;

use keygate_core::model::{ClientId, Credential};
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_store::{MAX_ALLOW_IPS, MAX_CLIENT_IDS};

use super::form::FormData;
use super::time::{datetime_local, parse_datetime, stamp, Stamp};
use super::views::Choice;

/// Form field: the expiry choice (a select).
pub const EXPIRES: &str = "expires";
/// Form field: the custom expiry (a `datetime-local` input, UTC).
pub const EXPIRES_AT: &str = "expires_at";
/// Form field: the allowlist (a textarea).
pub const ALLOW_IPS: &str = "allow_ips";
/// Form field: the rate limit.
pub const RATE_LIMIT: &str = "rate_limit";
/// Form field: the client scope (a text input).
pub const CLIENT_IDS: &str = "client_ids";

const DAY: i64 = 86_400;

/// The expiry choices after *keep*: value, label, seconds from now.
const PRESETS: [(&str, &str, i64); 3] = [
    ("30d", "30 days from now", 30 * DAY),
    ("90d", "90 days from now", 90 * DAY),
    ("1y", "1 year from now", 365 * DAY),
];

/// The overlap choices of the Rotate dialog: value, label, duration.
pub const OVERLAPS: [(&str, &str, Duration); 4] = [
    (
        "0",
        "None: the old secret stops working now",
        Duration::ZERO,
    ),
    ("1h", "1 hour", Duration::from_secs(3600)),
    ("24h", "24 hours", Duration::from_secs(24 * 3600)),
    ("7d", "7 days", Duration::from_secs(7 * 24 * 3600)),
];

/// The overlap picked unless the admin picks another.
pub const DEFAULT_OVERLAP: &str = "24h";

/// A mistake in one field of a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's form name (its input is marked invalid).
    pub field: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// What the lifecycle fields ask for; `None`: leave it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleInput {
    /// Set (`Some(Some(at))`) or clear (`Some(None)`) the expiry.
    pub expires_at: Option<Option<i64>>,
    /// Replace the allowlist (empty: any address).
    pub allow_ips: Option<Vec<IpNet>>,
    /// Set or clear (back to the default) the rate limit.
    pub rate_limit: Option<Option<Rate>>,
    /// Replace the client scope (empty: not scoped).
    pub client_ids: Option<Vec<ClientId>>,
}

/// Reads the lifecycle fields of a submitted form at `now` (unix seconds).
/// A field that was not submitted at all leaves its setting unchanged.
pub fn parse(form: &FormData, now: i64) -> Result<LifecycleInput, FieldError> {
    Ok(LifecycleInput {
        expires_at: parse_expiry(form, now)?,
        allow_ips: if form.has(ALLOW_IPS) {
            Some(parse_allow_ips(form.get(ALLOW_IPS))?)
        } else {
            None
        },
        rate_limit: if form.has(RATE_LIMIT) {
            Some(parse_rate(form.get(RATE_LIMIT))?)
        } else {
            None
        },
        client_ids: if form.has(CLIENT_IDS) {
            Some(parse_client_ids(form.get(CLIENT_IDS))?)
        } else {
            None
        },
    })
}

fn parse_expiry(form: &FormData, now: i64) -> Result<Option<Option<i64>>, FieldError> {
    let choice = form.get(EXPIRES).trim();
    if let Some((_, _, secs)) = PRESETS.iter().find(|(value, _, _)| *value == choice) {
        return Ok(Some(Some(now + secs)));
    }
    match choice {
        "" | "keep" => Ok(None),
        "never" => Ok(Some(None)),
        "custom" => {
            let typed = form.get(EXPIRES_AT).trim();
            if typed.is_empty() {
                return Err(FieldError::new(
                    EXPIRES_AT,
                    "Enter the expiry date and time (UTC), or pick another choice under Expires.",
                ));
            }
            let at = parse_datetime(typed).ok_or_else(|| {
                FieldError::new(
                    EXPIRES_AT,
                    format!(
                        "The expiry {typed:?} is not a date: enter it as 2027-01-31 14:05 (UTC)."
                    ),
                )
            })?;
            if at <= now {
                return Err(FieldError::new(
                    EXPIRES_AT,
                    format!(
                        "The expiry must be in the future: {} has passed.",
                        stamp(at).text
                    ),
                ));
            }
            Ok(Some(Some(at)))
        }
        other => Err(FieldError::new(
            EXPIRES,
            format!("Unknown expiry choice {other:?}: pick one from the list."),
        )),
    }
}

/// One address or CIDR per line (commas and spaces also separate them);
/// blank lines are skipped, and nothing at all means any address.
pub fn parse_allow_ips(text: &str) -> Result<Vec<IpNet>, FieldError> {
    let mut nets = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for item in line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
        {
            let net: IpNet = item.parse().map_err(|_| {
                FieldError::new(
                    ALLOW_IPS,
                    format!(
                        "Allowed IP addresses, line {}: {item:?} is not an IP address or network. Write one address or CIDR per line, such as 203.0.113.0/24 or 2001:db8::/32.",
                        number + 1
                    ),
                )
            })?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
    }
    if nets.len() > MAX_ALLOW_IPS {
        return Err(FieldError::new(
            ALLOW_IPS,
            format!(
                "Allowed IP addresses: at most {MAX_ALLOW_IPS} networks ({} given). Use wider networks (CIDRs).",
                nets.len()
            ),
        ));
    }
    Ok(nets)
}

/// `N/s`, `N/m` or `N/h`; empty: the default.
pub fn parse_rate(text: &str) -> Result<Option<Rate>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        FieldError::new(
            RATE_LIMIT,
            format!(
                "Rate limit {text:?} is not a rate: write calls per second, minute or hour, such as 10/s, 600/m or 5000/h (at most {}), or leave it empty for the default.",
                keygate_core::rate::MAX_RATE_COUNT
            ),
        )
    })
}

/// WHMCS client ids separated by commas or whitespace (a leading `#` is
/// allowed, as the badges show them); nothing at all means not scoped.
/// Sorted, without duplicates.
pub fn parse_client_ids(text: &str) -> Result<Vec<ClientId>, FieldError> {
    let mut ids = Vec::new();
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
    {
        let digits = item.strip_prefix('#').unwrap_or(item);
        let id = digits
            .parse::<i64>()
            .ok()
            .filter(|&id| id > 0 && digits.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                FieldError::new(
                    CLIENT_IDS,
                    format!(
                        "Client IDs: {item:?} is not a client ID. A client ID is a positive whole number (the WHMCS client's ID, such as 12); separate several with commas or spaces."
                    ),
                )
            })?;
        ids.push(ClientId(id));
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_CLIENT_IDS {
        return Err(FieldError::new(
            CLIENT_IDS,
            format!(
                "Client IDs: at most {MAX_CLIENT_IDS} clients ({} given).",
                ids.len()
            ),
        ));
    }
    Ok(ids)
}

/// Client ids as the field shows them: `12, 40`.
pub fn client_list(ids: &[ClientId]) -> String {
    ids.iter()
        .map(|id| id.0.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The overlap the Rotate dialog submitted.
pub fn parse_overlap(value: &str) -> Result<Duration, FieldError> {
    OVERLAPS
        .iter()
        .find(|(v, _, _)| *v == value.trim())
        .map(|(_, _, d)| *d)
        .ok_or_else(|| {
            FieldError::new(
                "overlap",
                "Choose how long the old secret keeps working: none, 1 hour, 24 hours or 7 days.",
            )
        })
}

/// What the lifecycle part of a dialog shows.
pub struct LifecycleForm {
    /// Options of the Expires select (one selected).
    pub expiry: Vec<Choice>,
    /// Whether "Custom date" is selected (the date field is shown).
    pub custom: bool,
    /// The custom date field's value (`datetime-local`, UTC).
    pub expires_at: String,
    /// The credential's current expiry (Edit only).
    pub current: Option<Stamp>,
    /// Whether the current expiry has passed.
    pub current_expired: bool,
    /// The allowlist, one network per line.
    pub allow_ips: String,
    /// The rate limit field.
    pub rate_limit: String,
    /// What an empty rate limit means on this server.
    pub default_rate: String,
    /// The client scope field (`12, 40`).
    pub client_ids: String,
    /// The field a mistake was found in ("" when none).
    pub invalid: &'static str,
    /// Element id prefix (`gen` or `edit`).
    pub prefix: &'static str,
}

impl LifecycleForm {
    fn choices(current: Option<i64>, now: i64, picked: &str) -> Vec<Choice> {
        let mut choices = Vec::new();
        if let Some(at) = current {
            let verb = if at <= now { "expired" } else { "expires" };
            choices.push((
                "keep".to_string(),
                format!("Keep ({verb} {})", stamp(at).text),
            ));
        }
        choices.push(("never".into(), "Never".into()));
        choices.extend(
            PRESETS
                .iter()
                .map(|(value, label, _)| (value.to_string(), label.to_string())),
        );
        choices.push(("custom".into(), "Custom date (UTC)".into()));
        let picked = if choices.iter().any(|(v, _)| v == picked) {
            picked
        } else {
            choices[0].0.as_str()
        }
        .to_string();
        choices
            .into_iter()
            .map(|(value, label)| Choice {
                checked: value == picked,
                value,
                label,
                warn: false,
            })
            .collect()
    }

    fn default_rate_text(default_rate: Option<Rate>) -> String {
        match default_rate {
            Some(rate) => format!("the server's default, {rate}"),
            None => "no limit (the server sets no default)".into(),
        }
    }

    /// The Generate dialog's fields, fresh.
    pub fn blank(default_rate: Option<Rate>, now: i64) -> Self {
        Self {
            expiry: Self::choices(None, now, "never"),
            custom: false,
            expires_at: String::new(),
            current: None,
            current_expired: false,
            allow_ips: String::new(),
            rate_limit: String::new(),
            default_rate: Self::default_rate_text(default_rate),
            client_ids: String::new(),
            invalid: "",
            prefix: "gen",
        }
    }

    /// The Edit dialog's fields, as the credential stands.
    pub fn of(credential: &Credential, default_rate: Option<Rate>, now: i64) -> Self {
        let lifecycle = &credential.lifecycle;
        Self {
            expiry: Self::choices(lifecycle.expires_at, now, "keep"),
            custom: false,
            expires_at: lifecycle.expires_at.map(datetime_local).unwrap_or_default(),
            current: lifecycle.expires_at.map(stamp),
            current_expired: lifecycle.expired_at(now),
            allow_ips: lines(&lifecycle.allow_ips),
            rate_limit: lifecycle
                .rate_limit
                .map(|r| r.to_string())
                .unwrap_or_default(),
            default_rate: Self::default_rate_text(default_rate),
            client_ids: client_list(&lifecycle.client_ids),
            invalid: "",
            prefix: "edit",
        }
    }

    /// These fields with what the admin submitted, to show them again.
    pub fn refill(mut self, form: &FormData, current: Option<i64>, now: i64) -> Self {
        let picked = form.get(EXPIRES);
        self.expiry = Self::choices(current, now, picked);
        self.custom = self.expiry.iter().any(|c| c.checked && c.value == "custom");
        if form.has(EXPIRES_AT) {
            self.expires_at = form.get(EXPIRES_AT).to_string();
        }
        if form.has(ALLOW_IPS) {
            self.allow_ips = form.get(ALLOW_IPS).to_string();
        }
        if form.has(RATE_LIMIT) {
            self.rate_limit = form.get(RATE_LIMIT).to_string();
        }
        if form.has(CLIENT_IDS) {
            self.client_ids = form.get(CLIENT_IDS).to_string();
        }
        self
    }

    /// Whether `field` is the one with the mistake (for `aria-invalid`).
    pub fn is_invalid(&self, field: &str) -> bool {
        self.invalid == field
    }
}

/// An allowlist one network per line.
pub fn lines(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn form(fields: &[(&str, &str)]) -> FormData {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            out.append_pair(k, v);
        }
        FormData::parse(out.finish().as_bytes())
    }

    #[test]
    fn expiry_choices() {
        let expiry = |fields: &[(&str, &str)]| parse(&form(fields), NOW).map(|i| i.expires_at);
        assert_eq!(expiry(&[]), Ok(None));
        assert_eq!(expiry(&[("expires", "keep")]), Ok(None));
        assert_eq!(expiry(&[("expires", "never")]), Ok(Some(None)));
        assert_eq!(
            expiry(&[("expires", "90d")]),
            Ok(Some(Some(NOW + 90 * DAY)))
        );
        assert_eq!(
            expiry(&[("expires", "custom"), ("expires_at", "2030-01-01T00:00")]),
            Ok(Some(Some(1_893_456_000)))
        );
        let field = |fields: &[(&str, &str)]| expiry(fields).unwrap_err().field;
        assert_eq!(field(&[("expires", "custom")]), EXPIRES_AT);
        assert_eq!(
            field(&[("expires", "custom"), ("expires_at", "2020-01-01T00:00")]),
            EXPIRES_AT
        );
        assert_eq!(
            field(&[("expires", "custom"), ("expires_at", "soon")]),
            EXPIRES_AT
        );
        assert_eq!(field(&[("expires", "forever")]), EXPIRES);
    }

    #[test]
    fn allowlist_and_rate() {
        let nets =
            parse_allow_ips("203.0.113.0/24\r\n\n 10.0.0.1, 2001:db8::/32\n10.0.0.1").unwrap();
        assert_eq!(lines(&nets), "203.0.113.0/24\n10.0.0.1/32\n2001:db8::/32");
        assert!(parse_allow_ips("").unwrap().is_empty());
        let error = parse_allow_ips("10.0.0.0/8\n10.0.0.0/33").unwrap_err();
        assert!(error.message.contains("line 2"), "{}", error.message);
        assert!(error.message.contains("10.0.0.0/33"));
        let many: String = (0..=MAX_ALLOW_IPS)
            .map(|i| format!("10.0.{i}.1\n"))
            .collect();
        assert!(parse_allow_ips(&many).is_err());
        assert_eq!(parse_rate(" ").unwrap(), None);
        assert_eq!(parse_rate("600/m").unwrap().unwrap().to_string(), "600/m");
        for bad in ["600", "0/m", "10/d", "x/s"] {
            assert_eq!(parse_rate(bad).unwrap_err().field, RATE_LIMIT, "{bad}");
        }
        assert_eq!(parse_overlap("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_overlap("0").unwrap(), Duration::ZERO);
        assert!(parse_overlap("2h").is_err());
    }

    #[test]
    fn client_ids() {
        let ids = |text: &str| parse_client_ids(text).map(|ids| client_list(&ids));
        assert_eq!(ids(""), Ok(String::new()));
        assert_eq!(ids("  \n "), Ok(String::new()));
        assert_eq!(ids("40, 12 12\n#7,,"), Ok("7, 12, 40".into()));
        assert_eq!(ids("9223372036854775807"), Ok("9223372036854775807".into()));
        for bad in [
            "acme",
            "0",
            "-3",
            "+4",
            "1.5",
            "12;40",
            "#",
            "99999999999999999999",
        ] {
            let error = parse_client_ids(bad).unwrap_err();
            assert_eq!(error.field, CLIENT_IDS, "{bad}");
            assert!(
                error.message.contains("positive whole number"),
                "{bad}: {}",
                error.message
            );
        }
        let error = parse_client_ids("12, acme").unwrap_err();
        assert!(error.message.contains("\"acme\""), "{}", error.message);
        let many: String = (1..=MAX_CLIENT_IDS + 1).map(|i| format!("{i} ")).collect();
        let error = parse_client_ids(&many).unwrap_err();
        assert!(error.message.contains("at most 64"), "{}", error.message);
        let posted = form(&[("client_ids", "3,1")]);
        assert_eq!(
            parse(&posted, NOW).unwrap().client_ids,
            Some(vec![ClientId(1), ClientId(3)])
        );
        assert_eq!(parse(&form(&[]), NOW).unwrap().client_ids, None);
    }

    #[test]
    fn edit_choices_keep_the_current_expiry() {
        let form = LifecycleForm::blank(None, NOW);
        assert_eq!(form.expiry[0].value, "never");
        assert!(form.expiry[0].checked);
        let choices = LifecycleForm::choices(Some(NOW - 5), NOW, "keep");
        assert!(choices[0].checked && choices[0].label.starts_with("Keep (expired "));
        let choices = LifecycleForm::choices(None, NOW, "keep");
        assert_eq!(choices[0].value, "never", "nothing to keep");
        assert!(choices[0].checked);
    }
}
