//! Last-access times: recorded per request through a lock-free channel,
//! folded in memory, and written to the store in one batch periodically and
//! at shutdown, never per request. The usage counts ([`crate::usage`]) are
//! written in the same loop, at the same times.

use std::collections::HashMap;
use std::time::Duration;

use keygate_store::{now_secs, Manager};
use tokio::sync::{mpsc, watch};

use crate::usage::UsageFlusher;

/// Hands access events to the flusher; cloning is cheap.
#[derive(Clone)]
pub struct AccessRecorder {
    tx: mpsc::UnboundedSender<Box<str>>,
}

impl AccessRecorder {
    /// A recorder and the receiving end for [`flush_loop`].
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Box<str>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Notes that `identifier` was used just now.
    pub fn record(&self, identifier: &str) {
        // Only fails once the flusher has stopped, at shutdown.
        let _ = self.tx.send(identifier.into());
    }
}

/// How often queued events are folded into the pending map. The loop
/// never waits in `recv()`: a waiting receiver would be woken by every
/// request, which cost a task poll per call in the profile.
const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// Folds queued events into `pending`; `false` once every sender is gone.
fn drain(rx: &mut mpsc::UnboundedReceiver<Box<str>>, pending: &mut HashMap<Box<str>, i64>) -> bool {
    let now = now_secs();
    loop {
        match rx.try_recv() {
            Ok(identifier) => {
                pending.insert(identifier, now);
            }
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
}

/// Collects events and writes them, with the usage counts, every
/// `interval`, and once more after `shutdown` or when every sender is
/// gone; prunes old usage counts at start and every hour.
pub async fn flush_loop(
    manager: Manager,
    mut rx: mpsc::UnboundedReceiver<Box<str>>,
    mut usage: UsageFlusher,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pending: HashMap<Box<str>, i64> = HashMap::new();
    let mut drain_tick = tokio::time::interval(DRAIN_EVERY.min(interval));
    drain_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush_tick = tokio::time::interval(interval);
    flush_tick.tick().await;
    let mut prune_tick = tokio::time::interval(usage.prune_every());
    prune_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = drain_tick.tick() => {
                if !drain(&mut rx, &mut pending) {
                    break;
                }
            }
            _ = flush_tick.tick() => {
                drain(&mut rx, &mut pending);
                flush(&manager, &mut pending).await;
                usage.flush(&manager).await;
            }
            _ = prune_tick.tick() => usage.prune(&manager).await,
            _ = shutdown.changed() => break,
        }
    }
    drain(&mut rx, &mut pending);
    flush(&manager, &mut pending).await;
    usage.flush(&manager).await;
}

async fn flush(manager: &Manager, pending: &mut HashMap<Box<str>, i64>) {
    if pending.is_empty() {
        return;
    }
    let batch: Vec<(String, i64)> = pending.drain().map(|(k, v)| (k.into(), v)).collect();
    if let Err(e) = manager.store().record_access(&batch).await {
        tracing::warn!(error = %e, count = batch.len(), "cannot record last access times; retrying later");
        pending.extend(batch.into_iter().map(|(k, v)| (k.into_boxed_str(), v)));
    }
}
