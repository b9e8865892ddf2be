//! Applying deltas must decide exactly as a full build of the same data:
//! a model of the store is changed at random, each batch of changes turned
//! into the delta the store would report, and every decision of the
//! applied snapshot compared with a snapshot built from scratch.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::secret::PlainSecret;

const SECRET: &str = "the-secret";
const OLD_SECRET: &str = "the-old-secret";
const NOW: i64 = 1_800_000_000;

/// The store as the model sees it.
#[derive(Clone, Debug, Default)]
struct World {
    revision: i64,
    admins: BTreeMap<i64, AdminEntry>,
    roles: BTreeMap<i64, RoleEntry>,
    credentials: BTreeMap<String, CredentialEntry>,
}

/// One change, as the Manager would make it.
#[derive(Clone, Debug)]
enum Op {
    SetAdmin {
        id: i64,
        enabled: bool,
        renamed: bool,
    },
    DeleteAdmin(i64),
    SetRole {
        id: i64,
        actions: Vec<usize>,
        renamed: bool,
    },
    DeleteRole(i64),
    SetCredential {
        n: usize,
        admin: i64,
        roles: Vec<i64>,
        life: u8,
    },
    DeleteCredential(usize),
}

const ACTIONS: [&str; 4] = ["OpenTicket", "GetInvoices", "GetClients", "AddOrder"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..4i64, any::<bool>(), any::<bool>()).prop_map(|(id, enabled, renamed)| Op::SetAdmin {
            id,
            enabled,
            renamed
        }),
        (1..4i64).prop_map(Op::DeleteAdmin),
        (
            10..14i64,
            prop::collection::vec(0..4usize, 0..3),
            any::<bool>()
        )
            .prop_map(|(id, actions, renamed)| Op::SetRole {
                id,
                actions,
                renamed
            }),
        (10..14i64).prop_map(Op::DeleteRole),
        (
            0..12usize,
            1..4i64,
            prop::collection::vec(10..15i64, 0..3),
            0..8u8
        )
            .prop_map(|(n, admin, roles, life)| Op::SetCredential {
                n,
                admin,
                roles,
                life
            }),
        (0..12usize).prop_map(Op::DeleteCredential),
    ]
}

/// What one batch touched, to report as the store's change log would.
#[derive(Default)]
struct Touched {
    admins: Vec<i64>,
    roles: Vec<i64>,
    credentials: Vec<String>,
}

/// A credential's lifecycle from a small number, covering every kind of
/// extra: an old secret, IPv4 and IPv6 allowlists, a client scope, a rate.
fn lifecycle(life: u8) -> (Lifecycle, Option<(SecretHashes, i64)>) {
    let mut lifecycle = Lifecycle::default();
    let mut old = None;
    match life {
        1 => lifecycle.enabled = false,
        2 => lifecycle.expires_at = Some(NOW - 1),
        3 => lifecycle.allow_ips = vec!["10.0.0.0/8".parse().unwrap()],
        4 => lifecycle.allow_ips = vec!["::1/128".parse().unwrap()],
        5 => lifecycle.client_ids = vec![ClientId(7), ClientId(3)],
        6 => lifecycle.rate_limit = Some("5/s".parse().unwrap()),
        7 => old = Some((PlainSecret::from_user(OLD_SECRET.into()).hashes(), NOW + 60)),
        _ => {}
    }
    (lifecycle, old)
}

impl World {
    fn apply(&mut self, op: &Op, touched: &mut Touched) {
        match op {
            Op::SetAdmin {
                id,
                enabled,
                renamed,
            } => {
                let name = if *renamed {
                    format!("admin{id}b")
                } else {
                    format!("admin{id}")
                };
                self.admins.insert(
                    *id,
                    AdminEntry {
                        id: AdminId(*id),
                        username: name,
                        enabled: *enabled,
                    },
                );
                touched.admins.push(*id);
            }
            Op::DeleteAdmin(id) => {
                self.admins.remove(id);
                touched.admins.push(*id);
                // Its credentials go with it (ON DELETE CASCADE, logged).
                let owned: Vec<String> = self
                    .credentials
                    .values()
                    .filter(|c| c.admin_id == AdminId(*id))
                    .map(|c| c.identifier.clone())
                    .collect();
                for identifier in owned {
                    self.credentials.remove(&identifier);
                    touched.credentials.push(identifier);
                }
            }
            Op::SetRole {
                id,
                actions,
                renamed,
            } => {
                let name = if *renamed {
                    format!("role{id}b")
                } else {
                    format!("role{id}")
                };
                self.roles.insert(
                    *id,
                    RoleEntry {
                        id: RoleId(*id),
                        name,
                        actions: actions.iter().map(|&a| ACTIONS[a].to_string()).collect(),
                    },
                );
                touched.roles.push(*id);
            }
            Op::DeleteRole(id) => {
                self.roles.remove(id);
                touched.roles.push(*id);
                // Its links go with it (ON DELETE CASCADE, logged).
                for credential in self.credentials.values_mut() {
                    if credential.role_ids.contains(&RoleId(*id)) {
                        credential.role_ids.retain(|r| *r != RoleId(*id));
                        touched.credentials.push(credential.identifier.clone());
                    }
                }
            }
            Op::SetCredential {
                n,
                admin,
                roles,
                life,
            } => {
                // Foreign keys: only existing admins and roles.
                if !self.admins.contains_key(admin) {
                    return;
                }
                let role_ids = roles
                    .iter()
                    .filter(|r| self.roles.contains_key(r))
                    .map(|r| RoleId(*r))
                    .collect();
                let (lifecycle, old_secret) = lifecycle(*life);
                let identifier = format!("cred{n}");
                self.credentials.insert(
                    identifier.clone(),
                    CredentialEntry {
                        identifier: identifier.clone(),
                        hashes: PlainSecret::from_user(SECRET.into()).hashes(),
                        admin_id: AdminId(*admin),
                        role_ids,
                        lifecycle,
                        old_secret,
                    },
                );
                touched.credentials.push(identifier);
            }
            Op::DeleteCredential(n) => {
                let identifier = format!("cred{n}");
                self.credentials.remove(&identifier);
                touched.credentials.push(identifier);
            }
        }
    }

    fn source(&self) -> SnapshotSource {
        SnapshotSource {
            revision: self.revision,
            admins: self.admins.values().cloned().collect(),
            roles: self.roles.values().cloned().collect(),
            credentials: self.credentials.values().cloned().collect(),
        }
    }

    /// The delta the store reports for `touched`, from `since`.
    fn delta(&self, since: i64, touched: &Touched) -> SnapshotDelta {
        let mut delta = SnapshotDelta {
            since,
            revision: self.revision,
            ..SnapshotDelta::default()
        };
        for id in &touched.admins {
            match self.admins.get(id) {
                Some(admin) => delta.admins.push(admin.clone()),
                None => delta.removed_admins.push(AdminId(*id)),
            }
        }
        for id in &touched.roles {
            match self.roles.get(id) {
                Some(role) => delta.roles.push(role.clone()),
                None => delta.removed_roles.push(RoleId(*id)),
            }
        }
        for identifier in &touched.credentials {
            match self.credentials.get(identifier) {
                Some(credential) => delta.credentials.push(credential.clone()),
                None => delta.removed_credentials.push(identifier.clone()),
            }
        }
        delta
    }
}

/// Everything a decision tells a caller, comparable.
fn summary(decision: &Decision<'_>) -> String {
    let who = |c: &Authenticated<'_>| {
        format!(
            "{} of {} roles {:?} clients {:?} rate {:?}",
            c.identifier(),
            c.admin(),
            c.roles(),
            c.client_ids(),
            c.rate_limit().map(|r| r.to_string())
        )
    };
    match decision {
        Decision::Allowed(grant) => {
            format!("allowed {} {}", grant.action.name, who(&grant.credential))
        }
        Decision::AuthenticationFailed { action } => format!("failed {action:?}"),
        Decision::Disabled { identifier, action } => format!("disabled {identifier} {action:?}"),
        Decision::Expired { identifier, action } => format!("expired {identifier} {action:?}"),
        Decision::IpNotAllowed { credential, action } => {
            format!("ip {} {action:?}", who(credential))
        }
        Decision::ActionMissing(credential) => format!("missing {}", who(credential)),
        Decision::ActionNotAllowed { credential, action } => {
            format!("not allowed {} {action:?}", who(credential))
        }
    }
}

/// Every decision of `snapshot` over the model's identifiers, secrets,
/// actions and addresses.
fn decisions(snapshot: &Snapshot) -> Vec<String> {
    let ips: [Option<IpAddr>; 3] = [
        None,
        Some("10.1.2.3".parse().unwrap()),
        Some("::1".parse().unwrap()),
    ];
    let mut out = Vec::new();
    for n in 0..13 {
        let identifier = format!("cred{n}");
        for secret in [SECRET, OLD_SECRET, "wrong"] {
            for action in ACTIONS.iter().copied().chain(["", "NoSuchAction"]) {
                for ip in ips {
                    let call = Call::new(&identifier, secret, action).at(NOW).from_ip(ip);
                    out.push(summary(&snapshot.decide(&call)));
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn applied_deltas_decide_as_a_full_build(
        start in prop::collection::vec(op(), 0..12),
        batches in prop::collection::vec(prop::collection::vec(op(), 1..4), 1..10),
    ) {
        let catalog = Arc::new(Catalog::builtin());
        let mut world = World { revision: 1, ..World::default() };
        for op in &start {
            world.apply(op, &mut Touched::default());
        }
        let mut snapshot = Snapshot::build(&world.source(), catalog.clone());
        for batch in &batches {
            let since = world.revision;
            world.revision += 1;
            let mut touched = Touched::default();
            for op in batch {
                world.apply(op, &mut touched);
            }
            snapshot = snapshot.apply(&world.delta(since, &touched)).expect("in sequence");
            let rebuilt = Snapshot::build(&world.source(), catalog.clone());
            prop_assert_eq!(snapshot.revision(), rebuilt.revision());
            prop_assert_eq!(snapshot.len(), rebuilt.len());
            prop_assert_eq!(decisions(&snapshot), decisions(&rebuilt));
        }
    }
}

fn world_of_one() -> World {
    let mut world = World {
        revision: 1,
        ..World::default()
    };
    let mut touched = Touched::default();
    world.apply(
        &Op::SetAdmin {
            id: 1,
            enabled: true,
            renamed: false,
        },
        &mut touched,
    );
    world.apply(
        &Op::SetRole {
            id: 10,
            actions: vec![0],
            renamed: false,
        },
        &mut touched,
    );
    world.apply(
        &Op::SetCredential {
            n: 0,
            admin: 1,
            roles: vec![10],
            life: 6,
        },
        &mut touched,
    );
    world
}

#[test]
fn a_delta_from_another_revision_is_refused() {
    let world = world_of_one();
    let snapshot = Snapshot::build(&world.source(), Arc::new(Catalog::builtin()));
    let stale = SnapshotDelta {
        since: 0,
        revision: 2,
        ..SnapshotDelta::default()
    };
    assert!(snapshot.apply(&stale).is_none());
    let empty = SnapshotDelta {
        since: 1,
        revision: 2,
        ..SnapshotDelta::default()
    };
    let next = snapshot.apply(&empty).unwrap();
    assert_eq!(
        (next.revision(), next.len(), next.changed_since_build()),
        (2, 1, 0)
    );
}

#[test]
fn the_limiter_state_carries_over_an_applied_change() {
    let mut world = world_of_one();
    let first = Snapshot::build(&world.source(), Arc::new(Catalog::builtin()));
    let now = NOW as u64 * 1_000_000_000;
    let count = |snapshot: &Snapshot| {
        snapshot
            .authenticate("cred0", SECRET)
            .unwrap()
            .count_call(None, || now)
    };
    for _ in 0..5 {
        assert_eq!(count(&first), None);
    }
    assert!(count(&first).is_some(), "5/s spent");
    // A change to the credential that keeps its rate keeps its budget, and
    // the next change shares the same changed slot.
    let mut touched = Touched::default();
    world.revision = 2;
    world.apply(
        &Op::SetRole {
            id: 10,
            actions: vec![1],
            renamed: true,
        },
        &mut touched,
    );
    world.apply(
        &Op::SetCredential {
            n: 0,
            admin: 1,
            roles: vec![10],
            life: 6,
        },
        &mut touched,
    );
    let second = first.apply(&world.delta(1, &touched)).unwrap();
    assert!(count(&second).is_some(), "still spent after the change");
    assert_eq!(second.changed_since_build(), 1);
    let third = second
        .apply(&SnapshotDelta {
            since: 2,
            revision: 3,
            ..SnapshotDelta::default()
        })
        .unwrap();
    assert!(count(&third).is_some());
    // Deleted: gone, and the deletion counts as a change.
    world.revision = 4;
    let mut touched = Touched::default();
    world.apply(&Op::DeleteCredential(0), &mut touched);
    let fourth = third.apply(&world.delta(3, &touched)).unwrap();
    assert!(fourth.authenticate("cred0", SECRET).is_none());
    assert_eq!((fourth.len(), fourth.changed_since_build()), (0, 1));
}
