//! Last-access times: queued through a lock-free channel (at most once a
//! second per credential and thread), folded in memory, and written to the
//! store in one batch periodically and at shutdown, never per request. The
//! usage counts ([`crate::usage`]) are written in the same loop, at the
//! same times.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keygate_store::{now_secs, Manager};
use tokio::sync::{mpsc, watch};

use crate::usage::{IdentifierHasher, UsageFlusher};

/// Hands access events to the flusher; cloning is cheap.
#[derive(Clone)]
pub struct AccessRecorder {
    tx: mpsc::UnboundedSender<Box<str>>,
    /// Tells this recorder's entries in a thread's [`Recent`] from another
    /// recorder's (tests run many servers in one process).
    id: u64,
}

impl AccessRecorder {
    /// A recorder and the receiving end for [`flush_loop`].
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Box<str>>) {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let (tx, rx) = mpsc::unbounded_channel();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        (Self { tx, id }, rx)
    }

    /// Notes that `identifier` was used by a call decided at `second`
    /// (unix seconds, the call's own clock reading). Last-access times are
    /// kept to the second, so a credential already sent this second (by
    /// this thread) is not sent again: a busy key costs no allocation and
    /// no channel push per call.
    pub fn record(&self, identifier: &str, second: i64) {
        let fresh = RECENT.with(|recent| recent.borrow_mut().note(self.id, identifier, second));
        if fresh {
            // Only fails once the flusher has stopped, at shutdown.
            let _ = self.tx.send(identifier.into());
        }
    }
}

/// Slots in a thread's [`Recent`]: enough for the keys busy in one second
/// on one thread; a collision only means one more send.
const RECENT_SLOTS: usize = 64;

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::new(Recent::new());
}

/// The identifiers one thread sent to a flusher during one second, in a
/// direct-mapped table (slot by hash; a newcomer replaces the holder).
struct Recent {
    second: i64,
    /// (recorder id, identifier); recorder 0: empty.
    slots: Vec<(u64, String)>,
}

impl Recent {
    fn new() -> Self {
        Self {
            second: i64::MIN,
            slots: vec![(0, String::new()); RECENT_SLOTS],
        }
    }

    /// Whether `identifier` is new to `recorder` in `second` (and is now
    /// noted); identifiers noted in an earlier second are forgotten.
    fn note(&mut self, recorder: u64, identifier: &str, second: i64) -> bool {
        if second != self.second {
            self.second = second;
            for slot in &mut self.slots {
                slot.0 = 0;
            }
        }
        let hash = IdentifierHasher::default().hash_one(identifier);
        // The remainder is below RECENT_SLOTS, so the cast cannot truncate.
        let slot = &mut self.slots[(hash % RECENT_SLOTS as u64) as usize];
        if slot.0 == recorder && slot.1 == identifier {
            return false;
        }
        slot.0 = recorder;
        // Reuses the slot's buffer: no allocation once it is big enough.
        slot.1.clear();
        slot.1.push_str(identifier);
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_is_sent_once_a_second_per_recorder() {
        let mut recent = Recent::new();
        assert!(recent.note(1, "kg_a", 100));
        assert!(!recent.note(1, "kg_a", 100));
        // Another recorder (another server in the process) hears of it too.
        assert!(recent.note(2, "kg_a", 100));
        assert!(recent.note(1, "kg_b", 100));
        // A new second forgets the last one.
        assert!(recent.note(2, "kg_a", 101));
        assert!(recent.note(1, "kg_b", 101));
        assert!(!recent.note(1, "kg_b", 101));
    }

    #[test]
    fn a_collision_costs_a_send_never_a_miss() {
        let mut recent = Recent::new();
        let identifiers: Vec<String> = (0..RECENT_SLOTS * 4).map(|i| format!("kg_{i}")).collect();
        for _ in 0..2 {
            for identifier in &identifiers {
                recent.note(1, identifier, 7);
            }
        }
        // Whatever the slots hold, an identifier reported not new is the
        // one its slot holds for this recorder and second.
        for identifier in &identifiers {
            if !recent.note(1, identifier, 7) {
                let hash = IdentifierHasher::default().hash_one(identifier.as_str());
                let slot = &recent.slots[(hash % RECENT_SLOTS as u64) as usize];
                assert_eq!(slot.1, *identifier);
            }
        }
        assert!(recent.note(1, "", 7), "an empty slot matches nothing");
    }

    #[tokio::test]
    async fn a_busy_credential_is_queued_once_a_second() {
        let (recorder, mut rx) = AccessRecorder::new();
        for _ in 0..1000 {
            recorder.record("kg_busy", 100);
        }
        recorder.record("kg_other", 100);
        recorder.record("kg_busy", 101);
        let mut queued = Vec::new();
        while let Ok(identifier) = rx.try_recv() {
            queued.push(identifier);
        }
        let busy = queued.iter().filter(|i| &***i == "kg_busy").count();
        assert_eq!(busy, 2, "once in each second: {queued:?}");
        assert!(queued.iter().any(|i| &**i == "kg_other"));
    }
}
