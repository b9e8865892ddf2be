//! Table tests for every authorization rule of DESIGN.md "Semantics".

use super::*;
use crate::model::Lifecycle;
use crate::secret::{hex, PlainSecret};
use md5::{Digest, Md5};

const SECRET: &str = "the-secret";

fn admin(id: i64, name: &str, enabled: bool) -> AdminEntry {
    AdminEntry {
        id: AdminId(id),
        username: name.into(),
        enabled,
    }
}

fn role(id: i64, name: &str, actions: &[&str]) -> RoleEntry {
    RoleEntry {
        id: RoleId(id),
        name: name.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
    }
}

fn cred(identifier: &str, admin: i64, roles: &[i64]) -> CredentialEntry {
    CredentialEntry {
        identifier: identifier.into(),
        hashes: PlainSecret::from_user(SECRET.into()).hashes(),
        admin_id: AdminId(admin),
        role_ids: roles.iter().map(|r| RoleId(*r)).collect(),
        lifecycle: Lifecycle::default(),
        old_secret: None,
    }
}

fn fixture() -> Snapshot {
    let source = SnapshotSource {
        revision: 7,
        admins: vec![admin(1, "alice", true), admin(2, "bob", false)],
        roles: vec![
            role(10, "Tickets", &["OpenTicket", "GetTickets"]),
            role(11, "Accounting", &["GetInvoices", "GetClientsDetails"]),
            role(12, "Empty", &[]),
            role(13, "Stale", &["RemovedCustomAction"]),
        ],
        credentials: vec![
            cred("tickets", 1, &[10]),
            cred("both", 1, &[10, 11]),
            cred("noroles", 1, &[]),
            cred("emptyrole", 1, &[12]),
            cred("disabled", 2, &[10, 11]),
            cred("deletedrole", 1, &[99]),
            cred("stale", 1, &[13]),
        ],
    };
    Snapshot::build(&source, Arc::new(Catalog::builtin()))
}

/// The decision for three fields, as the sidecar asks it.
fn decide<'a>(
    snapshot: &'a Snapshot,
    identifier: &str,
    secret: &str,
    action: &str,
) -> Decision<'a> {
    snapshot.decide(&Call::new(identifier, secret, action))
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Allowed(&'static str),
    AuthFailed,
    Missing,
    NotAllowed,
}

fn outcome(decision: Decision<'_>) -> Outcome {
    match decision {
        Decision::Allowed(grant) => Outcome::Allowed(match grant.action.name.as_str() {
            "OpenTicket" => "OpenTicket",
            "GetTickets" => "GetTickets",
            "GetInvoices" => "GetInvoices",
            "GetClientsDetails" => "GetClientsDetails",
            other => panic!("unexpected action {other}"),
        }),
        Decision::AuthenticationFailed { .. }
        | Decision::Disabled { .. }
        | Decision::Expired { .. }
        | Decision::IpNotAllowed { .. } => Outcome::AuthFailed,
        Decision::ActionMissing(_) => Outcome::Missing,
        Decision::ActionNotAllowed { .. } => Outcome::NotAllowed,
    }
}

#[test]
fn authorization_table() {
    let snapshot = fixture();
    let md5_secret = hex(&Md5::digest(SECRET.as_bytes()));
    use Outcome::*;
    let cases: &[(&str, &str, &str, Outcome)] = &[
        // allowed by the only role
        ("tickets", SECRET, "OpenTicket", Allowed("OpenTicket")),
        // case-insensitive action names
        ("tickets", SECRET, "openticket", Allowed("OpenTicket")),
        ("tickets", SECRET, "OPENTICKET", Allowed("OpenTicket")),
        // the md5 hex of the secret is accepted
        ("tickets", &md5_secret, "OpenTicket", Allowed("OpenTicket")),
        // not in any role
        ("tickets", SECRET, "GetInvoices", NotAllowed),
        // not in the catalog
        ("tickets", SECRET, "NoSuchAction", NotAllowed),
        ("tickets", SECRET, "", Missing),
        // any role allows: union of roles
        ("both", SECRET, "OpenTicket", Allowed("OpenTicket")),
        ("both", SECRET, "GetInvoices", Allowed("GetInvoices")),
        // legacy aliases resolve before the check
        (
            "both",
            SECRET,
            "GetClientsData",
            Allowed("GetClientsDetails"),
        ),
        (
            "both",
            SECRET,
            "getclientsdatabyemail",
            Allowed("GetClientsDetails"),
        ),
        ("tickets", SECRET, "GetClientsData", NotAllowed),
        // no roles: deny everything
        ("noroles", SECRET, "OpenTicket", NotAllowed),
        // roles with no actions: deny everything
        ("emptyrole", SECRET, "OpenTicket", NotAllowed),
        // a deleted role grants nothing
        ("deletedrole", SECRET, "OpenTicket", NotAllowed),
        // actions the catalog no longer has grant nothing
        ("stale", SECRET, "RemovedCustomAction", NotAllowed),
        // disabled admin: credential invalid
        ("disabled", SECRET, "OpenTicket", AuthFailed),
        // wrong secret, wrong case of secret, empty secret
        ("tickets", "wrong", "OpenTicket", AuthFailed),
        ("tickets", "THE-SECRET", "OpenTicket", AuthFailed),
        ("tickets", "", "OpenTicket", AuthFailed),
        // unknown or empty identifier; identifiers are case-sensitive
        ("nobody", SECRET, "OpenTicket", AuthFailed),
        ("", SECRET, "OpenTicket", AuthFailed),
        ("TICKETS", SECRET, "OpenTicket", AuthFailed),
    ];
    for (identifier, secret, action, expected) in cases {
        let got = outcome(decide(&snapshot, identifier, secret, action));
        assert_eq!(&got, expected, "{identifier} / {secret} / {action}");
    }
}

#[test]
fn grant_reports_identifier_admin_and_roles() {
    let snapshot = fixture();
    let Decision::Allowed(grant) = decide(&snapshot, "both", SECRET, "gettickets") else {
        panic!("expected allowed");
    };
    assert_eq!(grant.credential.identifier(), "both");
    assert_eq!(grant.credential.admin(), "alice");
    let roles: Vec<&str> = grant.credential.roles().iter().map(|r| &**r).collect();
    assert_eq!(roles, ["Tickets", "Accounting"]);
    assert_eq!(grant.action.name, "GetTickets");
}

#[test]
fn re_enabling_an_admin_restores_its_credentials() {
    let catalog = Arc::new(Catalog::builtin());
    let mut source = SnapshotSource {
        revision: 1,
        admins: vec![admin(1, "alice", false)],
        roles: vec![role(1, "R", &["GetClients"])],
        credentials: vec![cred("c", 1, &[1])],
    };
    let disabled = Snapshot::build(&source, catalog.clone());
    assert!(matches!(
        decide(&disabled, "c", SECRET, "GetClients"),
        Decision::AuthenticationFailed { .. }
    ));
    source.admins[0].enabled = true;
    let enabled = Snapshot::build(&source, catalog);
    assert!(matches!(
        decide(&enabled, "c", SECRET, "GetClients"),
        Decision::Allowed(_)
    ));
}

#[test]
fn credentials_of_a_missing_admin_are_dropped() {
    let source = SnapshotSource {
        revision: 1,
        admins: vec![],
        roles: vec![role(1, "R", &["GetClients"])],
        credentials: vec![cred("orphan", 5, &[1])],
    };
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    assert!(snapshot.is_empty());
    assert!(matches!(
        decide(&snapshot, "orphan", SECRET, "GetClients"),
        Decision::AuthenticationFailed { .. }
    ));
}

#[test]
fn custom_catalog_actions_can_be_allowed() {
    let catalog = Catalog::with_custom(&[crate::CustomAction {
        category: "Custom".into(),
        action: "GetInvoicesDetails".into(),
        scope: None,
    }])
    .unwrap();
    let source = SnapshotSource {
        revision: 1,
        admins: vec![admin(1, "alice", true)],
        roles: vec![role(1, "R", &["GetInvoicesDetails"])],
        credentials: vec![cred("c", 1, &[1])],
    };
    let snapshot = Snapshot::build(&source, Arc::new(catalog));
    assert!(matches!(
        decide(&snapshot, "c", SECRET, "getinvoicesdetails"),
        Decision::Allowed(_)
    ));
}

#[test]
fn identical_role_sets_are_shared() {
    let source = SnapshotSource {
        revision: 1,
        admins: vec![admin(1, "alice", true)],
        roles: vec![
            role(1, "A", &["GetClients"]),
            role(2, "B", &["GetInvoices"]),
        ],
        credentials: vec![
            cred("x", 1, &[1, 2]),
            cred("y", 1, &[2, 1]),
            cred("z", 1, &[1]),
        ],
    };
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    assert_eq!(snapshot.role_sets.len(), 2);
    assert_eq!(snapshot.revision(), 1);
}

/// DESIGN.md "Credential lifecycle": disabled, expired, allowlisted and
/// rotating credentials, decided at a given time from a given address.
#[test]
fn lifecycle_table() {
    const NOW: i64 = 1_800_000_000;
    let with = |identifier: &str, edit: &dyn Fn(&mut CredentialEntry)| {
        let mut entry = cred(identifier, 1, &[10]);
        edit(&mut entry);
        entry
    };
    let nets = |list: &[&str]| list.iter().map(|n| n.parse().unwrap()).collect();
    let source = SnapshotSource {
        revision: 1,
        admins: vec![admin(1, "alice", true)],
        roles: vec![role(10, "Tickets", &["OpenTicket"])],
        credentials: vec![
            cred("plain", 1, &[10]),
            with("disabled", &|c| c.lifecycle.enabled = false),
            with("expired", &|c| c.lifecycle.expires_at = Some(NOW)),
            with("expiring", &|c| c.lifecycle.expires_at = Some(NOW + 1)),
            with("office", &|c| {
                c.lifecycle.allow_ips = nets(&["203.0.113.0/24", "2001:db8::/32"])
            }),
            // Two IPv4 networks live in the slot; three, or IPv6, in the extra.
            with("branch", &|c| {
                c.lifecycle.allow_ips = nets(&["203.0.113.0/24", "10.0.0.0/8"])
            }),
            with("wide", &|c| {
                c.lifecycle.allow_ips = nets(&["203.0.113.0/24", "10.0.0.0/8", "192.0.2.7"])
            }),
            with("anywhere4", &|c| {
                c.lifecycle.allow_ips = nets(&["0.0.0.0/0"])
            }),
            with("rotating", &|c| {
                c.hashes = SecretHashes::of("new-secret");
                c.old_secret = Some((SecretHashes::of(SECRET), NOW + 60));
            }),
            with("rotated", &|c| {
                c.hashes = SecretHashes::of("new-secret");
                c.old_secret = Some((SecretHashes::of(SECRET), NOW));
            }),
        ],
    };
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    #[derive(Debug, PartialEq)]
    enum Got {
        Allowed,
        AuthFailed,
        Disabled,
        Expired,
        IpNotAllowed,
        Other,
    }
    let cases: &[(&str, &str, Option<&str>, Got)] = &[
        ("plain", SECRET, None, Got::Allowed),
        ("disabled", SECRET, None, Got::Disabled),
        // a wrong secret never reveals the state
        ("disabled", "wrong", None, Got::AuthFailed),
        ("expired", SECRET, None, Got::Expired),
        ("expired", "wrong", None, Got::AuthFailed),
        ("expiring", SECRET, None, Got::Allowed),
        ("office", SECRET, Some("203.0.113.9"), Got::Allowed),
        ("office", SECRET, Some("::ffff:203.0.113.9"), Got::Allowed),
        ("office", SECRET, Some("2001:db8::5"), Got::Allowed),
        ("office", SECRET, Some("198.51.100.1"), Got::IpNotAllowed),
        ("office", SECRET, None, Got::IpNotAllowed),
        ("office", "wrong", Some("198.51.100.1"), Got::AuthFailed),
        ("plain", SECRET, Some("198.51.100.1"), Got::Allowed),
        ("branch", SECRET, Some("10.200.0.1"), Got::Allowed),
        ("branch", SECRET, Some("::ffff:203.0.113.200"), Got::Allowed),
        ("branch", SECRET, Some("11.0.0.1"), Got::IpNotAllowed),
        ("branch", SECRET, Some("2001:db8::5"), Got::IpNotAllowed),
        ("branch", SECRET, None, Got::IpNotAllowed),
        ("wide", SECRET, Some("192.0.2.7"), Got::Allowed),
        ("wide", SECRET, Some("192.0.2.8"), Got::IpNotAllowed),
        ("wide", SECRET, Some("10.0.0.1"), Got::Allowed),
        ("anywhere4", SECRET, Some("198.51.100.1"), Got::Allowed),
        ("anywhere4", SECRET, Some("2001:db8::5"), Got::IpNotAllowed),
        // both secrets during the overlap, only the new one after it
        ("rotating", SECRET, None, Got::Allowed),
        ("rotating", "new-secret", None, Got::Allowed),
        ("rotated", SECRET, None, Got::AuthFailed),
        ("rotated", "new-secret", None, Got::Allowed),
    ];
    for (identifier, secret, ip, expected) in cases {
        let ip = ip.map(|ip| ip.parse().unwrap());
        let call = Call::new(identifier, secret, "OpenTicket")
            .at(NOW)
            .from_ip(ip);
        let got = match snapshot.decide(&call) {
            Decision::Allowed(_) => Got::Allowed,
            Decision::AuthenticationFailed { .. } => Got::AuthFailed,
            Decision::Disabled { identifier: id, .. } => {
                assert_eq!(id, *identifier);
                Got::Disabled
            }
            Decision::Expired { identifier: id, .. } => {
                assert_eq!(id, *identifier);
                Got::Expired
            }
            Decision::IpNotAllowed { .. } => Got::IpNotAllowed,
            Decision::ActionMissing(_) | Decision::ActionNotAllowed { .. } => Got::Other,
        };
        assert_eq!(&got, expected, "{identifier} / {secret} / {ip:?}");
    }
}

#[test]
fn a_credential_s_rate_limit_is_in_the_snapshot() {
    let mut limited = cred("limited", 1, &[10]);
    limited.lifecycle.rate_limit = Some("5/s".parse().unwrap());
    let source = SnapshotSource {
        revision: 1,
        admins: vec![admin(1, "alice", true)],
        roles: vec![role(10, "Tickets", &["OpenTicket"])],
        credentials: vec![limited, cred("plain", 1, &[10])],
    };
    let snapshot = Snapshot::build(&source, Arc::new(Catalog::builtin()));
    let rate = |id| snapshot.authenticate(id, SECRET).unwrap().rate_limit();
    assert_eq!(rate("limited").map(|r| r.to_string()), Some("5/s".into()));
    assert_eq!(rate("plain"), None);
}

#[test]
fn the_local_limiter_counts_in_the_slot_and_survives_rebuilds() {
    const SEC: u64 = 1_000_000_000;
    let now = 1_800_000_000 * SEC;
    let mut own = cred("own", 1, &[10]);
    own.lifecycle.rate_limit = Some("2/s".parse().unwrap());
    let mut source = SnapshotSource {
        revision: 1,
        admins: vec![admin(1, "alice", true)],
        roles: vec![role(10, "Tickets", &["OpenTicket"])],
        credentials: vec![own, cred("default", 1, &[10]), cred("unlimited", 1, &[10])],
    };
    let catalog = Arc::new(Catalog::builtin());
    let first = Snapshot::build(&source, catalog.clone());
    let count = |snapshot: &Snapshot, id: &str, default: Option<&str>, at: u64| {
        let default = default.map(|d| d.parse().unwrap());
        let credential = snapshot.authenticate(id, SECRET).unwrap();
        credential.count_call(default, || at)
    };
    // A burst of the rate, then a wait of one emission interval.
    assert_eq!(count(&first, "own", None, now), None);
    assert_eq!(
        count(&first, "own", Some("100/s"), now),
        None,
        "its own rate wins"
    );
    assert_eq!(
        count(&first, "own", None, now),
        Some(std::time::Duration::from_millis(500))
    );
    assert_eq!(count(&first, "default", Some("1/s"), now), None);
    assert!(count(&first, "default", Some("1/s"), now).is_some());
    assert_eq!(count(&first, "unlimited", None, now), None);
    // A rebuild keeps the spent budgets of credentials whose rate is unchanged.
    source.revision = 2;
    let second = Snapshot::build(&source, catalog.clone());
    second.carry_limits_from(&first);
    assert!(count(&second, "own", None, now).is_some());
    assert!(count(&second, "default", Some("1/s"), now).is_some());
    assert_eq!(count(&second, "own", None, now + SEC), None, "refilled");
    // A changed rate starts afresh.
    source.credentials[0].lifecycle.rate_limit = Some("3/s".parse().unwrap());
    let third = Snapshot::build(&source, catalog);
    third.carry_limits_from(&second);
    assert_eq!(count(&third, "own", None, now), None);
}
