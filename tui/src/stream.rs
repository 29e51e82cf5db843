//! The live feed: the WebSocket stream of our server, or, against a server without
//! `/latest/ws` (the Python API), `/subscribe` + `/listen` with a token and `/nodes/fast`
//! polling without one. Resumes after the last sequence seen, with backoff, forever.
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use maestro_common::event::NodeEvent;
use maestro_common::ws::{ClientMsg, ServerMsg, StreamFilter};
use maestro_common::{Node, Timestamp};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::action::Action;
use crate::client::{Client, ClientError};
use crate::state::ConnState;

/// First pause before reconnecting; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the no-token fallback asks for changed nodes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How a session ended.
enum Ended {
    /// The server has no WebSocket endpoint: use a fallback.
    Unsupported,
    /// The connection broke (or never opened): reconnect. `true` when the session had
    /// been subscribed (the server was fine until then): the backoff starts over.
    Lost(String, bool),
}

/// The CloudEvent of a node event as an action, or `None` for other payloads (BEEPs,
/// other channels' data).
pub fn node_action(cloudevent: &Value, sequence: Option<u64>) -> Option<Action> {
    let data = cloudevent.get("data")?;
    let event: NodeEvent = serde_json::from_value(data.clone()).ok()?;
    let time = cloudevent
        .get("time")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse_iso)
        .unwrap_or_else(Timestamp::now);
    let sequence = sequence.or_else(|| cloudevent.get("_sequence_id").and_then(Value::as_u64));
    Some(Action::NodeChanged {
        sequence,
        time,
        event: Box::new(event),
    })
}

/// Runs the feed for ever (until the receiver is gone), sending actions to `tx`.
pub async fn run(
    client: Client,
    since: Option<u64>,
    filter: StreamFilter,
    tx: mpsc::Sender<Action>,
) {
    let mut since = since;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let _ = tx.send(Action::Connection(ConnState::Connecting)).await;
        match websocket(&client, &mut since, &filter, &tx).await {
            Ended::Unsupported => {
                tracing::info!("no WebSocket stream on this server; falling back");
                fallback(&client, &tx).await;
                return;
            }
            Ended::Lost(why, established) => {
                if tx.is_closed() {
                    return;
                }
                if established {
                    backoff = FIRST_BACKOFF;
                }
                tracing::warn!(%why, "event stream lost");
                let secs = backoff.as_secs();
                for left in (1..=secs).rev() {
                    let _ = tx
                        .send(Action::Connection(ConnState::Reconnecting(left)))
                        .await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn ws_url(client: &Client) -> String {
    let http = client.url("ws");
    let s = http.as_str();
    if let Some(rest) = s.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        s.replacen("http://", "ws://", 1)
    }
}

async fn websocket(
    client: &Client,
    since: &mut Option<u64>,
    filter: &StreamFilter,
    tx: &mpsc::Sender<Action>,
) -> Ended {
    let Ok(mut request) = ws_url(client).into_client_request() else {
        return Ended::Unsupported;
    };
    if let Some(t) = client.token()
        && let Ok(v) = format!("Bearer {}", t.expose()).parse()
    {
        request.headers_mut().insert("authorization", v);
    }
    let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(ok) => ok,
        Err(tungstenite::Error::Http(resp)) if resp.status().is_client_error() => {
            return Ended::Unsupported;
        }
        Err(e) => return Ended::Lost(e.to_string(), false),
    };
    let mut established = false;
    let subscribe = ClientMsg::Subscribe {
        channels: vec!["node".into()],
        filter: filter.clone(),
        since: *since,
    };
    let Ok(text) = serde_json::to_string(&subscribe) else {
        return Ended::Unsupported;
    };
    if let Err(e) = socket.send(tungstenite::Message::text(text)).await {
        return Ended::Lost(e.to_string(), established);
    }
    let _ = tx.send(Action::Connection(ConnState::CatchingUp)).await;
    while let Some(msg) = socket.next().await {
        let text = match msg {
            Ok(tungstenite::Message::Text(t)) => t,
            Ok(tungstenite::Message::Close(_)) => {
                return Ended::Lost("closed by the server".into(), established);
            }
            Ok(_) => continue,
            Err(e) => return Ended::Lost(e.to_string(), established),
        };
        let Ok(msg) = serde_json::from_str::<ServerMsg>(&text) else {
            continue;
        };
        let action = match msg {
            ServerMsg::Subscribed { since: s, head } => {
                established = true;
                Some(Action::Connection(if s >= head {
                    ConnState::Live
                } else {
                    ConnState::CatchingUp
                }))
            }
            ServerMsg::CaughtUp { sequence_id } => {
                *since = Some(since.map_or(sequence_id, |s| s.max(sequence_id)));
                Some(Action::Connection(ConnState::Live))
            }
            ServerMsg::Event {
                sequence_id, event, ..
            } => {
                *since = Some(sequence_id);
                node_action(&event, Some(sequence_id))
            }
            ServerMsg::Resync { from, .. } => {
                *since = Some(from);
                Some(Action::Resync)
            }
            ServerMsg::Pong | ServerMsg::Error { .. } => None,
        };
        if let Some(a) = action
            && tx.send(a).await.is_err()
        {
            return Ended::Lost("the monitor stopped".into(), established);
        }
    }
    Ended::Lost("the stream ended".into(), established)
}

/// Without the WebSocket stream: long-poll with a token, poll without.
async fn fallback(client: &Client, tx: &mpsc::Sender<Action>) {
    if client.token().is_some() {
        long_poll(client, tx).await;
    } else {
        poll(client, tx).await;
    }
}

async fn long_poll(client: &Client, tx: &mpsc::Sender<Action>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let sub = match subscribe(client).await {
            Ok(id) => id,
            Err(e) => {
                if tx.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "subscribe failed");
                let _ = tx
                    .send(Action::Connection(ConnState::Reconnecting(
                        backoff.as_secs(),
                    )))
                    .await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        let _ = tx.send(Action::Connection(ConnState::LongPoll)).await;
        loop {
            match listen(client, sub).await {
                Ok(Some(event)) => {
                    if let Some(a) = node_action(&event, None)
                        && tx.send(a).await.is_err()
                    {
                        return;
                    }
                }
                Ok(None) => {
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listen failed; subscribing again");
                    break;
                }
            }
        }
    }
}

/// Sends a request with the client's token; the JSON answer, or the error status.
async fn authed_json(client: &Client, rb: reqwest::RequestBuilder) -> Result<Value, ClientError> {
    let resp = rb
        .bearer_auth(client.token().map(|t| t.expose()).unwrap_or_default())
        .send()
        .await
        .map_err(|e| ClientError::Network(e.to_string()))?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .map_err(|e| ClientError::Decode(e.to_string()))?;
    if !status.is_success() {
        return Err(ClientError::Status {
            status,
            detail: v.to_string(),
        });
    }
    Ok(v)
}

async fn subscribe(client: &Client) -> Result<u64, ClientError> {
    let rb = client
        .http()
        .post(client.url("subscribe/node"))
        .query(&[("promisc", "true")]);
    let v = authed_json(client, rb).await?;
    v["id"]
        .as_u64()
        .ok_or_else(|| ClientError::Decode(format!("subscription without an id: {v}")))
}

/// One `/listen`: the CloudEvent, or `None` for a keep-alive BEEP.
async fn listen(client: &Client, sub: u64) -> Result<Option<Value>, ClientError> {
    let rb = client
        .http()
        .get(client.url(&format!("listen/{sub}")))
        .timeout(Duration::from_secs(90));
    let v = authed_json(client, rb).await?;
    // The CloudEvent is a JSON string inside the Redis-style envelope.
    let event: Value = match &v["data"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    Ok(match &event["data"] {
        Value::String(s) if s == "BEEP" => None,
        Value::Null => None,
        _ => Some(event),
    })
}

/// The node event a poll found: `created` when the node was not changed since.
fn polled_event(node: &Node) -> Action {
    let mut ev = NodeEvent::of(node, None, false);
    if node.updated != node.created {
        ev.op = "updated".into();
    }
    Action::NodeChanged {
        sequence: None,
        time: node.updated,
        event: Box::new(ev),
    }
}

async fn poll(client: &Client, tx: &mpsc::Sender<Action>) {
    let mut after = Timestamp::now();
    loop {
        let _ = tx.send(Action::Connection(ConnState::Polling)).await;
        let q = vec![("updated__gt".to_owned(), after.to_string())];
        match client.nodes(&q, 0, 1_000).await {
            Ok((mut nodes, _)) => {
                nodes.sort_by_key(|n| n.updated);
                for n in &nodes {
                    after = after.max(n.updated);
                    if tx.send(polled_event(n)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "poll failed");
                let _ = tx
                    .send(Action::Connection(ConnState::Reconnecting(
                        POLL_INTERVAL.as_secs(),
                    )))
                    .await;
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
