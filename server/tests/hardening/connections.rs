//! Connection limits on a real loopback listener: partial headers and idle keep-alive
//! connections are closed after the header-read timeout; open connections are bounded.
use std::sync::Arc;
use std::time::{Duration, Instant};

use maestro_server::serve::ConnLimits;
use maestro_server::store::sqlite::SqliteStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

/// A running server with `limits`; dropping the sender stops it.
async fn start(
    limits: ConnLimits,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tempfile::TempDir,
) {
    let dir = tempfile::TempDir::new().unwrap();
    let store = SqliteStore::open(&dir.path().join("data")).unwrap();
    let mut app = TestApp::new(Arc::new(store));
    app.state.conn_limits = limits;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(maestro_server::run(app.state, listener, async move {
        let _ = rx.await;
    }));
    (addr, tx, dir)
}

/// Whether the server closes `conn` within `within` (reads to EOF or a reset).
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

pub async fn slow_headers_and_idle_connections_are_closed() {
    let limits = ConnLimits {
        max_connections: 64,
        header_read_timeout: Duration::from_millis(500),
    };
    let (addr, _stop, _dir) = start(limits).await;
    // A partial header, then nothing (slowloris).
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"GET /latest/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // A keep-alive connection idle after one answered request.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(REQUEST).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    for (conn, what) in [
        (&mut partial, "partial"),
        (&mut silent, "silent"),
        (&mut idle, "idle"),
    ] {
        assert!(
            closed_within(conn, Duration::from_secs(3)).await,
            "{what} connection kept open"
        );
    }
}

pub async fn open_connections_are_bounded() {
    let limits = ConnLimits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(30),
    };
    let (addr, _stop, _dir) = start(limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(REQUEST).await.unwrap();
        let mut buf = [0u8; 1024];
        assert!(c.read(&mut buf).await.unwrap() > 0);
        held.push(c);
    }
    // The fifth waits (in the backlog) while four are open...
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    fifth.write_all(REQUEST).await.unwrap();
    let mut buf = [0u8; 1024];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), fifth.read(&mut buf))
            .await
            .is_err(),
        "a fifth connection was served beyond the limit of four"
    );
    // ...and is served once one of them closes.
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), fifth.read(&mut buf))
        .await
        .expect("served after a connection closed")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{n}: {}",
        String::from_utf8_lossy(&buf[..n])
    );
}
