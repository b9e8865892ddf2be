//! Shared setup for store tests: a fresh database per test.

use std::sync::Arc;

use keygate_core::Catalog;
use keygate_store::{Manager, Store};

/// A fresh SQLite database in a temporary directory, removed on drop.
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keygate.db").display());
        Self { url, _dir: dir }
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        keygate_store::open(&self.url).await.unwrap()
    }

    pub async fn manager(&self) -> Manager {
        Manager::new(self.store().await, Arc::new(Catalog::builtin()))
    }
}
