//! The event stream of `GET /latest/ws`: one session per WebSocket, reading the event
//! history by cursor (the in-memory [`EventLog`](crate::events::EventLog), the store when a
//! replay reaches further back), so replay and live delivery meet with no gap and no
//! duplicate. The protocol is `maestro_common::ws`.
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
#[cfg(test)]
use axum::extract::ws::close_code;
use futures::{Sink, Stream};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::Store;

mod filter;
mod frame;
mod session;

/// Default seconds a WebSocket client may leave frames unread before it is dropped.
pub const DEFAULT_WS_STALL_SECS: u64 = 60;

/// Settings of the WebSocket sessions.
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Messages queued per session between the history reader and the socket writer.
    pub buffer: usize,
    /// Interval of the WebSocket ping frames the server sends.
    pub ping_interval: Duration,
    /// Events read from the store per query when a replay goes past the in-memory log.
    pub replay_page: u64,
    /// The `source` attribute of the CloudEvents.
    pub source: String,
    /// A client whose socket takes no frame for this long (it stopped reading, after its
    /// `resync`) is dropped, so that it holds no queue and no connection.
    pub stall_timeout: Duration,
}

impl Default for WsConfig {
    /// 1,024 queued messages, a ping every 20 s, replay pages of 1,000, stalled clients
    /// dropped after 60 s.
    fn default() -> Self {
        Self {
            buffer: 1024,
            ping_interval: Duration::from_secs(20),
            replay_page: 1000,
            source: crate::pubsub::DEFAULT_SOURCE.to_owned(),
            stall_timeout: Duration::from_secs(DEFAULT_WS_STALL_SECS),
        }
    }
}

/// What the sessions of a server share: their settings, and each event's frame, encoded
/// once for every subscriber (so all of them see the same CloudEvent `id`).
#[derive(Debug, Default)]
pub struct Hub {
    config: WsConfig,
    frames: frame::FrameCache,
}

impl Hub {
    /// A hub with these settings.
    pub fn new(config: WsConfig) -> Self {
        Self {
            config,
            frames: frame::FrameCache::default(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &WsConfig {
        &self.config
    }
}

/// Runs one session on a socket split into `sink` and `stream` until the client leaves or
/// `shutdown` is cancelled (then a close frame `1001` is sent). The session and the events
/// it delivers are counted in `metrics`.
pub async fn serve<S, R, E>(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    sink: S,
    stream: R,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin + Send + 'static,
    E: Send + 'static,
{
    let _open = metrics.events.websocket_session();
    session::run(store, hub, metrics, shutdown, sink, stream).await;
}

#[cfg(test)]
mod tests;
