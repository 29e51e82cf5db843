//! The event history (`eventhistory`) and the durable subscribers (`subscriber_state`), in
//! the documents the Python server writes and reads; the sequence counter (`counters`) is
//! seeded here and used by `sequence.rs`.
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use maestro_common::event::EventRecord;
use maestro_common::{Filter, Timestamp};
use mongodb::Database;
use mongodb::options::ReturnDocument;
use serde_json::Value;

use super::convert::{bson_to_json, date, json_to_bson};
use super::{MongoStore, backend, backend_msg, filter, is_duplicate_key};
use crate::events::{NewEvent, StoredEvent};
use crate::store::{StoreError, StoreResult, SubscriberState};

/// Collection of the history.
pub(super) const EVENTS: &str = "eventhistory";
/// Collection of named counters (`{_id: <name>, seq: <Int64>}`).
pub(super) const COUNTERS: &str = "counters";
/// Collection of durable subscribers.
pub(super) const SUBSCRIBERS: &str = "subscriber_state";
/// The counter of event sequence numbers.
const SEQUENCE: &str = "eventhistory";

/// The newest sequence number ever given: the larger of the counter and the newest stored
/// event, to which the counter is raised so that numbers never go back (the counter may be
/// missing, or behind history the Python server wrote with its Redis counter).
pub(super) async fn seed_sequence(db: &Database) -> StoreResult<u64> {
    let newest = db
        .collection::<Document>(EVENTS)
        .find_one(doc! {"sequence_id": {"$type": "number"}})
        .sort(doc! {"sequence_id": -1})
        .projection(doc! {"sequence_id": 1})
        .await
        .map_err(backend)?
        .and_then(|d| d.get("sequence_id").and_then(number))
        .unwrap_or(0);
    let counters = db.collection::<Document>(COUNTERS);
    let raise = || {
        counters
            .find_one_and_update(
                doc! {"_id": SEQUENCE},
                doc! {"$max": {"seq": to_i64(newest)}},
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
    };
    let counter = match raise().await {
        // Two servers starting at once both tried to create it; the loser updates.
        Err(e) if is_duplicate_key(&e) => raise().await,
        other => other,
    }
    .map_err(backend)?;
    Ok(counter
        .as_ref()
        .and_then(|d| d.get("seq"))
        .and_then(number)
        .unwrap_or(0)
        .max(newest))
}

/// `event` as stored with `sequence_id`, and its document.
pub(super) fn new_event(event: &NewEvent, sequence_id: u64) -> (StoredEvent, Document) {
    let id = ObjectId::new();
    let stored = StoredEvent::new(event.clone(), sequence_id, id.to_hex(), Timestamp::now());
    let record = &stored.record;
    // The fields and types of the Python server's `EventHistory`, in its order.
    let mut doc = doc! {
        "_id": id,
        "timestamp": date(record.timestamp),
        "sequence_id": to_i64(sequence_id),
        "channel": &record.channel,
        "owner": record.owner.as_deref().map_or(Bson::Null, Bson::from),
        "data": json_to_bson(record.data.clone()),
    };
    // Ours alone; the Python server ignores them.
    if let Some(treeid) = &stored.treeid {
        doc.insert("treeid", treeid);
    }
    if !stored.attributes.is_empty() {
        doc.insert(
            "attributes",
            json_to_bson(Value::Object(stored.attributes.clone())),
        );
    }
    (stored, doc)
}

/// Loads a stored event, tolerating what the Python server writes: Int32 sequence ids,
/// a missing owner.
pub(super) fn doc_to_event(mut doc: Document) -> StoreResult<StoredEvent> {
    let id = match doc.remove("_id") {
        Some(Bson::ObjectId(o)) => o.to_hex(),
        Some(Bson::String(s)) => s,
        other => return Err(backend_msg(format!("stored event with _id {other:?}"))),
    };
    let timestamp = match doc.remove("timestamp") {
        Some(Bson::DateTime(d)) => Timestamp::from_millis(d.timestamp_millis()),
        Some(Bson::String(s)) => Timestamp::parse_iso(&s),
        _ => None,
    }
    .ok_or_else(|| backend_msg(format!("stored event {id}: bad or missing timestamp")))?;
    let sequence_id = doc.get("sequence_id").and_then(number).unwrap_or(0);
    let channel = match doc.remove("channel") {
        Some(Bson::String(s)) => s,
        other => {
            return Err(backend_msg(format!("stored event {id}: channel {other:?}")));
        }
    };
    let text = |v: Option<Bson>| match v {
        Some(Bson::String(s)) => Some(s),
        _ => None,
    };
    let owner = text(doc.remove("owner"));
    let treeid = text(doc.remove("treeid"));
    let data = doc.remove("data").map_or(Value::Null, bson_to_json);
    let attributes = match doc.remove("attributes") {
        Some(Bson::Document(a)) => a.into_iter().map(|(k, v)| (k, bson_to_json(v))).collect(),
        _ => serde_json::Map::new(),
    };
    Ok(StoredEvent {
        record: EventRecord {
            timestamp,
            sequence_id,
            channel,
            owner,
            data,
            id,
            node: None,
        },
        treeid,
        attributes,
    })
}

/// Up to `limit` events with a sequence above `after`, in sequence order.
pub(super) async fn after(
    store: &MongoStore,
    after: u64,
    limit: u64,
) -> StoreResult<Vec<StoredEvent>> {
    let query = doc! {"sequence_id": {"$gt": to_i64(after)}};
    read(store, query, 0, Some(limit)).await
}

/// Events matching `filter`, in sequence order.
pub(super) async fn find(
    store: &MongoStore,
    filter: &Filter,
    offset: u64,
    limit: Option<u64>,
) -> StoreResult<Vec<StoredEvent>> {
    read(store, filter::to_event_query(filter)?, offset, limit).await
}

async fn read(
    store: &MongoStore,
    query: Document,
    offset: u64,
    limit: Option<u64>,
) -> StoreResult<Vec<StoredEvent>> {
    let docs = super::find_sorted(
        &store.events,
        query,
        doc! {"sequence_id": 1},
        (offset, limit),
        store.max_time,
    )
    .await?;
    docs.into_iter().map(doc_to_event).collect()
}

/// The durable subscriber `id`.
pub(super) async fn find_subscriber(
    store: &MongoStore,
    id: &str,
) -> StoreResult<Option<SubscriberState>> {
    let found = store
        .subscribers
        .find_one(doc! {"subscriber_id": id})
        .await
        .map_err(backend)?;
    found.as_ref().map(doc_to_subscriber).transpose()
}

/// Records a new durable subscriber; `Conflict` when the id exists.
pub(super) async fn insert_subscriber(store: &MongoStore, s: &SubscriberState) -> StoreResult<()> {
    // The document of section 8.5, in its order; the server gives it an ObjectId `_id`.
    let doc = doc! {
        "subscriber_id": &s.subscriber_id,
        "channel": &s.channel,
        "user": &s.user,
        "promiscuous": s.promiscuous,
        "last_event_id": to_i64(s.last_event_id),
        "created_at": date(s.created_at),
        "last_poll": s.last_poll.map_or(Bson::Null, date),
    };
    store.subscribers.insert_one(doc).await.map_err(|e| {
        if is_duplicate_key(&e) {
            StoreError::Conflict(format!("subscriber '{}' exists", s.subscriber_id))
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

/// Moves the subscriber's position forward (never back) and records the poll time.
pub(super) async fn ack_subscriber(
    store: &MongoStore,
    id: &str,
    seq: u64,
    at: Timestamp,
) -> StoreResult<()> {
    store
        .subscribers
        .update_one(
            doc! {"subscriber_id": id},
            doc! {
                "$max": {"last_event_id": to_i64(seq)},
                "$set": {"last_poll": date(at)},
            },
        )
        .await
        .map_err(backend)?;
    Ok(())
}

fn doc_to_subscriber(doc: &Document) -> StoreResult<SubscriberState> {
    let id = doc.get_str("subscriber_id").unwrap_or_default();
    let text = |key: &str| {
        doc.get_str(key)
            .map(str::to_owned)
            .map_err(|e| backend_msg(format!("subscriber '{id}': field '{key}': {e}")))
    };
    let time = |key: &str| match doc.get(key) {
        Some(Bson::DateTime(d)) => Timestamp::from_millis(d.timestamp_millis()),
        _ => None,
    };
    Ok(SubscriberState {
        subscriber_id: text("subscriber_id")?,
        channel: text("channel")?,
        user: text("user")?,
        promiscuous: doc.get_bool("promiscuous").unwrap_or(false),
        last_event_id: doc.get("last_event_id").and_then(number).unwrap_or(0),
        created_at: time("created_at")
            .ok_or_else(|| backend_msg(format!("subscriber '{id}': bad created_at")))?,
        last_poll: time("last_poll"),
    })
}

/// A sequence number whatever numeric type stored it (pymongo writes Int32 when it fits).
pub(super) fn number(v: &Bson) -> Option<u64> {
    match v {
        Bson::Int32(i) => u64::try_from(*i).ok(),
        Bson::Int64(i) => u64::try_from(*i).ok(),
        Bson::Double(f) if f.is_finite() && *f >= 0.0 => Some(f.trunc() as u64),
        _ => None,
    }
}

/// A count or sequence number as BSON's widest integer.
pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn new(owner: Option<&str>) -> NewEvent {
        NewEvent {
            channel: "node".into(),
            owner: owner.map(str::to_owned),
            data: json!({"op": "created", "id": "x", "n": 3, "big": 1_i64 << 40}),
            treeid: None,
            attributes: serde_json::Map::new(),
        }
    }

    #[test]
    fn event_documents_have_the_python_shape_and_round_trip() {
        let (stored, doc) = new_event(&new(None), 7);
        let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "_id",
                "timestamp",
                "sequence_id",
                "channel",
                "owner",
                "data"
            ]
        );
        assert!(matches!(doc.get("_id"), Some(Bson::ObjectId(_))));
        assert!(matches!(doc.get("timestamp"), Some(Bson::DateTime(_))));
        assert_eq!(doc.get("sequence_id"), Some(&Bson::Int64(7)));
        assert_eq!(doc.get("owner"), Some(&Bson::Null));
        assert_eq!(doc_to_event(doc).unwrap(), stored);

        let mut extra = new(Some("bob"));
        extra.treeid = Some("t1".into());
        extra.attributes.insert("type".into(), json!("custom"));
        let (stored, doc) = new_event(&extra, 8);
        assert_eq!(doc.get_str("owner").unwrap(), "bob");
        assert_eq!(doc.get_str("treeid").unwrap(), "t1");
        assert_eq!(
            doc.get_document("attributes").unwrap(),
            &doc! {"type": "custom"}
        );
        assert_eq!(doc_to_event(doc).unwrap(), stored);
    }

    #[test]
    fn python_written_events_load() {
        let id = ObjectId::new();
        let doc = doc! {
            "_id": id, "timestamp": bson::DateTime::from_millis(1_736_670_600_123),
            "sequence_id": 12_i32, "channel": "retry", "data": {"op": "x"},
        };
        let e = doc_to_event(doc).unwrap();
        assert_eq!(e.record.id, id.to_hex());
        assert_eq!(e.record.sequence_id, 12);
        assert_eq!(e.record.owner, None);
        assert_eq!(e.record.node, None);
        assert_eq!(e.record.timestamp.to_string(), "2025-01-12T08:30:00.123000");
        assert_eq!(e.treeid, None);
        assert!(e.attributes.is_empty());
    }
}
