//! Shared setup for store tests: a fresh database per test, on SQLite or
//! PostgreSQL, and the macro that runs one test body against both.
#![allow(dead_code)]

use std::sync::Arc;

use keygate_core::Catalog;
use keygate_store::{Manager, Store};
use keygate_testkit::scratch::ScratchDatabase;

/// What keeps a test database alive; dropping it removes the database.
enum Guard {
    Sqlite(tempfile::TempDir),
    Postgres(ScratchDatabase),
}

/// A fresh database, removed on drop (also when the test panics).
pub struct TestDb {
    pub url: String,
    guard: Guard,
}

impl TestDb {
    /// A new SQLite file in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keygate.db").display());
        Self {
            url,
            guard: Guard::Sqlite(dir),
        }
    }

    /// A new PostgreSQL database; `None` (with a printed SKIPPED notice)
    /// when no server is reachable.
    pub async fn postgres() -> Option<Self> {
        let scratch = ScratchDatabase::create_or_skip().await?;
        Some(Self {
            url: scratch.url().to_string(),
            guard: Guard::Postgres(scratch),
        })
    }

    /// The PostgreSQL database behind this one, if it is one.
    pub fn scratch(&self) -> Option<&ScratchDatabase> {
        match &self.guard {
            Guard::Postgres(scratch) => Some(scratch),
            Guard::Sqlite(_) => None,
        }
    }

    /// A new connection pool on the database (a second one acts like
    /// another process or instance).
    pub async fn store(&self) -> Arc<dyn Store> {
        keygate_store::open(&self.url).await.unwrap()
    }

    /// A manager on a new store.
    pub async fn manager(&self) -> Manager {
        Manager::new(self.store().await, Arc::new(Catalog::builtin()))
    }
}

/// For each `async fn NAME(db: TestDb)` listed, generates the tests
/// `sqlite::NAME` and `postgres::NAME` (which skips, saying so, without a
/// reachable server): one body, both backends.
#[allow(unused_macros)] // not every test file runs on both
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::TestDb::sqlite()).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = crate::common::TestDb::postgres().await {
                        super::$name(db).await
                    }
                }
            )+
        }
    };
}
