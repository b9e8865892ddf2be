//! The live snapshot: an `ArcSwap` readers load without locking, brought up
//! to date when the store's revision moves (at once for changes made in this
//! process, through the manager's change hook; by polling or a push feed for
//! other processes'): by applying only what changed (the store's change
//! log), or, at start, on a catalog change and when the log cannot say, by
//! a full rebuild.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Snapshots made by applying changes, and by full rebuilds after the
    /// first (for `/metrics`).
    applied: AtomicU64,
    rebuilt: AtomicU64,
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
            applied: AtomicU64::new(0),
            rebuilt: AtomicU64::new(0),
            rebuilding: tokio::sync::Mutex::new(()),
        })
    }

    /// Brings the snapshot up to the store's revision if it moved: by
    /// applying what changed, or by a full rebuild when the change log
    /// cannot say (pruned, too much changed) or changes have piled up.
    /// Returns whether the store answered; failures are logged once and mark
    /// `degraded`.
    pub async fn refresh(&self) -> bool {
        let _guard = self.rebuilding.lock().await;
        let current = self.load().revision();
        let result = match self.store.revision().await {
            Ok(revision) if revision == current => Ok(()),
            Ok(_) => self.catch_up().await,
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

    /// Applies the store's changes since the current snapshot, else
    /// rebuilds it in full.
    async fn catch_up(&self) -> keygate_store::Result<()> {
        let current = self.current.load_full();
        let most = delta_limit(current.len());
        if current.changed_since_build() + 1 < most {
            let delta = self.store.snapshot_delta(current.revision(), most).await?;
            if let Some(delta) = delta {
                let applied = tokio::task::spawn_blocking(move || {
                    let started = std::time::Instant::now();
                    current
                        .apply(&delta)
                        .map(|next| (next, delta.len(), started.elapsed()))
                })
                .await
                .map_err(|e| {
                    keygate_store::Error::Unavailable(format!("snapshot update failed: {e}"))
                })?;
                if let Some((next, changes, took)) = applied {
                    tracing::debug!(
                        revision = next.revision(),
                        changes,
                        ?took,
                        "snapshot updated"
                    );
                    self.store(next);
                    self.applied.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            }
        }
        let started = std::time::Instant::now();
        let snapshot = build(
            &*self.store,
            &self.catalog.load(),
            Some(self.current.load_full()),
        )
        .await?;
        tracing::debug!(
            revision = snapshot.revision(),
            credentials = snapshot.len(),
            took = ?started.elapsed(),
            "snapshot rebuilt"
        );
        self.store(snapshot);
        self.rebuilt.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Rebuilds the snapshot with `catalog` (custom actions changed in a
    /// configuration reload); the old snapshot stays in force on failure.
    pub async fn set_catalog(&self, catalog: Arc<Catalog>) -> keygate_store::Result<()> {
        let _guard = self.rebuilding.lock().await;
        let snapshot = build(&*self.store, &catalog, Some(self.current.load_full())).await?;
        self.catalog.store(catalog);
        self.store(snapshot);
        self.rebuilt.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How the snapshot was kept current, in Prometheus' text format:
    /// updates applied from the change log, full rebuilds, and how many
    /// credentials changed since the last full build.
    pub fn render_metrics(&self) -> String {
        format!(
            "# HELP keygate_snapshot_updates_total Snapshot updates since start, by how: applied from the change log, or rebuilt in full.\n\
             # TYPE keygate_snapshot_updates_total counter\n\
             keygate_snapshot_updates_total{{how=\"applied\"}} {}\n\
             keygate_snapshot_updates_total{{how=\"rebuilt\"}} {}\n\
             # HELP keygate_snapshot_changed_since_build Credentials changed since the last full build of the snapshot.\n\
             # TYPE keygate_snapshot_changed_since_build gauge\n\
             keygate_snapshot_changed_since_build {}\n",
            self.applied.load(Ordering::Relaxed),
            self.rebuilt.load(Ordering::Relaxed),
            self.load().changed_since_build(),
        )
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

/// How many changed admins, roles and credentials are applied on top of a
/// full build before the next full build: enough that one never happens
/// for ordinary changes, few enough that a bulk change (an import, a role
/// held by most credentials deleted) rebuilds rather than piling up.
fn delta_limit(credentials: usize) -> usize {
    (credentials / 16).max(1024)
}

/// What the binary's allocator does to hand freed memory back to the
/// system: see [`set_after_full_build`].
static AFTER_FULL_BUILD: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets `hook` to run after every full snapshot build, on the runtime
/// thread that awaited it. A build at a million credentials frees a few hundred MB
/// of rows and scratch space at once; an allocator that keeps freed pages
/// until the thread allocates again (mimalloc) would otherwise show them
/// in the RSS of an idle server. The first call wins.
pub fn set_after_full_build(hook: fn()) {
    let _ = AFTER_FULL_BUILD.set(hook);
}

/// Reads the store and builds a fresh snapshot (the rows streamed into a
/// builder; the table built off the async runtime, since at a million
/// credentials that takes a while), carrying over `previous`'s local
/// rate-limit state.
async fn build(
    store: &dyn Store,
    catalog: &Arc<Catalog>,
    previous: Option<Arc<Snapshot>>,
) -> keygate_store::Result<Snapshot> {
    let builder = store.snapshot_builder(catalog.clone()).await?;
    let snapshot = tokio::task::spawn_blocking(move || {
        let snapshot = builder.finish();
        if let Some(previous) = previous {
            snapshot.carry_limits_from(&previous);
        }
        snapshot
    })
    .await
    .map_err(|e| keygate_store::Error::Unavailable(format!("snapshot build failed: {e}")))?;
    if let Some(hook) = AFTER_FULL_BUILD.get() {
        hook();
    }
    Ok(snapshot)
}

/// How long change-log entries are kept: a snapshot further behind than
/// this (a server cut off from its database for an hour) rebuilds in full.
const CHANGE_LOG_KEPT: Duration = Duration::from_secs(3600);

/// How often the change log is pruned.
const CHANGE_LOG_PRUNED_EVERY: Duration = Duration::from_secs(600);

/// Keeps `live` current with changes from other processes until
/// `shutdown` turns true (this process's changes refresh through the
/// manager's change hook), and prunes the store's change log now and then.
pub async fn reload_loop(
    live: Arc<LiveSnapshot>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut feed = live.store.change_feed();
    let mut pruned = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            Ok(()) = next_push(&mut feed) => {}
            _ = shutdown.changed() => return,
        }
        live.refresh().await;
        if pruned.elapsed() >= CHANGE_LOG_PRUNED_EVERY {
            pruned = std::time::Instant::now();
            prune_change_log(&*live.store).await;
        }
    }
}

/// Deletes change-log entries older than [`CHANGE_LOG_KEPT`]; a failure is
/// only logged (the next round tries again).
async fn prune_change_log(store: &dyn Store) {
    let before = keygate_store::now_secs() - CHANGE_LOG_KEPT.as_secs() as i64;
    match store.prune_changes(before).await {
        Ok(0) => {}
        Ok(deleted) => tracing::debug!(deleted, "change log pruned"),
        Err(e) => tracing::warn!(error = %e, "cannot prune the change log"),
    }
}

/// The next tick of the store's push feed; never, without one (or once it closed).
async fn next_push(feed: &mut Option<watch::Receiver<()>>) -> Result<(), watch::error::RecvError> {
    match feed {
        Some(receiver) => receiver.changed().await,
        None => std::future::pending().await,
    }
}
