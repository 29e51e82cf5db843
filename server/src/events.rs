//! Events as the server keeps them: what a write asks to publish ([`NewEvent`]), what the
//! store made of it ([`StoredEvent`]), and the in-memory [`EventLog`] of recent events that
//! listeners read from (the store being the source of truth).
use std::sync::Arc;

use maestro_common::Timestamp;
use maestro_common::event::EventRecord;
use serde_json::{Map, Value};

pub mod log;
pub mod text;

pub use log::{EventLimits, EventLog, Next, Resolved, Since};

/// An event to store with (or without) a node write.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Channel (`node` for node changes).
    pub channel: String,
    /// Publisher; for node events the node's owner. Non-promiscuous subscribers only see
    /// events without an owner or with their own.
    pub owner: Option<String>,
    /// The payload.
    pub data: Value,
    /// Tree id of the node an event is about, for stream filters (not in the payload).
    pub treeid: Option<String>,
    /// Extra CloudEvent attributes given to `/publish` (`type`, `source`, extensions).
    pub attributes: Map<String, Value>,
}

/// An event as stored: its history record plus what the stream needs. Serialised as is
/// in the [`EventLog`] window.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvent {
    /// The record `GET /events` shows.
    pub record: EventRecord,
    /// Tree id of the node, when the event is about one.
    pub treeid: Option<String>,
    /// Extra CloudEvent attributes given to `/publish`.
    pub attributes: Map<String, Value>,
}

impl StoredEvent {
    /// The stored form of `event` at `sequence_id`, with a new history id.
    pub fn new(event: NewEvent, sequence_id: u64, id: String, timestamp: Timestamp) -> Self {
        Self {
            record: EventRecord {
                timestamp,
                sequence_id,
                channel: event.channel,
                owner: event.owner,
                data: event.data,
                id,
                node: None,
            },
            treeid: event.treeid,
            attributes: event.attributes,
        }
    }

    /// Its sequence number.
    pub fn seq(&self) -> u64 {
        self.record.sequence_id
    }
}

/// A shared stored event.
pub type SharedEvent = Arc<StoredEvent>;
