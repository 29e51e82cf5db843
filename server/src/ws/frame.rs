//! The text of `event` frames: the CloudEvent of a stored event (the shared builder of
//! `crate::pubsub::cloudevent`), built once per event and shared by every session through a
//! small ring of recent frames.
use axum::extract::ws::Utf8Bytes;
use maestro_common::ws::ServerMsg;
use serde_json::Value;

use crate::events::StoredEvent;
use crate::pubsub::cloudevent::{CloudEventParts, cloudevent};
use crate::pubsub::recent::RecentTexts;

/// Recent frames kept; a session further behind than this rebuilds (with a new `id`).
const SLOTS: usize = 2048;

/// The `event` frame of a stored event.
fn build(event: &StoredEvent, source: &str) -> Utf8Bytes {
    let msg = ServerMsg::Event {
        sequence_id: event.seq(),
        channel: event.record.channel.clone(),
        event: Value::Object(cloudevent(&CloudEventParts::of_stored(event), source)),
    };
    // Serialising a `Value` tree cannot fail.
    serde_json::to_string(&msg).unwrap_or_default().into()
}

/// Frames of recent events.
#[derive(Debug)]
pub(super) struct FrameCache {
    frames: RecentTexts<Utf8Bytes>,
}

impl Default for FrameCache {
    fn default() -> Self {
        Self {
            frames: RecentTexts::new(SLOTS),
        }
    }
}

impl FrameCache {
    /// The frame of `event`, built on first use.
    pub(super) fn get(&self, event: &StoredEvent, source: &str) -> Utf8Bytes {
        self.frames
            .get_or_build(event.seq(), || build(event, source))
    }
}

#[cfg(test)]
mod tests {
    use maestro_common::Timestamp;
    use serde_json::{Map, json};

    use super::*;
    use crate::events::NewEvent;

    #[test]
    fn one_frame_per_event_with_its_cloudevent() {
        let new = NewEvent {
            channel: "node".into(),
            owner: Some("bob".into()),
            data: json!({"op": "created"}),
            treeid: None,
            attributes: Map::new(),
        };
        let stored = StoredEvent::new(new, 42, "0".repeat(24), Timestamp::now());
        let cache = FrameCache::default();
        let a = cache.get(&stored, "https://api.kernelci.org/");
        let b = cache.get(&stored, "https://api.kernelci.org/");
        assert_eq!(a, b, "one frame (one CloudEvent id) per event");
        let frame: Value = serde_json::from_str(a.as_str()).unwrap();
        assert_eq!(frame["type"], "event");
        assert_eq!(frame["sequence_id"], 42);
        assert_eq!(frame["channel"], "node");
        let ce = &frame["event"];
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["owner"], "bob");
        assert_eq!(ce["_sequence_id"], 42);
        assert_eq!(ce["data"]["op"], "created");
    }
}
