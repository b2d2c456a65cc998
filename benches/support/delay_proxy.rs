//! A TCP proxy on loopback that puts a fixed one-way delay on each direction, standing in for
//! a broker far away without touching the host's network settings. Every chunk read from one
//! side is delivered to the other side `delay` after it was read: a reader task per direction
//! queues (due time, bytes) and reads on at once, and a writer task sleeps until each chunk is
//! due. So the delay adds latency without capping throughput (the bytes in flight are not
//! limited, as on a long link with large buffers); `ProxyStats::max_late` tells how far the
//! writers fell behind that schedule.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// One chunk in flight: when it is due at the other side, and its bytes (`None`: end of stream).
type Chunk = (Instant, Option<Vec<u8>>);

/// What the proxy forwarded.
#[derive(Debug, Default)]
pub struct ProxyStats {
    connections: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    max_late_us: AtomicU64,
}

impl ProxyStats {
    /// Client connections accepted and connected upstream.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Bytes forwarded from the clients to the upstream.
    pub fn bytes_up(&self) -> u64 {
        self.bytes_up.load(Ordering::Relaxed)
    }

    /// Bytes forwarded from the upstream back to the clients.
    pub fn bytes_down(&self) -> u64 {
        self.bytes_down.load(Ordering::Relaxed)
    }

    /// The longest a chunk's write started after its due time.
    pub fn max_late(&self) -> Duration {
        Duration::from_micros(self.max_late_us.load(Ordering::Relaxed))
    }
}

/// A running proxy; dropping it closes the listener and every connection.
pub struct DelayProxy {
    stats: Arc<ProxyStats>,
    accept: JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on `listen` and forwards each connection to `upstream`, `one_way` late in each
    /// direction (so a request/response round trip takes `2 × one_way` more).
    pub async fn start(listen: &str, upstream: &str, one_way: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let stats = Arc::new(ProxyStats::default());
        let accept = tokio::spawn(accept_loop(
            listener,
            upstream.to_string(),
            one_way,
            Arc::clone(&stats),
        ));
        Ok(Self { stats, accept })
    }

    /// Counters so far.
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        // The connection tasks live in the accept task's JoinSet and are aborted with it.
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    delay: Duration,
    stats: Arc<ProxyStats>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    conns.spawn(proxy_connection(client, upstream.clone(), delay, Arc::clone(&stats)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Forwards one client connection both ways until both directions have ended.
async fn proxy_connection(
    client: TcpStream,
    upstream: String,
    delay: Duration,
    stats: Arc<ProxyStats>,
) {
    // A failed upstream connect drops the client connection, as a refused one would.
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut tasks = JoinSet::new();
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let (down_tx, down_rx) = mpsc::unbounded_channel();
    tasks.spawn(read_side(
        client_read,
        up_tx,
        delay,
        Arc::clone(&stats),
        true,
    ));
    tasks.spawn(write_side(server_write, up_rx, Arc::clone(&stats)));
    tasks.spawn(read_side(
        server_read,
        down_tx,
        delay,
        Arc::clone(&stats),
        false,
    ));
    tasks.spawn(write_side(client_write, down_rx, stats));
    while tasks.join_next().await.is_some() {}
}

/// Reads as fast as the peer sends, stamping each chunk with its due time.
async fn read_side(
    mut from: OwnedReadHalf,
    to: mpsc::UnboundedSender<Chunk>,
    delay: Duration,
    stats: Arc<ProxyStats>,
    upward: bool,
) {
    let counter = if upward {
        &stats.bytes_up
    } else {
        &stats.bytes_down
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        let due = Instant::now() + delay;
        if n == 0 {
            let _ = to.send((due, None));
            return;
        }
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if to.send((due, Some(buf[..n].to_vec()))).is_err() {
            return;
        }
    }
}

/// Delivers each chunk when it is due; ends the stream (half-close) when the reader did.
async fn write_side(
    mut to: OwnedWriteHalf,
    mut chunks: mpsc::UnboundedReceiver<Chunk>,
    stats: Arc<ProxyStats>,
) {
    while let Some((due, bytes)) = chunks.recv().await {
        tokio::time::sleep_until(due).await;
        let late = Instant::now().saturating_duration_since(due);
        stats
            .max_late_us
            .fetch_max(late.as_micros() as u64, Ordering::Relaxed);
        let Some(bytes) = bytes else {
            let _ = to.shutdown().await;
            return;
        };
        if to.write_all(&bytes).await.is_err() {
            return;
        }
    }
}
