//! A TCP relay between keygate and the test server that a test can cut and
//! restore, to simulate PostgreSQL becoming unreachable (connections reset,
//! new ones refused) without touching the shared server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A relay on `127.0.0.1:PORT`; everything stops when it is dropped.
#[derive(Debug)]
pub struct Link {
    address: SocketAddr,
    target: String,
    url: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Link {
    /// Starts relaying to `target` (`host:port`); `url` is rewritten to
    /// point at the relay.
    pub(super) async fn start(target: String, url: &str) -> std::io::Result<Self> {
        let listener = bind("127.0.0.1:0".parse().expect("literal address")).await?;
        let address = listener.local_addr()?;
        let link = Self {
            address,
            target,
            url: with_authority(url, &address.to_string()),
            tasks: Arc::default(),
        };
        link.serve(listener);
        Ok(link)
    }

    /// The database URL through the relay.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Resets every relayed connection and refuses new ones.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Accepts connections again, on the same port.
    pub async fn restore(&self) -> std::io::Result<()> {
        self.cut();
        self.serve(bind(self.address).await?);
        Ok(())
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let relay = tokio::spawn(relay(client, target.clone()));
                tasks.lock().unwrap().push(relay);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Rebinding the port right after a cut must not wait for TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(64)
}

async fn relay(mut client: TcpStream, target: String) {
    if let Ok(mut server) = TcpStream::connect(&target).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// `url` with its `host:port` replaced (user and password kept).
fn with_authority(url: &str, authority: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    format!("{}{authority}{}", &url[..host_start], &url[end..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn authority_is_replaced() {
        assert_eq!(
            super::with_authority("postgres://u:p@h:5432/db?x=1", "127.0.0.1:9"),
            "postgres://u:p@127.0.0.1:9/db?x=1"
        );
        assert_eq!(
            super::with_authority("postgres://h/db", "a:1"),
            "postgres://a:1/db"
        );
    }
}
