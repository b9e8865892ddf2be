//! The live snapshot: an `ArcSwap` readers load without locking, rebuilt
//! from the store when its revision moves: at once for changes made in this
//! process (the manager's change hook), and by polling or a push feed for
//! other processes'.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use keygate_core::{Catalog, Snapshot};
use keygate_store::Store;
use tokio::sync::watch;

/// The current snapshot, swapped whole after every change.
pub struct LiveSnapshot {
    current: ArcSwap<Snapshot>,
    /// Where snapshots are built from.
    store: Arc<dyn Store>,
    /// The catalog snapshots are built with; swapped by a config reload.
    catalog: ArcSwap<Catalog>,
    degraded: AtomicBool,
    /// Serializes rebuilds so concurrent triggers do the work once.
    rebuilding: tokio::sync::Mutex<()>,
}

impl LiveSnapshot {
    /// Loads the first snapshot from `store`.
    pub async fn load_from(
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
    ) -> keygate_store::Result<Self> {
        let initial = build(&*store, &catalog, None).await?;
        Ok(Self {
            current: ArcSwap::from_pointee(initial),
            store,
            catalog: ArcSwap::new(catalog),
            degraded: AtomicBool::new(false),
            rebuilding: tokio::sync::Mutex::new(()),
        })
    }

    /// Rebuilds the snapshot if the store's revision moved. Returns whether
    /// the store answered; failures are logged once and mark `degraded`.
    pub async fn refresh(&self) -> bool {
        let _guard = self.rebuilding.lock().await;
        let current = self.load().revision();
        let result = match self.store.revision().await {
            Ok(revision) if revision == current => Ok(()),
            Ok(_) => build(
                &*self.store,
                &self.catalog.load(),
                Some(self.current.load_full()),
            )
            .await
            .map(|snapshot| {
                tracing::debug!(
                    revision = snapshot.revision(),
                    credentials = snapshot.len(),
                    "snapshot reloaded"
                );
                self.store(snapshot);
            }),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("store reachable again; snapshot current");
                }
                true
            }
            Err(e) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "store unreachable; still serving the last snapshot");
                }
                false
            }
        }
    }

    /// Rebuilds the snapshot with `catalog` (custom actions changed in a
    /// configuration reload); the old snapshot stays in force on failure.
    pub async fn set_catalog(&self, catalog: Arc<Catalog>) -> keygate_store::Result<()> {
        let _guard = self.rebuilding.lock().await;
        let snapshot = build(&*self.store, &catalog, Some(self.current.load_full())).await?;
        self.catalog.store(catalog);
        self.store(snapshot);
        Ok(())
    }

    /// Whether the store is unreachable and the last snapshot is served.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// The snapshot in force now; lock-free.
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Replaces the snapshot.
    fn store(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

/// Reads the store and builds a fresh snapshot (off the async runtime,
/// since building a large one takes a while), carrying over `previous`'s
/// local rate-limit state.
async fn build(
    store: &dyn Store,
    catalog: &Arc<Catalog>,
    previous: Option<Arc<Snapshot>>,
) -> keygate_store::Result<Snapshot> {
    let source = store.snapshot_source().await?;
    let catalog = catalog.clone();
    tokio::task::spawn_blocking(move || {
        let snapshot = Snapshot::build(&source, catalog);
        if let Some(previous) = previous {
            snapshot.carry_limits_from(&previous);
        }
        snapshot
    })
    .await
    .map_err(|e| keygate_store::Error::Unavailable(format!("snapshot build failed: {e}")))
}

/// Keeps `live` current with changes from other processes until
/// `shutdown` turns true (this process's changes refresh through the
/// manager's change hook).
pub async fn reload_loop(
    live: Arc<LiveSnapshot>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut feed = live.store.change_feed();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            Ok(()) = next_push(&mut feed) => {}
            _ = shutdown.changed() => return,
        }
        live.refresh().await;
    }
}

/// The next tick of the store's push feed; never, without one (or once it closed).
async fn next_push(feed: &mut Option<watch::Receiver<()>>) -> Result<(), watch::error::RecvError> {
    match feed {
        Some(receiver) => receiver.changed().await,
        None => std::future::pending().await,
    }
}
