//! The accept loop: hyper's HTTP/1 connections with a header-read timeout (which is also
//! how long a keep-alive connection may wait idle for its next request), a bound on open
//! connections below the file-descriptor limit, and a log line when a limit is hit.
//! `axum::serve` offers none of these (it sets no timer, so hyper's timeout is off).
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::task::TaskTracker;

use crate::App;

/// Limits of client connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections at most; further ones wait in the listen backlog (no descriptor).
    pub max_connections: usize,
    /// Time to receive a request's headers, counted from when the connection is ready for
    /// it: a slow (slowloris) or partial header, or a keep-alive connection idle this long
    /// between requests, is closed.
    pub header_read_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Descriptors kept for everything but client connections: the database files and pool,
/// the listener, logs, mail.
const RESERVED_FDS: u64 = 256;

/// The default bound of connections for a soft descriptor limit of `nofile`.
pub fn max_connections_for(nofile: u64) -> usize {
    let n = nofile.saturating_sub(RESERVED_FDS).clamp(16, 65_536);
    usize::try_from(n).unwrap_or(65_536)
}

/// Raises the soft RLIMIT_NOFILE as far as the hard limit allows; returns the soft limit.
pub fn raise_nofile_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// How often the "limit reached" line is logged at most.
const LIMIT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their requests (as `axum::serve`'s graceful shutdown does) and returns.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (close_tx, close_rx) = watch::channel(());
    let conns = TaskTracker::new();
    let mut last_limit_log: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if last_limit_log.is_none_or(|t| t.elapsed() >= LIMIT_LOG_EVERY) {
                    tracing::warn!(
                        limit = limits.max_connections,
                        "connection limit reached; new connections wait until one closes"
                    );
                    last_limit_log = Some(Instant::now());
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE/ENFILE and the like: say so, and give descriptors a moment to
                    // come back instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small frames (events, long-poll answers) go out at once instead of waiting for the
        // peer's delayed ACK (Nagle), which cost WebSocket deliveries 40 ms spikes.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY");
        }
        let svc = tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: hyper::Request<Incoming>| {
                // As `into_make_service_with_connect_info`: invites and logins read the peer.
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            },
        );
        let mut close = close_rx.clone();
        conns.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true);
            let conn = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                served = conn.as_mut() => {
                    log_end(served, peer);
                    return;
                }
                _ = close.changed() => conn.as_mut().graceful_shutdown(),
            }
            log_end(conn.await, peer);
        });
    }
    drop(listener);
    drop(close_tx);
    conns.close();
    conns.wait().await;
}

fn log_end(served: Result<(), hyper::Error>, peer: SocketAddr) {
    match served {
        Err(e) if e.is_timeout() => {
            tracing::debug!(%peer, "closed a connection that sent no complete request in time");
        }
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
        Ok(()) => {}
    }
}
