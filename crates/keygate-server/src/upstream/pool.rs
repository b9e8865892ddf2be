//! Connections to the upstream: opened (plain or TLS) on demand, kept idle
//! between calls, and checked before reuse.
//!
//! A connection is only reused when it is known to be open: an idle one
//! the upstream has closed (Apache's keep-alive timeout is 5 s) reads as
//! closed and is dropped before a request is written to it. A request is
//! never sent twice: a WHMCS action such as `AddInvoicePayment` must not
//! run again because an answer was lost.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Idle connections kept at most (more are closed when returned).
const MAX_IDLE: usize = 512;

/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The read buffer a connection starts with: a WHMCS answer's head and a
/// small body fit.
const BUFFER_BYTES: usize = 16 * 1024;

/// Where connections go, and how.
pub struct Pool {
    host: String,
    port: u16,
    /// `Some` for HTTPS: the connector and the name the certificate must carry.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    connection: Connection,
    since: Instant,
}

/// An open connection with its read buffer.
pub struct Connection {
    /// The byte stream.
    pub stream: Stream,
    /// Bytes read and not yet consumed (empty between exchanges).
    pub buf: BytesMut,
}

/// A plain or TLS connection.
pub enum Stream {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Pool {
    /// Connections to `host:port`, over TLS when `tls` is given.
    pub fn new(
        host: String,
        port: u16,
        tls: Option<(Arc<tokio_rustls::rustls::ClientConfig>, ServerName<'static>)>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            host,
            port,
            tls: tls.map(|(config, name)| (TlsConnector::from(config), name)),
            connect_timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection still open, or a new one.
    pub async fn checkout(&self) -> io::Result<Connection> {
        while let Some(idle) = self.take_idle() {
            if idle.since.elapsed() < IDLE_TIMEOUT {
                let mut connection = idle.connection;
                if connection.is_open() {
                    return Ok(connection);
                }
            }
        }
        self.connect().await
    }

    /// Keeps `connection` for the next call.
    pub fn checkin(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    /// The most recently used idle connection: the likeliest to be open.
    fn take_idle(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    async fn connect(&self) -> io::Result<Connection> {
        let connect = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
            tcp.set_nodelay(true)?;
            let stream = match &self.tls {
                None => Stream::Plain(tcp),
                Some((connector, name)) => {
                    Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await?))
                }
            };
            Ok(Connection {
                stream,
                buf: BytesMut::with_capacity(BUFFER_BYTES),
            })
        };
        tokio::time::timeout(self.connect_timeout, connect)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting took over {:?}", self.connect_timeout),
                ))
            })
    }
}

impl Connection {
    /// Whether an idle connection is still open: a read that would wait
    /// means open; the upstream's close (or bytes nobody asked for) means
    /// it must not be used. Over TLS the read also takes in what the
    /// server sends after the handshake (session tickets).
    fn is_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        self.buf.is_empty() && self.stream.read(&mut probe).now_or_never().is_none()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
