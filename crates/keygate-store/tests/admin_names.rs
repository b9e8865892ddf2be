//! Admin usernames and role names (issue 16, item 9): NFKC-normalised at
//! every input, admin usernames unique ignoring case with a case-insensitive
//! lookup, and migration 0004 over a database that already holds usernames
//! differing only in case. Each body runs on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::path::Path;
use std::str::FromStr;

use common::TestDb;
use keygate_store::{Error, RoleInput};

on_both_backends!(
    usernames_ignore_case_and_look_alikes,
    role_names_are_nfkc_normalised,
    case_duplicates_survive_the_migration,
);

async fn usernames_ignore_case_and_look_alikes(db: TestDb) {
    let m = db.manager().await;
    let alice = m.add_admin("alice", "password1").await.unwrap();
    for twin in ["ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
        match m.add_admin(twin, "password2").await {
            Err(Error::Conflict(text)) => {
                assert!(text.contains("\"alice\" already exists"), "{twin}: {text}")
            }
            other => panic!("{twin}: expected a conflict, got {other:?}"),
        }
    }
    assert_eq!(m.list_admins().await.unwrap().len(), 1);
    for name in ["alice", "ALICE", " Alice ", "ａｌｉｃｅ"] {
        assert_eq!(m.admin(name).await.unwrap().id, alice.id, "{name}");
        let login = m.check_login(name, "password1").await.unwrap();
        assert_eq!(login.map(|a| a.id), Some(alice.id), "login as {name}");
    }
    assert!(m.check_login("ALICE", "password2").await.unwrap().is_none());
    let bob = m.add_admin("ｂｏｂ", "password1").await.unwrap();
    assert_eq!(bob.username, "bob", "stored in NFKC");
    m.set_admin_enabled("BOB", false).await.unwrap();
    assert!(!m.admin("bob").await.unwrap().enabled);
}

async fn role_names_are_nfkc_normalised(db: TestDb) {
    let m = db.manager().await;
    let input = |name: &str| RoleInput {
        name: name.into(),
        ..RoleInput::default()
    };
    let role = m.create_role(input("Ｓｕｐｐｏｒｔ")).await.unwrap();
    assert_eq!(role.name, "Support");
    for twin in ["support", "ｓｕｐｐｏｒｔ", "SUPPORT"] {
        assert!(
            matches!(m.create_role(input(twin)).await, Err(Error::Conflict(_))),
            "{twin}"
        );
    }
    assert_eq!(m.role("ＳＵＰＰＯＲＴ").await.unwrap().id, role.id);
}

/// Runs only the migrations before 0004 and inserts `names` as admins.
async fn old_database(db: &TestDb, names: &[&str]) {
    let sqlite = db.url.starts_with("sqlite:");
    let backend = if sqlite { "sqlite" } else { "postgres" };
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let older = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(&source).unwrap() {
        let file = file.unwrap();
        let name = file.file_name().into_string().unwrap();
        if name.as_str() < "0004" {
            std::fs::copy(file.path(), older.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(older.path()).await.unwrap();
    let insert = "INSERT INTO admins (username, password_hash, created_at) VALUES ($1, 'x', 1)";
    if sqlite {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        migrator.run(&pool).await.unwrap();
        for name in names {
            sqlx::query(insert).bind(name).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        for name in names {
            sqlx::query(insert).bind(name).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
}

/// "alice", "ALICE" and "Alice" made before 0004 all survive it: each is
/// found by its exact name, any other spelling finds the oldest, and no new
/// case twin can be added.
async fn case_duplicates_survive_the_migration(db: TestDb) {
    old_database(&db, &["alice", "ALICE", "Alice", "Bob"]).await;
    let m = db.manager().await;
    let names: Vec<String> = m
        .list_admins()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.username)
        .collect();
    assert_eq!(names.len(), 4, "every row kept: {names:?}");
    for exact in ["alice", "ALICE", "Alice", "Bob"] {
        assert_eq!(m.admin(exact).await.unwrap().username, exact);
    }
    assert_eq!(m.admin("aLiCe").await.unwrap().username, "alice", "oldest");
    assert_eq!(m.admin("bob").await.unwrap().username, "Bob");
    for twin in ["ALIce", "BOB"] {
        assert!(
            matches!(
                m.add_admin(twin, "password1").await,
                Err(Error::Conflict(_))
            ),
            "{twin}"
        );
    }
    m.add_admin("carol", "password1").await.unwrap();
    assert!(matches!(
        m.add_admin("CAROL", "password1").await,
        Err(Error::Conflict(_))
    ));
}
