//! Messages of the `GET /latest/ws` event stream (JSON text frames, tagged by `type`).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Server-side filters on node events; every given field must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamFilter {
    /// Node kind (`data.kind` of the payload).
    #[serde(default)]
    pub kind: Option<String>,
    /// Node state after the change.
    #[serde(default)]
    pub state: Option<String>,
    /// Node result after the change.
    #[serde(default)]
    pub result: Option<String>,
    /// Node owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// Tree id of the node.
    #[serde(default)]
    pub treeid: Option<String>,
    /// Node name.
    #[serde(default)]
    pub name: Option<String>,
    /// Equality on dotted paths inside the node's `data` (`{"kernel_revision.tree": "mainline"}`).
    #[serde(default)]
    pub data: BTreeMap<String, Value>,
}

/// What a client sends.
// One short-lived message per frame: boxing the filter would only complicate building it.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Start (or replace) the subscription: events of `channels` that pass `filter`, after
    /// `since` (replayed from the history first), or from now when `since` is absent.
    Subscribe {
        /// Channels to receive (`node`, ...); empty receives every channel.
        channels: Vec<String>,
        /// Filters on the events of channel `node` (other channels pass by membership).
        #[serde(default)]
        filter: StreamFilter,
        /// Last sequence the client has seen.
        #[serde(default)]
        since: Option<u64>,
    },
    /// Asks for a `pong`.
    Ping,
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The subscription is active; events after `since` follow in order.
    Subscribed {
        /// Where the stream starts (exclusive).
        since: u64,
        /// The newest sequence stored when the subscription started.
        head: u64,
    },
    /// One event.
    Event {
        /// Its sequence number.
        sequence_id: u64,
        /// Its channel.
        channel: String,
        /// The CloudEvent (JSON object).
        event: Value,
    },
    /// Everything up to `sequence_id` was sent: the replay is over, live events follow.
    CaughtUp {
        /// The last sequence covered.
        sequence_id: u64,
    },
    /// The client fell too far behind: reload (for example `/nodes` with the sequence header)
    /// and subscribe again with `since = from`.
    Resync {
        /// Sequence to resume from after reloading.
        from: u64,
        /// Why.
        reason: String,
    },
    /// Answer to `ping`.
    Pong,
    /// A message the server could not take; the connection stays open.
    Error {
        /// What was wrong.
        detail: String,
    },
}
