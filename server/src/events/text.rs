//! An event's two stored texts, the history record (`GET /events`, the SQLite `event.doc`)
//! and the window's `StoredEvent`, built around its `data` serialised once on the request's
//! task: the node's data was serialised three times per node write, twice of them on the
//! writer thread that every write waits for.
use maestro_common::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::StoredEvent;

/// [`maestro_common::EventRecord`] as it serialises when stored (without `node`), its
/// `data` given as text. The fields must stay those of `EventRecord`, in its order: the
/// test below compares the two.
#[derive(Serialize)]
struct RecordText<'a> {
    timestamp: &'a Timestamp,
    sequence_id: u64,
    channel: &'a str,
    owner: Option<&'a str>,
    data: &'a RawValue,
    id: &'a str,
}

/// [`StoredEvent`] as it serialises, its record given as text.
#[derive(Serialize)]
struct StoredText<'a> {
    record: &'a RawValue,
    treeid: Option<&'a str>,
    attributes: &'a Map<String, Value>,
}

/// The texts of one stored event.
pub struct EventTexts {
    /// The history record.
    pub record: String,
    /// The whole stored event, as the window keeps it.
    pub stored: Box<[u8]>,
}

/// The texts of `event`, whose `record.data` serialises as `data`.
pub fn texts(event: &StoredEvent, data: &RawValue) -> serde_json::Result<EventTexts> {
    let r = &event.record;
    let record = serde_json::value::to_raw_value(&RecordText {
        timestamp: &r.timestamp,
        sequence_id: r.sequence_id,
        channel: &r.channel,
        owner: r.owner.as_deref(),
        data,
        id: &r.id,
    })?;
    let stored = serde_json::to_vec(&StoredText {
        record: &record,
        treeid: event.treeid.as_deref(),
        attributes: &event.attributes,
    })?;
    Ok(EventTexts {
        record: String::from(Box::<str>::from(record)),
        stored: stored.into_boxed_slice(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::NewEvent;

    fn event(owner: Option<&str>, treeid: Option<&str>, attributes: Value) -> StoredEvent {
        let Value::Object(attributes) = attributes else {
            panic!("attributes are an object");
        };
        StoredEvent::new(
            NewEvent {
                channel: "node".into(),
                owner: owner.map(str::to_owned),
                data: json!({"op": "created", "id": "6526448e7d140ee220971a0e",
                             "data": {"kernel_revision": {"tree": "mainline"}, "n": 1.5},
                             "path": ["checkout", "kbuild"], "result": null}),
                treeid: treeid.map(str::to_owned),
                attributes,
            },
            42,
            "6526448e7d140ee220971a0f".into(),
            Timestamp::now(),
        )
    }

    #[test]
    fn the_texts_are_what_serialising_the_event_gives() {
        for e in [
            event(Some("admin"), Some("abc"), json!({})),
            event(
                None,
                None,
                json!({"type": "api.kernelci.org", "x": [1, "é\"\n"]}),
            ),
        ] {
            let data = serde_json::value::to_raw_value(&e.record.data).unwrap();
            let t = texts(&e, &data).unwrap();
            assert_eq!(t.record, serde_json::to_string(&e.record).unwrap());
            assert_eq!(&*t.stored, serde_json::to_vec(&e).unwrap().as_slice());
            let back: StoredEvent = serde_json::from_slice(&t.stored).unwrap();
            assert_eq!(back, e);
        }
    }
}
