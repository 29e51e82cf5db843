//! Subscribers of channel `node` that record what they receive: a WebSocket stream, a
//! `/listen` long-poll (plain or durable), each as a task that runs until it has seen a
//! number of events or its time is up.
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use maestro_common::ws::{ClientMsg, ServerMsg, StreamFilter};
use maestro_e2e::Client;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// One delivered event: its sequence and what it was about (`op:node-id`).
pub type Seen = (u64, String);

/// When a subscriber has seen enough.
#[derive(Clone)]
pub enum Until {
    /// This many events.
    Count(usize),
    /// The event with this sequence (0: not known yet).
    Seq(watch::Receiver<u64>),
}

impl Until {
    fn done(&self, seen: &[Seen]) -> bool {
        match self {
            Self::Count(n) => seen.len() >= *n,
            Self::Seq(goal) => {
                let goal = *goal.borrow();
                goal > 0 && seen.last().is_some_and(|e| e.0 >= goal)
            }
        }
    }
}

/// The `op:id` of a CloudEvent of channel `node`.
fn key(cloudevent: &Value) -> String {
    format!(
        "{}:{}",
        cloudevent["data"]["op"].as_str().unwrap_or("?"),
        cloudevent["data"]["id"].as_str().unwrap_or("?")
    )
}

/// A WebSocket subscriber of server `url`, subscribed when this returns; its task ends when
/// it has seen what `until` says, or at `deadline`.
pub async fn ws(url: &str, until: Until, deadline: Instant) -> JoinHandle<Vec<Seen>> {
    let ws_url = format!("{}/latest/ws", url.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let subscribe = ClientMsg::Subscribe {
        channels: vec!["node".to_owned()],
        filter: StreamFilter::default(),
        since: None,
    };
    let text = serde_json::to_string(&subscribe).unwrap();
    socket.send(Message::text(text)).await.unwrap();
    loop {
        let Some(Ok(Message::Text(t))) = socket.next().await else {
            panic!("the WebSocket closed before subscribing");
        };
        if let Ok(ServerMsg::Subscribed { .. }) = serde_json::from_str(t.as_str()) {
            break;
        }
    }
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while !until.done(&seen) {
            // Short waits, so that a goal set later is noticed.
            let wait = deadline.min(Instant::now() + Duration::from_millis(500));
            let frame = tokio::time::timeout_at(wait, socket.next()).await;
            if frame.is_err() && Instant::now() < deadline {
                continue;
            }
            let Ok(Some(Ok(frame))) = frame else { break };
            let Message::Text(t) = frame else { continue };
            match serde_json::from_str(t.as_str()) {
                Ok(ServerMsg::Event {
                    sequence_id, event, ..
                }) => seen.push((sequence_id, key(&event))),
                Ok(ServerMsg::Resync { from, reason }) => {
                    panic!("a resync to {from} ({reason}) after {} events", seen.len())
                }
                _ => {}
            }
        }
        seen
    })
}

/// `POST /subscribe/node`, durable under `subscriber_id` when given; the subscription id.
pub async fn subscribe(c: &Client, subscriber_id: Option<&str>) -> u64 {
    let path = match subscriber_id {
        Some(sid) => format!("/latest/subscribe/node?subscriber_id={sid}"),
        None => "/latest/subscribe/node".to_owned(),
    };
    let (s, body) = c.call(Method::POST, &path, None).await;
    assert_eq!(s, 200, "subscribe: {body}");
    body["id"].as_u64().unwrap()
}

/// One `GET /listen/{id}`: the event, `None` for a BEEP; `Err` with the status and body of
/// anything but 200.
pub async fn listen(c: &Client, sub: u64) -> Result<Option<Seen>, (u16, Value)> {
    let (s, body) = c
        .call(Method::GET, &format!("/latest/listen/{sub}"), None)
        .await;
    if s != 200 {
        return Err((s, body));
    }
    let event: Value = serde_json::from_str(body["data"].as_str().unwrap()).unwrap();
    if event["data"] == "BEEP" {
        return Ok(None);
    }
    Ok(Some((event["_sequence_id"].as_u64().unwrap(), key(&event))))
}

/// A long-poll subscriber on subscription `sub` (made by [`subscribe`]); its task ends when
/// it has seen what `until` says, or at `deadline`.
pub fn longpoll(c: Client, sub: u64, until: Until, deadline: Instant) -> JoinHandle<Vec<Seen>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while !until.done(&seen) && Instant::now() < deadline {
            match listen(&c, sub).await {
                Ok(Some(e)) => seen.push(e),
                Ok(None) => {}
                Err((s, body)) => panic!("listen: {s} {body}"),
            }
        }
        seen
    })
}

/// How long subscribers wait at most for what they expect.
pub const PATIENCE: Duration = Duration::from_secs(120);
