//! Builders of the life-cycle cases: nodes stored directly with chosen times, and the
//! node events of the history.
use maestro_common::event::NodeEvent;
use maestro_common::{Node, NodeResult, NodeState, Timestamp};
use maestro_server::nodes::ops::new_id;
use maestro_server::store::{NodeWrite, Store};
use serde_json::{Value, json};

/// The `now` of the sweeps.
pub const NOW: &str = "2025-06-01T12:00:00";
/// Before [`NOW`].
pub const PAST: &str = "2025-06-01T11:00:00";
/// After [`NOW`].
pub const FUTURE: &str = "2025-06-01T13:00:00";

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse_iso(s).unwrap()
}

pub fn now() -> Timestamp {
    ts(NOW)
}

/// A `job` node owned by `lab`, not stored yet: in `state`, timing out at `timeout`.
pub fn job(name: &str, state: NodeState, timeout: &str) -> Node {
    let mut n = Node::new("job", name, vec!["checkout".into(), name.to_owned()]);
    n.id = Some(new_id());
    n.owner = Some("lab".into());
    n.state = state;
    n.timeout = ts(timeout);
    n.created = ts("2025-06-01T10:00:00");
    n.updated = n.created;
    n.data = Some(json!({"platform": "qemu", "runtime": "lava"}));
    n
}

/// [`job`] under `parent`.
pub fn child(name: &str, parent: &Node, state: NodeState) -> Node {
    let mut n = job(name, state, FUTURE);
    n.parent = parent.id.clone();
    n
}

/// [`job`] with `result`.
pub fn with_result(mut n: Node, result: NodeResult) -> Node {
    n.result = Some(result);
    n
}

/// [`job`] `available` with `holdoff`, timing out only later.
pub fn held(name: &str, holdoff: Option<&str>) -> Node {
    let mut n = job(name, NodeState::Available, FUTURE);
    n.holdoff = holdoff.map(ts);
    n
}

/// Stores the nodes in one batch, without events.
pub async fn put(store: &dyn Store, nodes: &[Node]) {
    let writes = nodes.iter().cloned().map(NodeWrite::Insert).collect();
    store.write_nodes(writes).await.unwrap();
}

/// The stored version of `n`.
pub async fn get(store: &dyn Store, n: &Node) -> Node {
    store
        .get_node(n.id.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Every node event of the history, in sequence order, with its stored owner.
pub async fn node_events(store: &dyn Store) -> Vec<(NodeEvent, Option<String>)> {
    store
        .events_after(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.record.channel == "node")
        .map(|e| {
            let payload: NodeEvent = serde_json::from_value(e.record.data).unwrap();
            (payload, e.record.owner)
        })
        .collect()
}

/// The payloads of the node events about `n`, as stored.
pub async fn raw_events_of(store: &dyn Store, n: &Node) -> Vec<Value> {
    let id = Value::from(n.id.as_ref().unwrap().to_string());
    store
        .events_after(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.record.channel == "node" && e.record.data["id"] == id)
        .map(|e| e.record.data)
        .collect()
}

/// The node events about `n`.
pub async fn events_of(store: &dyn Store, n: &Node) -> Vec<NodeEvent> {
    raw_events_of(store, n)
        .await
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect()
}

/// Asserts that `n` has exactly one event, the `updated` event of a move from `from` (with
/// result `previous_result`) to the node as now stored.
pub async fn assert_one_transition(
    store: &dyn Store,
    n: &Node,
    from: NodeState,
    previous_result: Option<&str>,
) {
    let stored = get(store, n).await;
    let events = events_of(store, n).await;
    assert_eq!(events.len(), 1, "{}: one event, got {events:?}", n.name);
    let e = &events[0];
    assert_eq!(e.op, "updated", "{}", n.name);
    assert_eq!(
        e.previous_state.as_deref(),
        Some(from.as_str()),
        "{}",
        n.name
    );
    // Present even when null (the Option<Option> of `NodeEvent` cannot tell).
    let raw = &raw_events_of(store, n).await[0];
    assert_eq!(
        raw.get("previous_result"),
        Some(&json!(previous_result)),
        "{}",
        n.name
    );
    assert_eq!(e.state, stored.state.as_str(), "{}", n.name);
    assert_eq!(e.result, stored.result.map(|r| r.as_str().to_owned()));
    assert_eq!(Some(&e.data), stored.data.as_ref().or(Some(&Value::Null)));
    assert_eq!(e.owner, stored.owner, "{}", n.name);
}
