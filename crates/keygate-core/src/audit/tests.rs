use serde_json::json;

use super::*;

fn chain(n: i64) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut prev = String::new();
    for id in 1..=n {
        let new = NewAuditEvent {
            actor: Actor::cli("root"),
            verb: AuditVerb::RoleEdit,
            target_id: id.to_string(),
            target_name: format!("Role {id}"),
            changes: Changes::new().field("name", json!("a"), json!(format!("b{id}"))),
        };
        let event = AuditEvent::chained(&new, id, 1_700_000_000 + id, &prev);
        prev = event.hash.clone();
        events.push(event);
    }
    events
}

fn check(events: &[AuditEvent], head: &AuditEvent) -> Result<i64, ChainBreak> {
    verify_chain(events, head.id, &head.hash)
}

#[test]
fn an_intact_chain_verifies() {
    let events = chain(5);
    assert_eq!(check(&events, &events[4]), Ok(5));
    assert_eq!(verify_chain(&[], 0, ""), Ok(0));
}

#[test]
fn every_kind_of_tampering_is_named() {
    let events = chain(5);
    let head = events[4].clone();
    let edited = |f: &dyn Fn(&mut AuditEvent)| {
        let mut events = events.clone();
        f(&mut events[2]);
        events
    };
    let cases: Vec<(&str, Vec<AuditEvent>, ChainBreak)> = vec![
        (
            "actor edited",
            edited(&|e| e.actor = "mallory".into()),
            ChainBreak::Edited { id: 3 },
        ),
        (
            "changes edited",
            edited(&|e| e.changes = "{}".into()),
            ChainBreak::Edited { id: 3 },
        ),
        (
            "time edited",
            edited(&|e| e.at += 1),
            ChainBreak::Edited { id: 3 },
        ),
        (
            "edited and rehashed",
            edited(&|e| {
                e.target_name = "x".into();
                e.hash = e.computed_hash();
            }),
            ChainBreak::Unlinked { id: 4 },
        ),
        (
            "deleted in the middle",
            events.iter().filter(|e| e.id != 3).cloned().collect(),
            ChainBreak::Missing {
                expected: 3,
                found: 4,
            },
        ),
        (
            "cut off the end",
            events[..3].to_vec(),
            ChainBreak::Truncated { last: 3, head: 5 },
        ),
        (
            "two swapped (ids kept in place)",
            {
                let mut swapped = events.clone();
                swapped.swap(1, 2);
                swapped[1].id = 2;
                swapped[2].id = 3;
                swapped
            },
            ChainBreak::Edited { id: 2 },
        ),
    ];
    for (name, events, expected) in cases {
        assert_eq!(check(&events, &head), Err(expected), "{name}");
    }
}

#[test]
fn a_forged_head_is_caught() {
    let events = chain(3);
    assert_eq!(
        verify_chain(&events, 3, "0000"),
        Err(ChainBreak::Edited { id: 3 })
    );
    assert_eq!(
        verify_chain(&events, 2, &events[1].hash),
        Err(ChainBreak::Unrecorded { id: 3 })
    );
}

#[test]
fn verbs_round_trip_and_name_their_target() {
    for verb in AuditVerb::ALL {
        assert_eq!(AuditVerb::parse(verb.as_str()), Some(verb));
        let json = serde_json::to_string(&verb).unwrap();
        assert_eq!(json, format!("\"{}\"", verb.as_str()));
        let kind = verb.target_kind();
        assert_eq!(TargetKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(AuditVerb::parse("nope"), None);
}

#[test]
fn unchanged_fields_are_left_out() {
    let changes = Changes::new().field("name", json!("a"), json!("a")).field(
        "enabled",
        json!(true),
        json!(false),
    );
    let stored: serde_json::Value = serde_json::from_str(&changes.to_json()).unwrap();
    assert_eq!(stored, json!({"enabled": {"before": true, "after": false}}));
    assert!(Changes::new().is_empty());
}

#[test]
fn the_canonical_form_covers_every_field_but_the_hash() {
    let event = chain(1).remove(0);
    let canonical = event.canonical();
    for needle in ["cli:root", "role.edit", "role", "Role 1", "1700000001"] {
        assert!(canonical.contains(needle), "{needle} in {canonical}");
    }
    assert!(!canonical.contains(&event.hash));
}
