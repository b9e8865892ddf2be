use super::*;

fn bucket(hour: i64, action: &str, outcome: UsageOutcome, count: u64) -> UsageBucket {
    UsageBucket {
        hour,
        action: action.into(),
        outcome,
        count,
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn outcomes_round_trip() {
    for outcome in UsageOutcome::ALL {
        assert_eq!(UsageOutcome::parse(outcome.as_str()), Some(outcome));
    }
    assert_eq!(UsageOutcome::parse("authentication_failed"), None);
}

#[test]
fn hours_are_floored() {
    assert_eq!(hour_of(7200), 7200);
    assert_eq!(hour_of(7199), 3600);
    assert_eq!(hour_of(-1), -3600);
}

#[test]
fn buckets_sum_per_action_with_denials_by_reason() {
    let buckets = [
        bucket(0, "GetInvoice", UsageOutcome::Allowed, 3),
        bucket(HOUR, "GetInvoice", UsageOutcome::Allowed, 2),
        bucket(HOUR, "GetInvoice", UsageOutcome::RateLimited, 1),
        bucket(0, "AddClient", UsageOutcome::ActionNotAllowed, 4),
    ];
    let usage = per_action(&buckets);
    assert_eq!(usage.len(), 2);
    assert_eq!(usage[0].action, "AddClient");
    assert_eq!(usage[0].denied_total(), 4);
    assert_eq!(usage[1].allowed, 5);
    assert_eq!(usage[1].denied["rate_limited"], 1);
    assert_eq!(usage[1].last_hour, HOUR);
}

#[test]
fn the_hourly_series_has_every_hour() {
    let buckets = [
        bucket(HOUR, "A", UsageOutcome::Allowed, 2),
        bucket(HOUR, "A", UsageOutcome::Expired, 1),
        bucket(10 * HOUR, "A", UsageOutcome::Allowed, 9),
    ];
    let series = per_hour(&buckets, 0, 3 * HOUR);
    assert_eq!(series, vec![(0, 0, 0), (HOUR, 2, 1), (2 * HOUR, 0, 0)]);
}

#[test]
fn the_advisor_suggests_exactly_the_used_allowed_actions() {
    let allowed = set(&["GetInvoice", "GetClientsDetails", "AddClient"]);
    let usage = per_action(&[
        bucket(0, "getinvoice", UsageOutcome::Allowed, 1),
        bucket(0, "AddClient", UsageOutcome::RateLimited, 5),
        bucket(0, "DeleteClient", UsageOutcome::ActionNotAllowed, 2),
    ]);
    let advice = advise(&allowed, &usage);
    assert_eq!(advice.used, set(&["GetInvoice"]));
    assert_eq!(advice.unused, set(&["AddClient", "GetClientsDetails"]));
    assert_eq!(advice.denied, set(&["DeleteClient"]));
    assert!(advice.can_tighten());
}

#[test]
fn nothing_used_or_everything_used_cannot_tighten() {
    let allowed = set(&["GetInvoice"]);
    assert!(!advise(&allowed, &[]).can_tighten());
    let all = per_action(&[bucket(0, "GetInvoice", UsageOutcome::Allowed, 1)]);
    assert!(!advise(&allowed, &all).can_tighten());
}
