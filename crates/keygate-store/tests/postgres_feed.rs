//! PostgreSQL only: LISTEN/NOTIFY change propagation between stores, its
//! recovery after `pg_terminate_backend`, and behaviour while the server is
//! unreachable (simulated by cutting a relay, so the shared server is left
//! alone). Every test skips, saying so, without a reachable server.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDb;
use keygate_core::Catalog;
use keygate_store::{Error, Manager, RoleInput, Store};
use tokio::sync::watch;

/// Waits for the next tick; how long it took, or `None` after `limit`.
async fn tick(feed: &mut watch::Receiver<()>, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    match tokio::time::timeout(limit, feed.changed()).await {
        Ok(Ok(())) => Some(started.elapsed()),
        _ => None,
    }
}

/// A subscribed feed on `store`, past its initial "connected" tick.
async fn listening(store: &Arc<dyn Store>) -> watch::Receiver<()> {
    let mut feed = store.change_feed().expect("PostgreSQL has a push feed");
    tick(&mut feed, Duration::from_secs(10))
        .await
        .expect("the listener connects");
    feed
}

fn role(name: &str) -> RoleInput {
    RoleInput {
        name: name.into(),
        ..RoleInput::default()
    }
}

async fn listeners(db: &TestDb) -> i64 {
    let admin = keygate_store::open(&db.url).await.unwrap();
    drop(admin);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_elsewhere_ticks_the_feed_fast_and_a_rollback_does_not() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let watcher = db.store().await;
    let writer = db.manager().await;
    let mut feed = listening(&watcher).await;
    let mut latencies = Vec::new();
    for i in 0..20 {
        let before = watcher.revision().await.unwrap();
        // From before the write, so an upper bound on commit -> tick.
        let started = Instant::now();
        writer.create_role(role(&format!("R{i}"))).await.unwrap();
        tick(&mut feed, Duration::from_secs(1))
            .await
            .expect("notified within 1 s");
        latencies.push(started.elapsed());
        assert!(watcher.revision().await.unwrap() > before);
    }
    latencies.sort();
    eprintln!(
        "write + commit -> feed tick: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    let refused = writer.create_role(role("r0")).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)));
    assert_eq!(tick(&mut feed, Duration::from_millis(300)).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_store_asked_for_its_feed_listens() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = db.store().await;
    store.list_roles().await.unwrap();
    assert_eq!(listeners(&db).await, 0, "CLI-style use opens no listener");
    let _feed = listening(&store).await;
    let _again = store.change_feed().unwrap();
    assert_eq!(listeners(&db).await, 1, "one listener per store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_and_the_pool_recover_from_terminated_connections() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let watcher = db.store().await;
    let writer = db.manager().await;
    writer.create_role(role("Before")).await.unwrap();
    let mut feed = listening(&watcher).await;
    let ended = db.scratch().unwrap().terminate_connections().await.unwrap();
    assert!(ended >= 2, "the listener and pooled connections: {ended}");
    tick(&mut feed, Duration::from_secs(5))
        .await
        .expect("a tick after the listener reconnects");
    // Pools replace dead connections on their own: no restart, no error.
    assert_eq!(watcher.list_roles().await.unwrap().len(), 1);
    writer.create_role(role("After")).await.unwrap();
    let mut got = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got && Instant::now() < deadline {
        tick(&mut feed, Duration::from_secs(1)).await;
        got = watcher.list_roles().await.unwrap().len() == 2;
    }
    assert!(got, "the change made after the kill reached the watcher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_unreachable_operations_fail_clearly_and_then_resume() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let link = db.scratch().unwrap().link().await.unwrap();
    let store = keygate_store::open(link.url()).await.unwrap();
    let manager = Manager::new(store.clone(), Arc::new(Catalog::builtin()));
    manager.add_admin("alice", "password1").await.unwrap();
    let mut feed = listening(&store).await;

    link.cut();
    let started = Instant::now();
    let err = manager.create_role(role("Ops")).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(message.starts_with("PostgreSQL at 127.0.0.1:"), "{message}");
    assert!(message.contains("database unavailable"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
    assert!(matches!(store.revision().await, Err(Error::Unavailable(_))));
    eprintln!("write during the outage: error: {message}");

    link.restore().await.unwrap();
    tick(&mut feed, Duration::from_secs(10))
        .await
        .expect("the listener reconnects by itself");
    manager.create_role(role("Ops")).await.unwrap();
    tick(&mut feed, Duration::from_secs(2))
        .await
        .expect("notifications flow again");
    assert_eq!(manager.list_roles().await.unwrap().len(), 1);
}
