//! The live snapshot: an `ArcSwap` readers load without locking, and the
//! task that rebuilds it when the store's revision moves, at once for
//! changes made in this process and by polling for other processes'.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use keygate_core::Snapshot;
use keygate_store::Manager;
use tokio::sync::watch;

/// The current snapshot, swapped whole after every change.
pub struct LiveSnapshot {
    current: ArcSwap<Snapshot>,
    degraded: AtomicBool,
}

impl LiveSnapshot {
    /// Starts with `initial`.
    pub fn new(initial: Snapshot) -> Self {
        Self {
            current: ArcSwap::from_pointee(initial),
            degraded: AtomicBool::new(false),
        }
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
    pub fn store(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

/// Reads the store and builds a fresh snapshot (off the async runtime,
/// since building a large one takes a while).
pub async fn build(manager: &Manager) -> keygate_store::Result<Snapshot> {
    let source = manager.store().snapshot_source().await?;
    let catalog = manager.catalog().clone();
    tokio::task::spawn_blocking(move || Snapshot::build(&source, catalog))
        .await
        .map_err(|e| keygate_store::Error::Unavailable(format!("snapshot build failed: {e}")))
}

/// Keeps `live` current until `shutdown` turns true.
pub async fn reload_loop(
    live: Arc<LiveSnapshot>,
    manager: Manager,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let changes = manager.changes();
    let mut feed = manager.store().change_feed();
    let mut failing = false;
    loop {
        tokio::select! {
            _ = changes.notified() => {}
            _ = tokio::time::sleep(interval) => {}
            Ok(()) = next_push(&mut feed) => {}
            _ = shutdown.changed() => return,
        }
        let current = live.load().revision();
        match manager.store().revision().await {
            Ok(revision) if revision == current => {}
            Ok(_) => match build(&manager).await {
                Ok(snapshot) => {
                    let started = Instant::now();
                    let (revision, size) = (snapshot.revision(), snapshot.len());
                    live.store(snapshot);
                    tracing::debug!(revision, credentials = size, elapsed = ?started.elapsed(), "snapshot reloaded");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot reload failed; still serving the previous snapshot")
                }
            },
            Err(e) if !failing => {
                tracing::warn!(error = %e, "cannot read the store's revision; still serving the last snapshot");
                failing = true;
                live.degraded.store(true, Ordering::Relaxed);
                continue;
            }
            Err(_) => continue,
        }
        if failing {
            tracing::info!("store reachable again");
            failing = false;
            live.degraded.store(false, Ordering::Relaxed);
        }
    }
}

/// The next tick of the store's push feed; never, without one (or once it closed).
async fn next_push(feed: &mut Option<watch::Receiver<()>>) -> Result<(), watch::error::RecvError> {
    match feed {
        Some(receiver) => receiver.changed().await,
        None => std::future::pending().await,
    }
}
