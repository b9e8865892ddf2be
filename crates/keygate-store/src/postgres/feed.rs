//! The change feed: one task per store holding a LISTEN connection, started
//! the first time someone asks for it (CLI invocations never do). It ticks a
//! watch channel on every notification and after every (re)connect, so the
//! reload loop re-checks the revision after any gap; while the connection is
//! down the loop's revision polling carries on alone.

use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::tx::CHANNEL;

/// First and longest pause between reconnect attempts.
const RETRY: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// A running feed; the task ends when this is dropped (with the store).
pub(super) struct Feed {
    receiver: watch::Receiver<()>,
    task: JoinHandle<()>,
}

impl Feed {
    /// Starts listening on the current Tokio runtime.
    pub(super) fn start(pool: PgPool, label: String) -> Self {
        let (sender, receiver) = watch::channel(());
        let task = tokio::spawn(run(pool, label, sender));
        Self { receiver, task }
    }

    /// A new subscriber.
    pub(super) fn subscribe(&self) -> watch::Receiver<()> {
        self.receiver.clone()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn subscribe(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnecting is ours to do, so that it is logged and followed by a tick.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Connects, relays notifications until the connection fails, repeats.
async fn run(pool: PgPool, label: String, sender: watch::Sender<()>) {
    let mut lost: Option<Instant> = None;
    let mut pause = RETRY.0;
    loop {
        let mut listener = match subscribe(&pool).await {
            Ok(listener) => listener,
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                if lost.is_none() {
                    tracing::warn!(database = %label, error = %e, "cannot LISTEN for changes; polling the revision meanwhile");
                    lost = Some(Instant::now());
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY.1);
                continue;
            }
        };
        match lost.take() {
            Some(since) => {
                tracing::info!(database = %label, after = ?since.elapsed(), "change listener reconnected")
            }
            None => tracing::debug!(database = %label, "listening for changes"),
        }
        pause = RETRY.0;
        sender.send_replace(());
        let cause = relay(&mut listener, &sender).await;
        tracing::warn!(database = %label, error = %cause, "change listener lost its connection; polling the revision until it reconnects");
        lost = Some(Instant::now());
        sender.send_replace(());
    }
}

/// Ticks `sender` for each notification; returns why the connection ended.
async fn relay(listener: &mut PgListener, sender: &watch::Sender<()>) -> String {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {
                sender.send_replace(());
            }
            Ok(None) => return "connection closed".into(),
            Err(e) => return e.to_string(),
        }
    }
}
