//! One session: a pump that reads the client's messages and the event history (by cursor)
//! into a bounded queue, and a writer that drains the queue into the socket. A client too
//! slow to keep its cursor inside the in-memory log gets a `resync`, never a silent gap.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use futures::{Sink, SinkExt, Stream, StreamExt};
use maestro_common::ws::{ClientMsg, ServerMsg};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::Hub;
use super::filter::Selector;
use crate::events::{SharedEvent, Since};
use crate::metrics::{Metrics, SubscriberKind};
use crate::store::Store;

/// Events taken from the in-memory log per read.
const LOG_BATCH: usize = 256;

/// Log reads (or store pages) per turn of the pump, so client messages are not starved
/// while a selective filter skips a long stretch of history.
const READS_PER_TURN: usize = 16;

/// Frames written before each flush, at most.
const WRITE_BATCH: usize = 64;

/// How long the close frame may take at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the writer sends.
#[derive(Debug)]
enum Out {
    Text(Utf8Bytes),
    Ping,
}

/// Something the subscription still has to queue, in order.
enum Item {
    Event(SharedEvent),
    Msg(ServerMsg),
}

/// The client's subscription and its place in the history.
struct Sub {
    selector: Selector,
    /// Every event up to here was queued, filtered out, or skipped by a `resync`.
    cursor: u64,
    /// While replaying: the head when the subscription started (a `caught_up` is due).
    replay_until: Option<u64>,
    /// Read but not yet queued to the writer.
    items: VecDeque<Item>,
}

/// Client frames waiting for the pump.
const INBOX: usize = 16;

/// Runs the session until the client leaves or `shutdown` is cancelled.
pub(super) async fn run<S, R, E>(
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
    let (tx, rx) = mpsc::channel(hub.config.buffer.max(1));
    // The socket is read by a task of its own, woken only when the client sends something:
    // polled from the pump's loop, it would be polled (and its read buffer prepared) once
    // per event.
    let (inbox, frames) = mpsc::channel(INBOX);
    let reader = tokio::spawn(read_client(stream, inbox));
    let pump = Pump {
        store,
        hub,
        metrics,
        shutdown: shutdown.clone(),
        tx,
        sub: None,
    };
    let stall = pump.hub.config.stall_timeout;
    tokio::join!(pump.run(frames), write(sink, rx, shutdown, stall));
    reader.abort();
}

/// Forwards client frames to the pump until the client or the pump is gone.
async fn read_client<R, E>(mut stream: R, inbox: mpsc::Sender<Message>)
where
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            () = inbox.closed() => return,
        };
        match frame {
            Some(Ok(frame)) => {
                if inbox.send(frame).await.is_err() {
                    return;
                }
            }
            // Closed or broken: dropping `inbox` tells the pump.
            _ => return,
        }
    }
}

struct Pump {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tx: mpsc::Sender<Out>,
    sub: Option<Sub>,
}

impl Pump {
    async fn run(mut self, mut frames: mpsc::Receiver<Message>) {
        let log = self.store.event_log().clone();
        let mut head = log.watch();
        let period = self.hub.config.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + period, period);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Handles of their own, so the branches below do not borrow `self`.
        let (shutdown, tx) = (self.shutdown.clone(), self.tx.clone());
        loop {
            if let Some(sub) = self.sub.as_mut()
                && sub.items.is_empty()
            {
                read(&*self.store, &self.hub, sub).await;
            }
            let (sending, behind) = match &self.sub {
                Some(s) => (!s.items.is_empty(), s.cursor < log.head()),
                None => (false, false),
            };
            let idle = self.sub.is_some() && !sending && !behind;
            let more = !sending && behind;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                frame = frames.recv() => match frame {
                    Some(frame) => if !self.on_frame(frame).await { return },
                    None => return,
                },
                permit = tx.reserve(), if sending => {
                    let Ok(permit) = permit else { return };
                    if let Some(item) = self.sub.as_mut().and_then(|s| s.items.pop_front()) {
                        permit.send(self.render(item));
                    }
                }
                changed = head.changed(), if idle => if changed.is_err() { return },
                () = std::future::ready(()), if more => {}
                _ = ping.tick() => {
                    if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Out::Ping) {
                        return;
                    }
                }
            }
        }
    }

    fn render(&self, item: Item) -> Out {
        match item {
            Item::Event(e) => {
                self.metrics.events.delivered(SubscriberKind::WebSocket);
                Out::Text(self.hub.frames.get(&e, &self.hub.config.source))
            }
            Item::Msg(m) => Out::Text(text(&m)),
        }
    }

    /// Queues `msg` after what is queued already; `false` when the writer is gone.
    async fn send(&self, msg: &ServerMsg) -> bool {
        self.tx.send(Out::Text(text(msg))).await.is_ok()
    }

    /// Handles one client frame; `false` ends the session.
    async fn on_frame(&mut self, frame: Message) -> bool {
        let parsed = match frame {
            Message::Text(t) => serde_json::from_str::<ClientMsg>(t.as_str())
                .map_err(|e| format!("invalid message: {e}")),
            Message::Binary(_) => Err("binary frames are not supported: send JSON text".into()),
            Message::Close(_) => return false,
            Message::Ping(_) | Message::Pong(_) => return true,
        };
        match parsed {
            Ok(ClientMsg::Ping) => self.send(&ServerMsg::Pong).await,
            Ok(ClientMsg::Subscribe {
                channels,
                filter,
                since,
            }) => self.subscribe(Selector::new(channels, filter), since).await,
            Err(detail) => self.send(&ServerMsg::Error { detail }).await,
        }
    }

    /// Replaces the subscription: from `since` (replayed first) or from the head.
    async fn subscribe(&mut self, selector: Selector, since: Option<u64>) -> bool {
        self.sub = None;
        let mut head = self.store.event_log().head();
        if let Some(s) = since
            && s > head
            && self.store.is_shared()
        {
            // A client coming from another server on the same database may have seen a
            // little further than this one has yet.
            head = wait_for_head(&self.store, s).await;
        }
        let mut items = VecDeque::new();
        let (cursor, replay_until) = match since {
            None => (head, None),
            Some(s) if s <= head => (s, Some(head)),
            Some(s) => {
                items.push_back(Item::Msg(ServerMsg::Resync {
                    from: head,
                    reason: format!("since {s} is past the newest event {head}"),
                }));
                (head, Some(head))
            }
        };
        if !self
            .send(&ServerMsg::Subscribed {
                since: cursor,
                head,
            })
            .await
        {
            return false;
        }
        self.sub = Some(Sub {
            selector,
            cursor,
            replay_until,
            items,
        });
        true
    }
}

/// How long a subscription from past the head waits for this server to get there.
const SINCE_WAIT: Duration = Duration::from_secs(2);

/// The log's head once it reaches `since`, or after [`SINCE_WAIT`].
async fn wait_for_head(store: &Arc<dyn Store>, since: u64) -> u64 {
    let mut head = store.event_log().watch();
    let _ = tokio::time::timeout(SINCE_WAIT, head.wait_for(|h| *h >= since)).await;
    store.event_log().head()
}

/// Reads the history after `sub.cursor` until something is queued, the head is reached, or
/// a turn's reads are used: from the in-memory log; from the store while replaying past it;
/// and when a live subscriber's cursor has left the log, a `resync` to the head.
async fn read(store: &dyn Store, hub: &Hub, sub: &mut Sub) {
    let log = store.event_log();
    for _ in 0..READS_PER_TURN {
        match log.since(sub.cursor, LOG_BATCH) {
            Since::Events(events) => {
                for e in events {
                    sub.cursor = e.seq();
                    if sub.selector.matches(&e) {
                        sub.items.push_back(Item::Event(e));
                    }
                }
            }
            Since::TooOld if sub.replay_until.is_some() => read_store(store, hub, sub).await,
            Since::TooOld => {
                let head = log.head();
                sub.items.push_back(Item::Msg(ServerMsg::Resync {
                    from: head,
                    reason: format!(
                        "the client fell too far behind: events after {} are no longer \
                         streamed; reload and continue from {head}",
                        sub.cursor
                    ),
                }));
                sub.cursor = head;
            }
        }
        if let Some(target) = sub.replay_until
            && sub.cursor >= target
        {
            sub.items.push_back(Item::Msg(ServerMsg::CaughtUp {
                sequence_id: sub.cursor,
            }));
            sub.replay_until = None;
        }
        if !sub.items.is_empty() || sub.cursor >= log.head() {
            return;
        }
    }
}

/// One page of the stored history after the cursor, up to the log's head (events past it
/// may still be committing out of order).
async fn read_store(store: &dyn Store, hub: &Hub, sub: &mut Sub) {
    let head = store.event_log().head();
    let page = hub.config.replay_page.max(1);
    match store.events_after(sub.cursor, page).await {
        Ok(events) => {
            let complete = (events.len() as u64) < page;
            for e in events {
                if e.seq() > head {
                    break;
                }
                sub.cursor = e.seq();
                if sub.selector.matches(&e) {
                    sub.items.push_back(Item::Event(Arc::new(e)));
                }
            }
            if complete {
                // Every event up to `head` was committed before it was read: all were seen.
                sub.cursor = sub.cursor.max(head);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the event history for a WebSocket replay");
            sub.items.push_back(Item::Msg(ServerMsg::Error {
                detail: "reading the event history failed".into(),
            }));
            let now = store.event_log().head();
            sub.items.push_back(Item::Msg(ServerMsg::Resync {
                from: now,
                reason: format!("the replay after {} could not be read", sub.cursor),
            }));
            sub.cursor = now;
        }
    }
}

fn text(msg: &ServerMsg) -> Utf8Bytes {
    // A `ServerMsg` always serialises.
    serde_json::to_string(msg).unwrap_or_default().into()
}

/// Drains `rx` into `sink`, flushing after each batch; at shutdown sends a close frame.
async fn write<S>(
    mut sink: S,
    mut rx: mpsc::Receiver<Out>,
    shutdown: CancellationToken,
    stall: Duration,
) where
    S: Sink<Message> + Unpin,
{
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        let n = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            n = rx.recv_many(&mut batch, WRITE_BATCH) => n,
        };
        if n == 0 {
            let _ = sink.close().await;
            return;
        }
        let frames = batch.drain(..).map(|out| match out {
            Out::Text(t) => Message::Text(t),
            Out::Ping => Message::Ping(Default::default()),
        });
        let mut frames = futures::stream::iter(frames.map(Ok));
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            sent = tokio::time::timeout(stall, sink.send_all(&mut frames)) => match sent {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    // Dropping the sink closes the connection; the pump ends with the queue.
                    tracing::warn!(?stall, "dropping a WebSocket client that stopped reading");
                    return;
                }
            },
        }
    }
    let close = Message::Close(Some(CloseFrame {
        code: close_code::AWAY,
        reason: "server shutting down".into(),
    }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if sink.send(close).await.is_ok() {
            let _ = sink.close().await;
        }
    })
    .await;
}
