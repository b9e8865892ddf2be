//! Lists paged, filtered, searched, counted and naturally ordered in the
//! database (issue 12: lists that scale), on a real SQLite file and a
//! scratch PostgreSQL database (`sqlite::…`, `postgres::…`). Every page is
//! checked against an oracle that filters and sorts the whole list in
//! memory by the same rules, and the two backends must give the same pages.

#[macro_use]
mod common;

use std::sync::Arc;

use common::TestDb;
use keygate_core::listing::{natural_cmp, sort_key};
use keygate_core::model::{Credential, Lifecycle};
use keygate_core::{AdminId, ClientId, PlainSecret, RoleId};
use keygate_store::{
    CredentialQuery, CredentialSort, CredentialState, NewCredential, RoleAssignment, RoleDraft,
    RoleQuery, Store,
};

on_both_backends!(
    roles_sort_naturally_and_page,
    role_search_matches_literally_and_ignores_case,
    unheld_roles_are_those_no_credential_holds,
    every_credential_filter_matches_the_oracle,
    every_sort_pages_like_the_oracle,
    positions_name_the_page_of_a_credential,
    like_wildcards_in_a_search_are_literal,
    keys_are_filled_for_rows_written_without_them,
);

/// "Now" for every query: far enough from the epoch for 90-day windows.
const NOW: i64 = 1_900_000_000;
const DAY: i64 = 86_400;

/// Role names, in the order they are created (not sorted).
const ROLE_NAMES: &[&str] = &[
    "Role 10",
    "role 2",
    "Role 1",
    "Billing",
    "Émile",
    "école 3",
    "50% off",
    "50 off",
    "a_b",
    "axb",
    "Role 02b",
    "ΣΩ",
    "Zeta",
    "Unheld 9",
    "Unheld 10",
];

/// One credential of the fixture.
struct Spec {
    identifier: &'static str,
    admin: usize,
    description: &'static str,
    roles: &'static [&'static str],
    enabled: bool,
    expires_at: Option<i64>,
    clients: &'static [i64],
    created_days_ago: i64,
    last_access_days_ago: Option<i64>,
}

const ADMINS: &[&str] = &["alice", "bob", "zoë"];

const SPECS: &[Spec] = &[
    spec("cred-01", 0, "Server 10", &["Role 1"], None, 200, None),
    spec(
        "cred-02",
        0,
        "server 2",
        &["role 2", "Billing"],
        None,
        10,
        None,
    ),
    Spec {
        enabled: false,
        ..spec(
            "cred-03",
            1,
            "Backup 100%",
            &["Billing"],
            None,
            100,
            Some(95),
        )
    },
    Spec {
        expires_at: Some(NOW - 1),
        clients: &[12, 40],
        ..spec("CRED-04", 1, "backup_1", &["a_b"], None, 5, Some(1))
    },
    Spec {
        clients: &[4],
        ..spec("cred-05", 0, "Ünïcode Ω", &["Émile"], None, 300, Some(1))
    },
    Spec {
        clients: &[124],
        expires_at: Some(NOW + DAY),
        ..spec("cred-06", 2, "", &[], None, 91, None)
    },
    spec(
        "cred-07",
        2,
        "Server 02",
        &["Role 10", "ΣΩ"],
        None,
        89,
        None,
    ),
    spec(
        "cred-08",
        1,
        "report\\path",
        &["50% off"],
        None,
        120,
        Some(89),
    ),
    spec(
        "cred-09",
        0,
        "50 off report",
        &["50 off"],
        None,
        120,
        Some(91),
    ),
    spec("cred-10", 1, "axb", &["axb"], None, 3, None),
];

#[allow(clippy::too_many_arguments)]
const fn spec(
    identifier: &'static str,
    admin: usize,
    description: &'static str,
    roles: &'static [&'static str],
    expires_at: Option<i64>,
    created_days_ago: i64,
    last_access_days_ago: Option<i64>,
) -> Spec {
    Spec {
        identifier,
        admin,
        description,
        roles,
        enabled: true,
        expires_at,
        clients: &[],
        created_days_ago,
        last_access_days_ago,
    }
}

/// Bulk credentials besides the specs, so lists span several pages.
const BULK: usize = 23;

/// A database with the fixture's admins, roles and credentials.
struct Fixture {
    _db: TestDb,
    url: String,
    store: Arc<dyn Store>,
    admins: Vec<AdminId>,
    roles: Vec<(String, RoleId)>,
}

impl Fixture {
    fn role(&self, name: &str) -> RoleId {
        self.roles.iter().find(|(n, _)| n == name).unwrap().1
    }
}

async fn fixture(db: TestDb) -> Fixture {
    let store = db.store().await;
    let mut admins = Vec::new();
    for name in ADMINS {
        admins.push(store.create_admin(name, "x").await.unwrap().id);
    }
    let mut roles = Vec::new();
    for name in ROLE_NAMES {
        let draft = RoleDraft {
            name: name.to_string(),
            description: format!("About {name}"),
            actions: vec!["GetClients".into()],
        };
        roles.push((
            name.to_string(),
            store.create_role(&draft).await.unwrap().id,
        ));
    }
    let fixture = Fixture {
        url: db.url.clone(),
        _db: db,
        store,
        admins,
        roles,
    };
    for spec in SPECS {
        add(&fixture, spec).await;
    }
    for n in 1..=BULK {
        let identifier: &'static str = Box::leak(format!("bulk-{n:02}").into_boxed_str());
        let description: &'static str = Box::leak(format!("Bulk {n}").into_boxed_str());
        let roles: &'static [&'static str] = if n % 3 == 0 { &["Billing"] } else { &[] };
        let bulk = spec(identifier, n % 2, description, roles, None, n as i64, None);
        add(&fixture, &bulk).await;
    }
    fixture
}

async fn add(fixture: &Fixture, spec: &Spec) {
    let new = NewCredential {
        identifier: spec.identifier.into(),
        hashes: PlainSecret::generate().hashes(),
        admin_id: fixture.admins[spec.admin],
        description: spec.description.into(),
        lifecycle: Lifecycle {
            enabled: spec.enabled,
            expires_at: spec.expires_at,
            client_ids: spec.clients.iter().map(|&id| ClientId(id)).collect(),
            ..Lifecycle::default()
        },
    };
    let roles = spec.roles.iter().map(|r| fixture.role(r)).collect();
    let store = &fixture.store;
    let created = store
        .create_credential(&new, &RoleAssignment::Roles(roles))
        .await
        .unwrap();
    // Made to look old, as only SQL can.
    execute(
        &fixture.url,
        &format!(
            "UPDATE credentials SET created_at = {} WHERE id = {}",
            NOW - spec.created_days_ago * DAY,
            created.id.0
        ),
    )
    .await;
    if let Some(days) = spec.last_access_days_ago {
        let at = NOW - days * DAY;
        store
            .record_access(&[(spec.identifier.into(), at)])
            .await
            .unwrap();
    }
}

/// Runs one statement on the database behind `url`, beside the store.
async fn execute(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

fn query() -> CredentialQuery {
    CredentialQuery {
        now: NOW,
        limit: 1000,
        ..CredentialQuery::default()
    }
}

/// Every credential, in id order, with its roles.
async fn everything(fixture: &Fixture) -> Vec<Credential> {
    fixture.store.list_credentials(None).await.unwrap()
}

/// The oracle: what `query` selects, filtered in memory by the rules the
/// UI applied before issue 12.
fn oracle_matches(c: &Credential, q: &CredentialQuery) -> bool {
    let needle = q.search.trim().to_lowercase();
    let has = |text: &str| text.to_lowercase().contains(&needle);
    let searched = needle.is_empty()
        || has(&c.identifier)
        || has(&c.description)
        || has(&c.admin)
        || c.roles.iter().any(|r| has(&r.name))
        || c.lifecycle
            .client_ids
            .iter()
            .any(|id| id.0.to_string() == needle.trim_start_matches('#'));
    let lifecycle = &c.lifecycle;
    let state = match q.state {
        None => true,
        Some(CredentialState::Enabled) => lifecycle.enabled && !lifecycle.expired_at(q.now),
        Some(CredentialState::Disabled) => !lifecycle.enabled,
        Some(CredentialState::Expired) => lifecycle.enabled && lifecycle.expired_at(q.now),
        Some(CredentialState::Unused) => {
            keygate_core::listing::is_unused(c.created_at, c.last_access, q.now)
        }
    };
    searched
        && state
        && q.admin.is_none_or(|a| c.admin_id == a)
        && q.role.is_none_or(|r| c.roles.iter().any(|h| h.id == r))
        && q.client.is_none_or(|id| lifecycle.client_ids.contains(&id))
}

/// The oracle's order: by the sort column, ties by id, all reversed when
/// descending.
fn oracle(all: &[Credential], q: &CredentialQuery) -> Vec<String> {
    let mut selected: Vec<&Credential> = all.iter().filter(|c| oracle_matches(c, q)).collect();
    selected.sort_by(|a, b| {
        let by = match q.sort {
            CredentialSort::Created => a.created_at.cmp(&b.created_at),
            CredentialSort::Identifier => a.identifier.cmp(&b.identifier),
            CredentialSort::Admin => a.admin.cmp(&b.admin),
            CredentialSort::LastAccess => a.last_access.cmp(&b.last_access),
            CredentialSort::Description => sort_key(&a.description).cmp(&sort_key(&b.description)),
        };
        by.then(a.id.cmp(&b.id))
    });
    if q.desc {
        selected.reverse();
    }
    selected.iter().map(|c| c.identifier.clone()).collect()
}

async fn page(fixture: &Fixture, q: &CredentialQuery) -> (Vec<String>, u64) {
    let page = fixture.store.credentials_page(q).await.unwrap();
    let ids = page
        .credentials
        .iter()
        .map(|c| c.identifier.clone())
        .collect();
    (ids, page.total)
}

fn role_names(page: &keygate_store::RolePage) -> Vec<&str> {
    page.roles.iter().map(|r| r.name.as_str()).collect()
}

async fn roles_sort_naturally_and_page(db: TestDb) {
    let f = fixture(db).await;
    let all = f
        .store
        .roles_page(&RoleQuery {
            limit: 1000,
            ..RoleQuery::default()
        })
        .await
        .unwrap();
    let mut expected: Vec<&str> = ROLE_NAMES.to_vec();
    expected.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(role_names(&all), expected);
    assert_eq!(all.total, ROLE_NAMES.len() as u64);
    let at = |name: &str| expected.iter().position(|n| *n == name).unwrap();
    assert!(at("role 2") < at("Role 10"), "Role 2 before Role 10");
    assert!(at("Role 1") < at("role 2") && at("role 2") < at("Role 02b"));
    assert!(at("Zeta") < at("école 3") && at("école 3") < at("Émile"));
    assert_eq!(all.roles[0].actions, ["GetClients"], "actions come along");

    // Pages of 4 are the whole list cut in pieces, each with the total.
    let mut paged = Vec::new();
    for offset in (0..ROLE_NAMES.len() as u64 + 4).step_by(4) {
        let page = f
            .store
            .roles_page(&RoleQuery {
                offset,
                limit: 4,
                ..RoleQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, ROLE_NAMES.len() as u64);
        assert!(page.roles.len() <= 4);
        paged.extend(page.roles.iter().map(|r| r.name.clone()));
    }
    assert_eq!(paged, expected);
    let past = f
        .store
        .roles_page(&RoleQuery {
            offset: 99,
            ..RoleQuery::default()
        })
        .await
        .unwrap();
    assert!(past.roles.is_empty());
    assert_eq!(past.total, ROLE_NAMES.len() as u64, "counted past the end");
    let none = f
        .store
        .roles_page(&RoleQuery {
            limit: 0,
            ..RoleQuery::default()
        })
        .await
        .unwrap();
    assert!(none.roles.is_empty());
    assert_eq!(none.total, ROLE_NAMES.len() as u64, "a count alone");
}

async fn search_roles(f: &Fixture, search: &str) -> Vec<String> {
    let page = f
        .store
        .roles_page(&RoleQuery {
            search: search.into(),
            limit: 1000,
            ..RoleQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, page.roles.len() as u64);
    page.roles.iter().map(|r| r.name.clone()).collect()
}

async fn role_search_matches_literally_and_ignores_case(db: TestDb) {
    let f = fixture(db).await;
    assert_eq!(
        search_roles(&f, "  ROLE 1 ").await,
        ["Role 1", "Role 10"],
        "trimmed, any case"
    );
    assert_eq!(search_roles(&f, "50%").await, ["50% off"]);
    assert_eq!(search_roles(&f, "a_b").await, ["a_b"], "_ is no wildcard");
    assert_eq!(search_roles(&f, "ÉMILE").await, ["Émile"], "Unicode case");
    assert_eq!(search_roles(&f, "σω").await, ["ΣΩ"]);
    assert_eq!(
        search_roles(&f, "about zeta").await,
        ["Zeta"],
        "descriptions match too"
    );
    assert_eq!(search_roles(&f, "%").await, ["50% off"]);
    assert!(search_roles(&f, "\\").await.is_empty());
    assert!(search_roles(&f, "'; DROP TABLE roles; --").await.is_empty());
    assert_eq!(search_roles(&f, "   ").await.len(), ROLE_NAMES.len());
}

async fn unheld_roles_are_those_no_credential_holds(db: TestDb) {
    let f = fixture(db).await;
    let usage = f.store.role_usage().await.unwrap();
    let mut expected: Vec<&str> = ROLE_NAMES
        .iter()
        .copied()
        .filter(|name| !usage.contains_key(&f.role(name)))
        .collect();
    expected.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(
        expected,
        ["Role 02b", "Unheld 9", "Unheld 10", "Zeta", "école 3"]
    );
    let unheld = f
        .store
        .roles_page(&RoleQuery {
            unheld: true,
            limit: 2,
            ..RoleQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(unheld.total, expected.len() as u64);
    assert_eq!(role_names(&unheld), expected[..2]);
    let searched = f
        .store
        .roles_page(&RoleQuery {
            unheld: true,
            search: "unheld".into(),
            ..RoleQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(role_names(&searched), ["Unheld 9", "Unheld 10"]);
}

/// Every filter alone and some together, each checked against the oracle.
fn filter_battery(f: &Fixture) -> Vec<CredentialQuery> {
    let mut queries = Vec::new();
    for search in [
        "",
        "cred-0",
        "CRED-04",
        "server",
        "SERVER 2",
        "bob",
        "ZOË",
        "billing",
        "σω",
        "ünï",
        "12",
        "#40",
        "4",
        "#124",
        "012",
        "100%",
        "_1",
        "%",
        "_",
        "\\",
        "report\\path",
        "nothing at all",
    ] {
        queries.push(CredentialQuery {
            search: search.into(),
            ..query()
        });
    }
    for state in [
        CredentialState::Enabled,
        CredentialState::Disabled,
        CredentialState::Expired,
        CredentialState::Unused,
    ] {
        queries.push(CredentialQuery {
            state: Some(state),
            ..query()
        });
        queries.push(CredentialQuery {
            state: Some(state),
            search: "server".into(),
            ..query()
        });
    }
    for admin in &f.admins {
        queries.push(CredentialQuery {
            admin: Some(*admin),
            ..query()
        });
    }
    for (_, role) in &f.roles {
        queries.push(CredentialQuery {
            role: Some(*role),
            ..query()
        });
    }
    for client in [4, 12, 40, 124, 5] {
        queries.push(CredentialQuery {
            client: Some(ClientId(client)),
            ..query()
        });
    }
    queries.push(CredentialQuery {
        admin: Some(f.admins[1]),
        role: Some(f.role("Billing")),
        state: Some(CredentialState::Enabled),
        search: "bulk".into(),
        ..query()
    });
    // The same credentials judged at another time.
    queries.push(CredentialQuery {
        state: Some(CredentialState::Unused),
        now: NOW + 100 * DAY,
        ..query()
    });
    queries.push(CredentialQuery {
        state: Some(CredentialState::Expired),
        now: NOW + 2 * DAY,
        ..query()
    });
    queries
}

async fn every_credential_filter_matches_the_oracle(db: TestDb) {
    let f = fixture(db).await;
    let all = everything(&f).await;
    assert_eq!(all.len(), SPECS.len() + BULK);
    for q in filter_battery(&f) {
        let (ids, total) = page(&f, &q).await;
        assert_eq!(ids, oracle(&all, &q), "{q:?}");
        assert_eq!(total, ids.len() as u64, "{q:?}");
    }
    // Spot checks that the oracle itself says what the issue means.
    let (unused, _) = page(
        &f,
        &CredentialQuery {
            state: Some(CredentialState::Unused),
            search: "cred".into(),
            ..query()
        },
    )
    .await;
    assert_eq!(
        unused,
        ["cred-01", "cred-09", "cred-03", "cred-06"],
        "never used and created 90+ days ago, or last used 90+ days ago"
    );
    let (client, _) = page(
        &f,
        &CredentialQuery {
            search: "#4".into(),
            ..query()
        },
    )
    .await;
    assert_eq!(client, ["cred-05"], "a client id matches whole");
    let page_of_roles = f.store.credentials_page(&query()).await.unwrap();
    let two = page_of_roles
        .credentials
        .iter()
        .find(|c| c.identifier == "cred-02")
        .unwrap();
    let names: Vec<&str> = two.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Billing", "role 2"], "roles come along, by name");
}

fn sorts() -> Vec<(CredentialSort, bool)> {
    let mut sorts = Vec::new();
    for sort in [
        CredentialSort::Created,
        CredentialSort::Identifier,
        CredentialSort::Admin,
        CredentialSort::LastAccess,
        CredentialSort::Description,
    ] {
        sorts.push((sort, false));
        sorts.push((sort, true));
    }
    sorts
}

async fn every_sort_pages_like_the_oracle(db: TestDb) {
    let f = fixture(db).await;
    let all = everything(&f).await;
    for (sort, desc) in sorts() {
        for search in ["", "e"] {
            let whole = CredentialQuery {
                sort,
                desc,
                search: search.into(),
                ..query()
            };
            let expected = oracle(&all, &whole);
            let mut paged = Vec::new();
            for offset in (0..expected.len() as u64 + 7).step_by(7) {
                let (ids, total) = page(
                    &f,
                    &CredentialQuery {
                        offset,
                        limit: 7,
                        ..whole.clone()
                    },
                )
                .await;
                assert_eq!(total, expected.len() as u64, "{whole:?}");
                paged.extend(ids);
            }
            assert_eq!(paged, expected, "{sort:?} desc={desc} search={search:?}");
        }
    }
    // Natural order of descriptions: "server 2" and "Server 02" before
    // "Server 10".
    let (by_description, _) = page(
        &f,
        &CredentialQuery {
            sort: CredentialSort::Description,
            search: "server".into(),
            ..query()
        },
    )
    .await;
    assert_eq!(by_description, ["cred-02", "cred-07", "cred-01"]);
}

async fn positions_name_the_page_of_a_credential(db: TestDb) {
    let f = fixture(db).await;
    let all = everything(&f).await;
    for (sort, desc) in sorts() {
        let q = CredentialQuery {
            sort,
            desc,
            state: Some(CredentialState::Enabled),
            ..query()
        };
        let expected = oracle(&all, &q);
        for (at, identifier) in expected.iter().enumerate() {
            let position = f.store.credential_position(&q, identifier).await.unwrap();
            assert_eq!(position, Some(at as u64), "{identifier} in {q:?}");
        }
        let disabled = f.store.credential_position(&q, "cred-03").await.unwrap();
        assert_eq!(disabled, None, "not selected");
        let unknown = f.store.credential_position(&q, "nope").await.unwrap();
        assert_eq!(unknown, None);
    }
}

async fn like_wildcards_in_a_search_are_literal(db: TestDb) {
    let f = fixture(db).await;
    let search = |text: &str| CredentialQuery {
        search: text.into(),
        ..query()
    };
    assert_eq!(page(&f, &search("100%")).await.0, ["cred-03"]);
    assert_eq!(page(&f, &search("p_1")).await.0, ["CRED-04"]);
    assert_eq!(
        page(&f, &search("%")).await.0,
        ["cred-08", "cred-03"],
        "a % in a description or a role name"
    );
    assert_eq!(page(&f, &search("report\\path")).await.0, ["cred-08"]);
    assert_eq!(
        page(&f, &search("report%path")).await.0,
        Vec::<String>::new()
    );
    assert_eq!(page(&f, &search("' OR '1'='1")).await.1, 0);
}

async fn keys_are_filled_for_rows_written_without_them(db: TestDb) {
    let url = db.url.clone();
    let store = db.store().await;
    let admin = store.create_admin("carol", "x").await.unwrap();
    // As a keygate from before migration 0006 (or a backup import) writes.
    for (name, at) in [("Old 10", 1), ("OLD 9", 2)] {
        execute(
            &url,
            &format!(
                "INSERT INTO roles (name, name_key, description, created_at) \
                 VALUES ('{name}', '{}', 'Legacy ÄÖ', {at})",
                name.to_lowercase()
            ),
        )
        .await;
    }
    execute(
        &url,
        &format!(
            "INSERT INTO credentials (identifier, secret_sha256, secret_md5_sha256, admin_id, \
             description, created_at) VALUES ('legacy', X'00', X'00', {}, 'Imported ÜBER', 5)",
            admin.id.0
        )
        .replace(
            "X'00'",
            if url.starts_with("sqlite:") {
                "X'00'"
            } else {
                "'\\x00'"
            },
        ),
    )
    .await;
    let roles = store.roles_page(&RoleQuery::default()).await.unwrap();
    assert_eq!(role_names(&roles), ["OLD 9", "Old 10"]);
    let found = store
        .roles_page(&RoleQuery {
            search: "legacy äö".into(),
            ..RoleQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total, 2, "descriptions searchable once filled");
    let credentials = store
        .credentials_page(&CredentialQuery {
            search: "über".into(),
            sort: CredentialSort::Description,
            ..CredentialQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(credentials.total, 1);
    // A new store fills keys on open too: nothing is left without one.
    execute(
        &url,
        "INSERT INTO roles (name, name_key, description, created_at) VALUES ('Old 1', 'old 1', '', 3)",
    )
    .await;
    let reopened = keygate_store::open(&url).await.unwrap();
    let roles = reopened.roles_page(&RoleQuery::default()).await.unwrap();
    assert_eq!(role_names(&roles), ["Old 1", "OLD 9", "Old 10"]);
}

/// The same fixture and queries give the same pages on SQLite and
/// PostgreSQL (skipped, saying so, without a PostgreSQL server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_give_the_same_pages() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let sqlite = fixture(TestDb::sqlite()).await;
    let postgres = fixture(pg).await;
    let mut compared = 0;
    for q in filter_battery(&sqlite) {
        // Ids are the same on both: same inserts, same order.
        assert_eq!(page(&sqlite, &q).await, page(&postgres, &q).await, "{q:?}");
        compared += 1;
    }
    for (sort, desc) in sorts() {
        for offset in [0, 7, 30] {
            let q = CredentialQuery {
                sort,
                desc,
                offset,
                limit: 7,
                ..query()
            };
            assert_eq!(page(&sqlite, &q).await, page(&postgres, &q).await, "{q:?}");
            compared += 1;
        }
    }
    for search in ["", "role", "%", "é", "unheld"] {
        let q = RoleQuery {
            search: search.into(),
            ..RoleQuery::default()
        };
        let (a, b) = (
            sqlite.store.roles_page(&q).await.unwrap(),
            postgres.store.roles_page(&q).await.unwrap(),
        );
        assert_eq!((role_names(&a), a.total), (role_names(&b), b.total));
        compared += 1;
    }
    assert!(compared > 50);
}
