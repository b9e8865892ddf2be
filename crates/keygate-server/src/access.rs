//! Last-access times: recorded per request through a lock-free channel,
//! folded in memory, and written to the store in one batch periodically and
//! at shutdown, never per request.

use std::collections::HashMap;
use std::time::Duration;

use keygate_store::{now_secs, Manager};
use tokio::sync::{mpsc, watch};

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

/// Collects events and writes them every `interval` and once more after
/// `shutdown`, once every sender is gone or the channel is drained.
pub async fn flush_loop(
    manager: Manager,
    mut rx: mpsc::UnboundedReceiver<Box<str>>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut pending: HashMap<Box<str>, i64> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(identifier) => { pending.insert(identifier, now_secs()); }
                None => break,
            },
            _ = tick.tick() => flush(&manager, &mut pending).await,
            _ = shutdown.changed() => {
                while let Ok(identifier) = rx.try_recv() {
                    pending.insert(identifier, now_secs());
                }
                break;
            }
        }
    }
    flush(&manager, &mut pending).await;
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
