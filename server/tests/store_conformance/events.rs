//! Event history cases: sequence numbers, events stored with their node writes (or not at
//! all), the in-memory log, paging and filters, restarts, and durable subscribers.

use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use maestro_common::event::NodeEvent;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Condition, Filter, FilterValue, Node, NodeState, Op, Timestamp};
use maestro_server::events::{NewEvent, SharedEvent, Since, StoredEvent};
use maestro_server::store::{NodeWrite, Store, SubscriberState};
use serde_json::{Value, json};

use crate::support::{assert_conflict, assert_not_found, get, id_of, map, node, ts};

/// A backend that can be closed and opened again on the same data, for restart cases.
pub trait Reopen: Send {
    /// The open store.
    fn store(&self) -> &dyn Store;
    /// Closes the store and opens a new one on the same data.
    fn reopen(&mut self) -> BoxFuture<'_, ()>;
}

fn event(channel: &str, owner: Option<&str>, data: Value) -> NewEvent {
    NewEvent {
        channel: channel.to_owned(),
        owner: owner.map(str::to_owned),
        data,
        treeid: None,
        attributes: serde_json::Map::new(),
    }
}

/// The event of a node change on channel `node`, as the node routes publish it.
fn node_event(n: &Node, previous: Option<&Node>) -> NewEvent {
    let payload = serde_json::to_value(NodeEvent::of(n, previous, false)).unwrap();
    NewEvent {
        treeid: n.treeid.clone(),
        ..event("node", n.owner.as_deref(), payload)
    }
}

/// Stores an event with no node write (`/publish`).
async fn publish(store: &dyn Store, e: NewEvent) -> SharedEvent {
    store
        .write_nodes_with_event(Vec::new(), Some(e))
        .await
        .expect("publish")
        .expect("an event write returns its event")
}

/// Writes `writes` with `e`, expecting success.
async fn write(store: &dyn Store, writes: Vec<NodeWrite>, e: NewEvent) -> SharedEvent {
    store
        .write_nodes_with_event(writes, Some(e))
        .await
        .expect("write with event")
        .expect("an event write returns its event")
}

/// Every stored event, in order.
async fn all_events(store: &dyn Store) -> Vec<StoredEvent> {
    store.events_after(0, 10_000).await.expect("events_after")
}

fn seqs<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<u64> {
    events.into_iter().map(StoredEvent::seq).collect()
}

/// The log's events after `after`, which must all be in memory.
fn in_log(store: &dyn Store, after: u64) -> Vec<SharedEvent> {
    match store.event_log().since(after, usize::MAX) {
        Since::Events(events) => events,
        Since::TooOld => panic!("events after {after} fell out of the event log"),
    }
}

pub async fn sequence_numbers_increase_by_one(store: &dyn Store) {
    assert_eq!(store.event_log().head(), 0, "a new store has no events");
    let mut a = node("a");
    a.owner = Some("alice".into());
    a.treeid = Some("tree-1".into());
    let e1 = write(
        store,
        vec![NodeWrite::Insert(a.clone())],
        node_event(&a, None),
    )
    .await;
    let mut a2 = a.clone();
    a2.state = NodeState::Done;
    let e2 = write(
        store,
        vec![NodeWrite::Replace(a2.clone())],
        node_event(&a2, Some(&a)),
    )
    .await;
    let mut custom = event("retry", Some("bob"), json!({"retry": a.id_str()}));
    custom.attributes = map(json!({"type": "custom.type", "x-ext": 1}));
    let e3 = publish(store, custom.clone()).await;
    // Writes without an event take no number.
    store
        .write_nodes(vec![NodeWrite::Insert(node("b"))])
        .await
        .unwrap();
    let none = store
        .write_nodes_with_event(vec![NodeWrite::Insert(node("c"))], None)
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(store.event_log().head(), 3);
    let e4 = publish(store, event("test-channel", None, json!("plain string"))).await;

    assert_eq!(seqs([&*e1, &*e2, &*e3, &*e4]), [1, 2, 3, 4]);
    assert_eq!(store.event_log().head(), 4);
    assert_eq!(e1.record.channel, "node");
    assert_eq!(e1.record.owner.as_deref(), Some("alice"));
    assert_eq!(e1.record.data["op"], "created");
    assert_eq!(e1.treeid.as_deref(), Some("tree-1"));
    assert_eq!(e2.record.data["previous_state"], "running");
    assert_eq!(e3.record.channel, "retry");
    assert_eq!(e3.attributes, custom.attributes);
    assert_eq!(e4.record.owner, None);
    assert!(e1.record.node.is_none());
    let ids: std::collections::HashSet<_> = [&e1, &e2, &e3, &e4]
        .iter()
        .map(|e| e.record.id.clone())
        .collect();
    assert_eq!(ids.len(), 4, "every event has its own id");
    for e in [&e1, &e2, &e3, &e4] {
        assert!(ObjectIdHex::parse(&e.record.id).is_ok(), "{}", e.record.id);
    }

    // The store keeps exactly what the write returned and the log holds.
    let stored = all_events(store).await;
    let returned: Vec<StoredEvent> = [e1, e2, e3, e4].iter().map(|e| (**e).clone()).collect();
    assert_eq!(stored, returned);
    let logged: Vec<StoredEvent> = in_log(store, 0).iter().map(|e| (**e).clone()).collect();
    assert_eq!(logged, returned);
}

pub async fn an_event_is_stored_with_its_write_or_not_at_all(store: &dyn Store) {
    let a = node("a");
    let e1 = write(
        store,
        vec![NodeWrite::Insert(a.clone())],
        node_event(&a, None),
    )
    .await;
    assert_eq!(e1.seq(), 1);

    let ghost = node("ghost");
    assert_not_found(
        store
            .write_nodes_with_event(
                vec![NodeWrite::Replace(ghost.clone())],
                Some(node_event(&ghost, None)),
            )
            .await,
        "replace of a missing node with an event",
    );
    assert_conflict(
        store
            .write_nodes_with_event(
                vec![NodeWrite::Insert(a.clone())],
                Some(node_event(&a, None)),
            )
            .await,
        "insert of an existing node with an event",
    );
    let c = node("c");
    assert_not_found(
        store
            .write_nodes_with_event(
                vec![
                    NodeWrite::Insert(c.clone()),
                    NodeWrite::Replace(ghost.clone()),
                ],
                Some(node_event(&c, None)),
            )
            .await,
        "a batch with a missing node and an event",
    );
    assert_eq!(
        get(store, &id_of(&c)).await,
        None,
        "the failed batch left a node"
    );
    assert_eq!(store.event_log().head(), 1, "a failed write moved the head");
    assert_eq!(
        seqs(&all_events(store).await),
        [1],
        "a failed write stored an event"
    );
    assert_eq!(in_log(store, 0).len(), 1);

    // The next successful write gets the next number: failed ones used none.
    let e2 = write(
        store,
        vec![NodeWrite::Insert(c.clone())],
        node_event(&c, None),
    )
    .await;
    assert_eq!(e2.seq(), 2);
    assert_eq!(get(store, &id_of(&c)).await, Some(c));
    assert_eq!(seqs(&all_events(store).await), [1, 2]);
}

pub async fn the_event_log_gets_every_event_in_order(store: &dyn Store) {
    let mut watch = store.event_log().watch();
    for i in 0..3 {
        publish(store, event("node", None, json!({"i": i}))).await;
    }
    assert!(watch.has_changed().unwrap());
    assert_eq!(*watch.borrow_and_update(), 3);
    assert_eq!(
        in_log(store, 0).iter().map(|e| e.seq()).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    const WRITERS: u64 = 8;
    const ROUNDS: u64 = 10;
    let writers = (0..WRITERS).map(|w| async move {
        let mut mine = Vec::new();
        for r in 0..ROUNDS {
            let n = node(&format!("w{w}-r{r}"));
            let e = if r % 3 == 2 {
                publish(store, event("retry", Some("svc"), json!({"w": w, "r": r}))).await
            } else {
                write(
                    store,
                    vec![NodeWrite::Insert(n.clone())],
                    node_event(&n, None),
                )
                .await
            };
            mine.push(e.seq());
        }
        mine
    });
    let per_writer = join_all(writers).await;
    for mine in &per_writer {
        assert!(
            mine.windows(2).all(|p| p[0] < p[1]),
            "one writer's events out of order: {mine:?}"
        );
    }
    let mut all: Vec<u64> = per_writer.into_iter().flatten().collect();
    all.sort_unstable();
    let expected: Vec<u64> = (4..=3 + WRITERS * ROUNDS).collect();
    assert_eq!(all, expected, "numbers are unique and without gaps");

    let logged = in_log(store, 3);
    assert_eq!(
        logged.iter().map(|e| e.seq()).collect::<Vec<_>>(),
        expected,
        "the log holds every event, in order"
    );
    assert_eq!(store.event_log().head(), 3 + WRITERS * ROUNDS);
    assert!(watch.has_changed().unwrap());
    let stored = store.events_after(3, 10_000).await.unwrap();
    let logged: Vec<StoredEvent> = logged.iter().map(|e| (**e).clone()).collect();
    assert_eq!(stored, logged, "the store and the log agree");
}

pub async fn events_after_pages_in_sequence_order(store: &dyn Store) {
    for (i, channel) in ["node", "retry", "node", "other", "node"]
        .iter()
        .enumerate()
    {
        publish(store, event(channel, None, json!({"i": i}))).await;
    }
    let page = |after, limit| async move { seqs(&store.events_after(after, limit).await.unwrap()) };
    assert_eq!(page(0, 2).await, [1, 2]);
    assert_eq!(page(2, 2).await, [3, 4]);
    assert_eq!(page(4, 2).await, [5]);
    assert_eq!(page(5, 2).await, Vec::<u64>::new());
    assert_eq!(page(0, 0).await, Vec::<u64>::new());
    assert_eq!(page(1, 100).await, [2, 3, 4, 5]);
    assert_eq!(page(100, 100).await, Vec::<u64>::new());
    let events = store.events_after(1, 1).await.unwrap();
    assert_eq!(events[0].record.channel, "retry");
    assert_eq!(events[0].record.data, json!({"i": 1}));
}

fn cond(field: &str, op: Op, value: FilterValue) -> Condition {
    Condition {
        field: field.to_owned(),
        op,
        value,
    }
}

fn text(s: &str) -> FilterValue {
    FilterValue::Str(s.to_owned())
}

async fn find_seqs(store: &dyn Store, conditions: Vec<Condition>) -> Vec<u64> {
    let filter = Filter { conditions };
    match store.find_events(&filter, 0, None).await {
        Ok(found) => seqs(&found),
        Err(e) => panic!("find_events {filter:?} failed: {e}"),
    }
}

pub async fn find_events_filters(store: &dyn Store) {
    let data = |kind: &str, id: &str| json!({"op": "created", "kind": kind, "id": id});
    let specs = [
        ("node", Some("alice"), data("checkout", "n1")),
        ("node", Some("bob"), data("kbuild", "n2")),
        ("retry", None, data("checkout", "n3")),
        ("node", Some("alice"), data("test", "n4")),
    ];
    let mut events = Vec::new();
    for (channel, owner, payload) in specs {
        // Distinct milliseconds, for the time ranges.
        tokio::time::sleep(Duration::from_millis(3)).await;
        events.push(publish(store, event(channel, owner, payload)).await);
    }
    let time = |i: usize| FilterValue::Time(events[i].record.timestamp);
    let oid = |i: usize| FilterValue::ObjectId(ObjectIdHex::parse(&events[i].record.id).unwrap());
    let s = store;

    assert_eq!(find_seqs(s, vec![]).await, [1, 2, 3, 4]);
    assert_eq!(
        find_seqs(s, vec![cond("channel", Op::Eq, text("node"))]).await,
        [1, 2, 4]
    );
    assert_eq!(
        find_seqs(s, vec![cond("channel", Op::Eq, text("retry"))]).await,
        [3]
    );
    assert_eq!(
        find_seqs(s, vec![cond("owner", Op::Eq, text("alice"))]).await,
        [1, 4]
    );
    assert_eq!(
        find_seqs(s, vec![cond("owner", Op::Eq, FilterValue::Null)]).await,
        [3]
    );
    assert_eq!(
        find_seqs(s, vec![cond("owner", Op::Ne, FilterValue::Null)]).await,
        [1, 2, 4]
    );
    assert_eq!(
        find_seqs(s, vec![cond("owner", Op::Ne, text("alice"))]).await,
        [2, 3]
    );
    assert_eq!(
        find_seqs(s, vec![cond("data.kind", Op::Eq, text("checkout"))]).await,
        [1, 3]
    );
    assert_eq!(
        find_seqs(
            s,
            vec![cond(
                "data.kind",
                Op::In,
                FilterValue::List(vec![text("kbuild"), text("test")])
            )]
        )
        .await,
        [2, 4]
    );
    assert_eq!(
        find_seqs(
            s,
            vec![
                cond("channel", Op::Eq, text("node")),
                cond("data.kind", Op::Eq, text("checkout")),
            ]
        )
        .await,
        [1]
    );
    assert_eq!(
        find_seqs(s, vec![cond("data.id", Op::Eq, text("n2"))]).await,
        [2]
    );
    assert_eq!(
        find_seqs(s, vec![cond("data.op", Op::Eq, text("updated"))]).await,
        Vec::<u64>::new()
    );

    assert_eq!(
        find_seqs(s, vec![cond("timestamp", Op::Gte, time(2))]).await,
        [3, 4]
    );
    assert_eq!(
        find_seqs(s, vec![cond("timestamp", Op::Gt, time(2))]).await,
        [4]
    );
    assert_eq!(
        find_seqs(s, vec![cond("timestamp", Op::Lt, time(2))]).await,
        [1, 2]
    );
    assert_eq!(
        find_seqs(
            s,
            vec![
                cond("timestamp", Op::Gte, time(1)),
                cond("timestamp", Op::Lte, time(2))
            ]
        )
        .await,
        [2, 3]
    );
    let later = FilterValue::Time(events[3].record.timestamp.plus_seconds(60));
    assert_eq!(
        find_seqs(s, vec![cond("timestamp", Op::Gt, later)]).await,
        Vec::<u64>::new()
    );

    assert_eq!(find_seqs(s, vec![cond("id", Op::Eq, oid(1))]).await, [2]);
    assert_eq!(
        find_seqs(
            s,
            vec![cond("id", Op::In, FilterValue::List(vec![oid(2), oid(0)]))]
        )
        .await,
        [1, 3]
    );
    assert_eq!(
        find_seqs(s, vec![cond("id", Op::Eq, text(&events[3].record.id))]).await,
        [4]
    );
    let unknown = FilterValue::ObjectId(crate::support::new_id());
    assert_eq!(
        find_seqs(s, vec![cond("id", Op::Eq, unknown)]).await,
        Vec::<u64>::new()
    );

    assert_eq!(
        find_seqs(s, vec![cond("sequence_id", Op::Gt, FilterValue::Int(2))]).await,
        [3, 4]
    );
    assert_eq!(
        find_seqs(s, vec![cond("sequence_id", Op::Eq, FilterValue::Int(1))]).await,
        [1]
    );

    let page = |offset, limit| async move {
        seqs(
            &store
                .find_events(&Filter::default(), offset, limit)
                .await
                .unwrap(),
        )
    };
    assert_eq!(page(1, Some(2)).await, [2, 3]);
    assert_eq!(page(3, None).await, [4]);
    assert_eq!(page(0, Some(0)).await, Vec::<u64>::new());
    assert_eq!(page(10, None).await, Vec::<u64>::new());

    let found = store
        .find_events(&Filter::eq("channel", text("retry")), 0, None)
        .await
        .unwrap();
    assert_eq!(found, [(*events[2]).clone()], "records come back as stored");
}

pub async fn a_reopened_store_continues_the_sequence(backend: &mut dyn Reopen) {
    let a = node("a");
    {
        let store = backend.store();
        write(
            store,
            vec![NodeWrite::Insert(a.clone())],
            node_event(&a, None),
        )
        .await;
        publish(store, event("retry", Some("bob"), json!({"n": 1}))).await;
        let ghost = node("ghost");
        assert_not_found(
            store
                .write_nodes_with_event(
                    vec![NodeWrite::Replace(ghost.clone())],
                    Some(node_event(&ghost, None)),
                )
                .await,
            "replace of a missing node",
        );
    }
    let before = all_events(backend.store()).await;
    assert_eq!(seqs(&before), [1, 2]);

    backend.reopen().await;
    let store = backend.store();
    assert_eq!(store.event_log().head(), 2, "the head survives a restart");
    assert_eq!(
        all_events(store).await,
        before,
        "the history survives a restart"
    );
    assert_eq!(get(store, &id_of(&a)).await, Some(a.clone()));
    let e3 = publish(store, event("node", None, json!({"n": 3}))).await;
    assert_eq!(e3.seq(), 3, "numbers continue after a restart");
    assert_eq!(store.event_log().head(), 3);

    backend.reopen().await;
    let store = backend.store();
    assert_eq!(store.event_log().head(), 3);
    let e4 = publish(store, event("node", None, json!({"n": 4}))).await;
    assert_eq!(e4.seq(), 4);
    assert_eq!(seqs(&all_events(store).await), [1, 2, 3, 4]);
}

fn subscriber(id: &str, user: &str) -> SubscriberState {
    SubscriberState {
        subscriber_id: id.to_owned(),
        channel: "node".to_owned(),
        user: user.to_owned(),
        promiscuous: false,
        last_event_id: 5,
        created_at: ts("2025-01-02T03:04:05.678"),
        last_poll: None,
    }
}

pub async fn durable_subscribers(store: &dyn Store) {
    let sched = subscriber("scheduler:node", "admin");
    store.insert_subscriber(&sched).await.unwrap();
    assert_eq!(
        store.find_subscriber("scheduler:node").await.unwrap(),
        Some(sched.clone())
    );
    assert_eq!(store.find_subscriber("scheduler").await.unwrap(), None);
    assert_eq!(store.find_subscriber("Scheduler:node").await.unwrap(), None);

    let mut other = subscriber("scheduler:node", "mallory");
    other.last_event_id = 1;
    assert_conflict(
        store.insert_subscriber(&other).await,
        "a duplicate subscriber_id",
    );
    assert_eq!(
        store.find_subscriber("scheduler:node").await.unwrap(),
        Some(sched.clone()),
        "a refused insert changed the stored subscriber"
    );

    let t1 = ts("2025-01-03T00:00:00.001");
    store.ack_subscriber("scheduler:node", 9, t1).await.unwrap();
    let got = store
        .find_subscriber("scheduler:node")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.last_event_id, got.last_poll), (9, Some(t1)));

    // An older acknowledgement does not move the position back, but still records the poll.
    let t2 = ts("2025-01-03T00:00:05.5");
    store.ack_subscriber("scheduler:node", 7, t2).await.unwrap();
    let got = store
        .find_subscriber("scheduler:node")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.last_event_id, got.last_poll), (9, Some(t2)));
    assert_eq!(
        got,
        SubscriberState {
            last_event_id: 9,
            last_poll: Some(t2),
            ..sched.clone()
        }
    );

    let big = 1_u64 << 40;
    store
        .ack_subscriber("scheduler:node", big, t2)
        .await
        .unwrap();
    let got = store
        .find_subscriber("scheduler:node")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.last_event_id, big);

    // Acknowledging an unknown subscriber creates none.
    let _ = store.ack_subscriber("ghost:node", 3, t2).await;
    assert_eq!(store.find_subscriber("ghost:node").await.unwrap(), None);

    let mut bridge = subscriber("kcidb:node", "bridge");
    bridge.promiscuous = true;
    bridge.last_event_id = 0;
    bridge.last_poll = Some(Timestamp::parse_iso("2025-02-01T10:00:00.25").unwrap());
    store.insert_subscriber(&bridge).await.unwrap();
    assert_eq!(
        store.find_subscriber("kcidb:node").await.unwrap(),
        Some(bridge)
    );
    assert_eq!(
        store
            .find_subscriber("scheduler:node")
            .await
            .unwrap()
            .unwrap()
            .last_event_id,
        big,
        "subscribers are independent"
    );
}
