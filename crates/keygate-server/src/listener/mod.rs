//! The plain-HTTP listener. The two hot routes (`/includes/api.php` and
//! `/v1/authorize`) are answered by an own HTTP/1.1 loop that calls their
//! handlers directly; profiling showed hyper's server side and axum's
//! routing costing the sidecar more than its decision does. Every other
//! request, and any request the loop does not take on (chunked or
//! `Expect` bodies, HTTP/1.0, upgrades, malformed heads, bodies over the
//! limit), hands the connection with the bytes read so far to hyper and
//! the full router, which answers it as `axum::serve` would.

mod handoff;
mod hot;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::AppState;

/// What every connection of one listener shares.
#[derive(Clone)]
struct Shared {
    state: AppState,
    router: Router,
    /// Closed when the server stops: idle connections end, busy ones
    /// finish the request in progress.
    stopping: watch::Receiver<()>,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting, lets every request in progress finish and returns once each
/// connection has closed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(());
    let shared = Shared {
        state,
        router,
        stopping: stop_rx,
    };
    // Each connection holds a receiver; `closed()` resolves when all are gone.
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    pause_after(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let shared = shared.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, shared).await;
            drop(open);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(open_rx);
    open_tx.closed().await;
}

/// One connection: the hot loop first; the rest of its life with hyper if
/// the loop hands it over.
async fn connection(stream: TcpStream, peer: SocketAddr, shared: Shared) {
    // Answers are written whole, in one write: nothing to gain from Nagle.
    let _ = stream.set_nodelay(true);
    let mut stopping = shared.stopping.clone();
    match hot::serve(stream, peer, &shared.state, &mut stopping).await {
        hot::Ended::Closed => {}
        hot::Ended::HandOver(stream, read) => {
            handoff::serve(stream, read, peer, shared.router, stopping).await;
        }
    }
}

/// Connection errors (the peer reset before it was accepted) are the
/// client's; the others (out of file descriptors) would spin the loop, so
/// it pauses as axum's listener does.
async fn pause_after(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
