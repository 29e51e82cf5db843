//! Event history and subscriber tests of the MongoDB store: document shapes, Python-written
//! data, failures with and without transactions, indexes.
use std::sync::atomic::Ordering;

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, doc};
use futures::TryStreamExt;
use maestro_common::{Filter, FilterValue, NodeState, Timestamp};
use mongodb::IndexModel;
use mongodb::options::IndexOptions;
use serde_json::json;

use super::{db_name, filter, node, store, uri};
use crate::events::NewEvent;
use crate::store::mongo::MongoStore;
use crate::store::{NodeWrite, Store, StoreError, SubscriberState};

fn publish_event(channel: &str, owner: Option<&str>) -> NewEvent {
    NewEvent {
        channel: channel.into(),
        owner: owner.map(str::to_owned),
        data: json!({"op": "created", "kind": "checkout", "n": 1}),
        treeid: None,
        attributes: serde_json::Map::new(),
    }
}

/// A failing event insert (a test-only unique index on `channel`) undoes the node writes
/// and stores nothing; the number it took is a hole at once (readers need not wait for
/// it). Returns the sequence the next event got.
async fn event_insert_failure_undoes_the_batch(s: &MongoStore) -> u64 {
    let options = IndexOptions::builder().unique(true).build();
    s.events
        .create_index(
            IndexModel::builder()
                .keys(doc! {"channel": 1})
                .options(options)
                .build(),
        )
        .await
        .unwrap();
    let a = node("checkout", "a", None);
    let e1 = s
        .write_nodes_with_event(
            vec![NodeWrite::Insert(a.clone())],
            Some(publish_event("x", None)),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e1.seq(), 1);
    let b = node("checkout", "b", None);
    let mut a2 = a.clone();
    a2.state = NodeState::Done;
    let err = s
        .write_nodes_with_event(
            vec![NodeWrite::Insert(b.clone()), NodeWrite::Replace(a2)],
            Some(publish_event("x", None)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(s.get_node(b.id.as_ref().unwrap()).await.unwrap(), None);
    assert_eq!(s.get_node(a.id.as_ref().unwrap()).await.unwrap(), Some(a));
    assert_eq!(s.event_log().head(), 1);
    assert_eq!(s.events.count_documents(doc! {}).await.unwrap(), 1);
    let hole = s.claims.find_one(doc! {"_id": 2_i64}).await.unwrap();
    assert_eq!(hole.unwrap().get_bool("hole"), Ok(true), "2 was given up");
    let next = s
        .write_nodes_with_event(Vec::new(), Some(publish_event("y", None)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.event_log().head(), next.seq());
    next.seq()
}

#[tokio::test]
async fn a_failed_event_insert_rolls_the_transaction_back() {
    let Some(s) = store("evtxn").await else {
        return;
    };
    assert_eq!(event_insert_failure_undoes_the_batch(&s).await, 3);
    assert!(!s.no_transactions.load(Ordering::Relaxed));
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn without_transactions_a_failed_event_insert_is_undone_and_its_number_is_a_hole() {
    let Some(s) = store("evundo").await else {
        return;
    };
    s.disable_transactions();
    assert_eq!(event_insert_failure_undoes_the_batch(&s).await, 3);
    let uri = uri().unwrap();
    let again = MongoStore::connect(&uri, s.database_name()).await.unwrap();
    assert_eq!(
        again.event_log().head(),
        3,
        "a server starting later passes the hole"
    );
    let ghost = node("test", "ghost", None);
    let err = again
        .write_nodes_with_event(
            vec![NodeWrite::Replace(ghost)],
            Some(publish_event("z", None)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let e = again
        .write_nodes_with_event(Vec::new(), Some(publish_event("z", None)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.seq(), 4, "a failed node write takes no number");
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn events_are_stored_as_the_python_server_stores_them() {
    let Some(s) = store("evshape").await else {
        return;
    };
    let plain = s
        .write_nodes_with_event(Vec::new(), Some(publish_event("node", None)))
        .await
        .unwrap()
        .unwrap();
    let mut extra = publish_event("node", Some("bob"));
    extra.treeid = Some("t1".into());
    extra.attributes.insert("type".into(), json!("custom"));
    let extra = s
        .write_nodes_with_event(Vec::new(), Some(extra))
        .await
        .unwrap()
        .unwrap();
    let oid = |id: &str| ObjectId::parse_str(id).unwrap();
    let doc = s
        .events
        .find_one(doc! {"_id": oid(&plain.record.id)})
        .await
        .unwrap()
        .unwrap();
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
    assert_eq!(doc.get("sequence_id"), Some(&Bson::Int64(1)));
    assert_eq!(
        doc.get_datetime("timestamp").unwrap().timestamp_millis(),
        plain.record.timestamp.millis()
    );
    assert_eq!(doc.get("owner"), Some(&Bson::Null));
    assert_eq!(
        doc.get_document("data").unwrap(),
        &doc! {"op": "created", "kind": "checkout", "n": 1}
    );
    let doc = s
        .events
        .find_one(doc! {"_id": oid(&extra.record.id)})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.get_str("owner").unwrap(), "bob");
    assert_eq!(doc.get_str("treeid").unwrap(), "t1");
    assert_eq!(
        doc.get_document("attributes").unwrap(),
        &doc! {"type": "custom"}
    );
    let counter = s
        .counters
        .find_one(doc! {"_id": "eventhistory"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter.get("seq"), Some(&Bson::Int64(2)));
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn python_written_history_is_read_and_continued() {
    let Some(uri) = uri() else {
        eprintln!("skipping python history test: MAESTRO_TEST_MONGODB_URI is not set");
        return;
    };
    let name = db_name("pyhist");
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let history = client
        .database(&name)
        .collection::<Document>("eventhistory");
    let t = DateTime::from_millis(1_736_670_600_123);
    let (first, second) = (ObjectId::new(), ObjectId::new());
    history
        .insert_many([
            doc! {"_id": first, "timestamp": t, "sequence_id": 40_i32, "channel": "node",
            "owner": "admin", "data": {"op": "created", "kind": "kbuild"}},
            // Written before `owner` was stored.
            doc! {"_id": second, "timestamp": t, "sequence_id": 41_i32, "channel": "retry",
            "data": {"op": "updated", "kind": "test"}},
        ])
        .await
        .unwrap();

    let s = MongoStore::connect(&uri, &name).await.unwrap();
    assert_eq!(s.event_log().head(), 41);
    let read = s.events_after(0, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].record.id, first.to_hex());
    assert_eq!(read[0].record.sequence_id, 40);
    assert_eq!(read[0].record.owner.as_deref(), Some("admin"));
    assert_eq!(
        read[0].record.timestamp.to_string(),
        "2025-01-12T08:30:00.123000"
    );
    assert_eq!(read[1].record.owner, None);
    assert_eq!(read[1].record.node, None);
    let no_owner = s
        .find_events(&Filter::eq("owner", FilterValue::Null), 0, None)
        .await
        .unwrap();
    assert_eq!(no_owner, read[1..]);
    let by_kind = s
        .find_events(&filter(&[("data.kind", "kbuild")]), 0, None)
        .await
        .unwrap();
    assert_eq!(by_kind, read[..1]);
    let next = s
        .write_nodes_with_event(Vec::new(), Some(publish_event("node", None)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.seq(), 42);
    assert_eq!(s.events_after(41, 10).await.unwrap(), [(*next).clone()]);
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn subscriber_documents_have_the_python_shape() {
    let Some(s) = store("subs").await else { return };
    let created = Timestamp::parse_iso("2025-01-02T03:04:05.678").unwrap();
    let state = SubscriberState {
        subscriber_id: "scheduler:node".into(),
        channel: "node".into(),
        user: "admin".into(),
        promiscuous: false,
        last_event_id: 12,
        created_at: created,
        last_poll: None,
    };
    s.insert_subscriber(&state).await.unwrap();
    let stored = |s: &MongoStore| {
        let subs = s.subscribers.clone();
        async move {
            subs.find_one(doc! {"subscriber_id": "scheduler:node"})
                .await
                .unwrap()
                .unwrap()
        }
    };
    let doc = stored(&s).await;
    let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "_id",
            "subscriber_id",
            "channel",
            "user",
            "promiscuous",
            "last_event_id",
            "created_at",
            "last_poll"
        ]
    );
    assert!(matches!(doc.get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(
        doc.get_datetime("created_at").unwrap().timestamp_millis(),
        created.millis()
    );
    assert_eq!(doc.get("last_poll"), Some(&Bson::Null));
    let at = Timestamp::parse_iso("2025-01-03T00:00:00").unwrap();
    s.ack_subscriber("scheduler:node", 20, at).await.unwrap();
    let doc = stored(&s).await;
    assert_eq!(doc.get("last_event_id"), Some(&Bson::Int64(20)));
    assert_eq!(
        doc.get_datetime("last_poll").unwrap().timestamp_millis(),
        at.millis()
    );

    // A state the Python server wrote: Int32 position, Python-side id.
    s.subscribers
        .insert_one(doc! {
            "subscriber_id": "kcidb:node", "channel": "node", "user": "bridge",
            "promiscuous": true, "last_event_id": 7_i32,
            "created_at": DateTime::from_millis(created.millis()), "last_poll": null,
        })
        .await
        .unwrap();
    s.ack_subscriber("kcidb:node", 5, at).await.unwrap();
    let got = s.find_subscriber("kcidb:node").await.unwrap().unwrap();
    assert_eq!((got.last_event_id, got.promiscuous), (7, true));
    assert_eq!(got.last_poll, Some(at));
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn event_indexes_match_the_python_server() {
    let Some(uri) = uri() else {
        eprintln!("skipping event index test: MAESTRO_TEST_MONGODB_URI is not set");
        return;
    };
    let name = db_name("evindexes");
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.database(&name);
    // The Python server's TTL index under another name is taken as is.
    let options = IndexOptions::builder()
        .name("ttl".to_owned())
        .expire_after(std::time::Duration::from_secs(604_800))
        .build();
    db.collection::<Document>("eventhistory")
        .create_index(
            IndexModel::builder()
                .keys(doc! {"timestamp": 1})
                .options(options)
                .build(),
        )
        .await
        .unwrap();
    let s = MongoStore::connect(&uri, &name).await.unwrap();
    let list = |coll: &str| {
        let coll = db.collection::<Document>(coll);
        async move {
            coll.list_indexes()
                .await
                .unwrap()
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
        }
    };
    let find = |indexes: &[IndexModel], name: &str| {
        indexes
            .iter()
            .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some(name))
            .cloned()
            .unwrap_or_else(|| panic!("no index {name}"))
    };
    let history = list("eventhistory").await;
    let names: Vec<_> = history
        .iter()
        .filter_map(|i| i.options.as_ref()?.name.clone())
        .collect();
    assert!(!names.contains(&"timestamp_1".to_owned()), "{names:?}");
    let ttl = find(&history, "ttl");
    assert_eq!(
        ttl.options.unwrap().expire_after,
        Some(std::time::Duration::from_secs(604_800))
    );
    assert_eq!(
        find(&history, "channel_1_sequence_id_1").keys,
        doc! {"channel": 1, "sequence_id": 1}
    );
    assert_eq!(
        find(&history, "sequence_id_1").keys,
        doc! {"sequence_id": 1}
    );
    assert_eq!(
        find(&history, "kind_timestamp").keys,
        doc! {"data.kind": 1, "timestamp": 1}
    );
    let subs = list("subscriber_state").await;
    let unique = find(&subs, "unique_subscriber_id");
    assert_eq!(unique.keys, doc! {"subscriber_id": 1});
    assert_eq!(unique.options.unwrap().unique, Some(true));
    assert_eq!(find(&subs, "last_poll").keys, doc! {"last_poll": 1});
    // Idempotent.
    let again = MongoStore::connect(&uri, &name).await.unwrap();
    drop(again);
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn without_transactions_concurrent_events_still_reach_the_log_in_order() {
    let Some(s) = store("evconc").await else {
        return;
    };
    s.disable_transactions();
    let writers = (0..8).map(|w| {
        let s = &s;
        async move {
            for r in 0..5 {
                let n = node("test", &format!("w{w}-r{r}"), None);
                s.write_nodes_with_event(
                    vec![NodeWrite::Insert(n)],
                    Some(publish_event("node", None)),
                )
                .await
                .unwrap();
            }
        }
    });
    futures::future::join_all(writers).await;
    let crate::events::Since::Events(logged) = s.event_log().since(0, usize::MAX) else {
        panic!("the log lost events");
    };
    let seqs: Vec<u64> = logged.iter().map(|e| e.seq()).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    let stored = s.events_after(0, 100).await.unwrap();
    assert_eq!(stored.len(), 40);
    assert!(stored.iter().zip(&logged).all(|(a, b)| a == &**b));
    s.drop_database().await.unwrap();
}
