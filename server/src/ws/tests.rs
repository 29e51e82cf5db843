//! Sessions driven through channels instead of a socket: a writer that stops reading, a
//! window that moves on, shutdown.
use std::convert::Infallible;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use maestro_common::ws::{ClientMsg, ServerMsg, StreamFilter};
use serde_json::{Map, json};

use super::*;
use crate::events::NewEvent;
use crate::store::sqlite::SqliteStore;

type ClientTx = mpsc::Sender<Result<Message, Infallible>>;

struct Session {
    to_server: ClientTx,
    from_server: mpsc::Receiver<Message>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A session over a store keeping `window` events in memory, with a queue of `buffer`
/// messages and a socket that holds a single frame until the test reads it.
async fn session(window: usize, buffer: usize) -> Session {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_with_event_capacity(dir.path(), window).unwrap());
    let hub = Arc::new(Hub::new(WsConfig {
        buffer,
        ..WsConfig::default()
    }));
    let (sink, from_server) = mpsc::channel(0);
    let (to_server, stream) = mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        store.clone(),
        hub,
        Arc::default(),
        shutdown.clone(),
        sink,
        stream,
    ));
    Session {
        to_server,
        from_server,
        store,
        shutdown,
        task,
        _dir: dir,
    }
}

impl Session {
    async fn send(&mut self, msg: &ClientMsg) {
        let text = serde_json::to_string(msg).unwrap();
        self.to_server
            .send(Ok(Message::Text(text.into())))
            .await
            .unwrap();
    }

    async fn recv(&mut self) -> ServerMsg {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.from_server.next())
                .await
                .expect("a frame within 10 s")
                .expect("session open");
            match frame {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    async fn publish(&self, n: usize) -> u64 {
        let mut last = 0;
        for i in 0..n {
            let event = NewEvent {
                channel: "bench".into(),
                owner: None,
                data: json!({"i": i}),
                treeid: None,
                attributes: Map::new(),
            };
            let stored = self.store.write_nodes_with_event(vec![], Some(event)).await;
            last = stored.unwrap().unwrap().seq();
        }
        last
    }
}

fn subscribe(since: Option<u64>) -> ClientMsg {
    ClientMsg::Subscribe {
        channels: vec![],
        filter: StreamFilter::default(),
        since,
    }
}

#[tokio::test]
async fn a_stalled_reader_gets_a_resync_to_the_head_never_a_silent_gap() {
    let mut s = session(32, 4).await;
    s.send(&subscribe(None)).await;
    assert_eq!(s.recv().await, ServerMsg::Subscribed { since: 0, head: 0 });
    // The socket holds one frame and the queue four: the rest waits in the log, which
    // keeps only 32 events.
    let head = s.publish(300).await;
    let mut expected = 1;
    let resync_from = loop {
        match s.recv().await {
            ServerMsg::Event { sequence_id, .. } => {
                assert_eq!(sequence_id, expected, "in order, no gap");
                expected += 1;
            }
            ServerMsg::Resync { from, .. } => break from,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        expected > 1 && expected < 300,
        "some events, then the resync"
    );
    assert_eq!(resync_from, head, "resync to the head");
    // Live again from the head.
    let next = s.publish(1).await;
    match s.recv().await {
        ServerMsg::Event { sequence_id, .. } => assert_eq!(sequence_id, next),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn replay_from_the_store_then_caught_up_then_live() {
    // A window of 8: the replay of 50 events reads the store.
    let mut s = session(8, 4).await;
    s.publish(50).await;
    s.send(&subscribe(Some(10))).await;
    assert_eq!(
        s.recv().await,
        ServerMsg::Subscribed {
            since: 10,
            head: 50
        }
    );
    for seq in 11..=50 {
        match s.recv().await {
            ServerMsg::Event { sequence_id, .. } => assert_eq!(sequence_id, seq),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(s.recv().await, ServerMsg::CaughtUp { sequence_id: 50 });
    s.publish(1).await;
    assert!(matches!(
        s.recv().await,
        ServerMsg::Event {
            sequence_id: 51,
            ..
        }
    ));
}

#[tokio::test]
async fn since_past_the_head_is_a_resync_not_a_wait() {
    let mut s = session(8, 4).await;
    s.publish(3).await;
    s.send(&subscribe(Some(99))).await;
    assert_eq!(s.recv().await, ServerMsg::Subscribed { since: 3, head: 3 });
    assert!(matches!(s.recv().await, ServerMsg::Resync { from: 3, .. }));
    assert_eq!(s.recv().await, ServerMsg::CaughtUp { sequence_id: 3 });
}

#[tokio::test]
async fn shutdown_sends_a_close_frame_and_ends_the_session() {
    let mut s = session(8, 4).await;
    s.send(&ClientMsg::Ping).await;
    assert_eq!(s.recv().await, ServerMsg::Pong);
    s.shutdown.cancel();
    let frame = s.from_server.next().await.expect("a close frame");
    match frame {
        Message::Close(Some(c)) => assert_eq!(c.code, close_code::AWAY),
        other => panic!("unexpected {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .expect("the session ends")
        .unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_with_event_capacity(dir.path(), 32).unwrap());
    let hub = Arc::new(Hub::new(WsConfig {
        buffer: 4,
        stall_timeout: Duration::from_millis(300),
        ..WsConfig::default()
    }));
    let (sink, mut from_server) = mpsc::channel(0);
    let (mut to_server, stream): (ClientTx, _) = mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        store.clone(),
        hub,
        Arc::default(),
        shutdown,
        sink,
        stream,
    ));
    let text = serde_json::to_string(&subscribe(None)).unwrap();
    to_server
        .send(Ok(Message::Text(text.into())))
        .await
        .unwrap();
    for i in 0..50 {
        let event = NewEvent {
            channel: "bench".into(),
            owner: None,
            data: json!({"i": i}),
            treeid: None,
            attributes: Map::new(),
        };
        store
            .write_nodes_with_event(vec![], Some(event))
            .await
            .unwrap();
    }
    // Nothing is read: the session gives up on the client and ends by itself.
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the session ended within 10 s")
        .unwrap();
    // What the socket held is all the client gets; then the connection is gone.
    let mut frames = 0;
    while from_server.next().await.is_some() {
        frames += 1;
    }
    assert!(frames <= 2, "{frames} frames after the stall");
}
