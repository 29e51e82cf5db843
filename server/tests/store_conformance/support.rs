//! Builders and query helpers shared by the conformance cases.

use std::sync::atomic::{AtomicU32, Ordering};

use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node, Timestamp};
use maestro_server::store::{NodeWrite, Store, StoreError, StoreResult};
use serde_json::{Map, Value};

static NEXT_SECOND: AtomicU32 = AtomicU32::new(0);

/// A fresh ObjectId. Its timestamp part grows with every call, so ids made later sort later.
pub fn new_id() -> ObjectIdHex {
    let seconds = 0x6500_0000 + NEXT_SECOND.fetch_add(1, Ordering::Relaxed);
    let hex = format!("{seconds:08x}{:016x}", rand::random::<u64>());
    ObjectIdHex::parse(&hex).expect("24 hex digits")
}

/// Parses an ISO-8601 time (UTC when it has no zone).
pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse_iso(s).unwrap_or_else(|| panic!("bad timestamp literal {s}"))
}

/// A JSON object literal as a map.
pub fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => panic!("not a JSON object: {other}"),
    }
}

/// A `test` node called `name`, with a fresh id, `path = [name]` and fixed times.
pub fn node(name: &str) -> Node {
    let mut n = Node::new("test", name, vec![name.to_owned()]);
    n.id = Some(new_id());
    n.created = ts("2025-01-01T00:00:00");
    n.updated = n.created;
    n.timeout = ts("2025-01-01T06:00:00");
    n
}

/// A `test` node called `name` whose `data` is `data`.
pub fn node_with_data(name: &str, data: Value) -> Node {
    let mut n = node(name);
    n.data = Some(data);
    n
}

/// The id of a node made by [`node`].
pub fn id_of(n: &Node) -> ObjectIdHex {
    n.id.clone().expect("test nodes have ids")
}

/// Inserts the nodes in one batch.
pub async fn insert(store: &dyn Store, nodes: &[Node]) {
    let writes = nodes.iter().cloned().map(NodeWrite::Insert).collect();
    store
        .write_nodes(writes)
        .await
        .expect("insert the test nodes");
}

/// Inserts one node.
pub async fn insert_one(store: &dyn Store, node: &Node) {
    insert(store, std::slice::from_ref(node)).await;
}

/// Parses query parameters as the HTTP layer does.
pub fn filter(params: &[(&str, &str)]) -> Filter {
    Filter::from_params(params.iter().copied())
        .unwrap_or_else(|e| panic!("query {params:?} does not parse: {e}"))
}

/// Names of the nodes matching the query, in the store's order. Also checks that
/// `count_nodes` agrees with `find_nodes`.
pub async fn names(store: &dyn Store, params: &[(&str, &str)]) -> Vec<String> {
    let f = filter(params);
    let found = match store.find_nodes(&f, 0, None).await {
        Ok(found) => found,
        Err(e) => panic!("find_nodes {params:?} failed: {e}"),
    };
    let names: Vec<String> = found.into_iter().map(|n| n.name).collect();
    let count = match store.count_nodes(&f).await {
        Ok(count) => count,
        Err(e) => panic!("count_nodes {params:?} failed: {e}"),
    };
    assert_eq!(
        count,
        names.len() as u64,
        "count_nodes disagrees with find_nodes for {params:?} (found {names:?})"
    );
    names
}

/// Asserts that the query finds exactly the nodes named `expected` (in any order; ordering has
/// its own case).
pub async fn assert_finds(store: &dyn Store, params: &[(&str, &str)], expected: &[&str]) {
    let mut got = names(store, params).await;
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "query {params:?} on {}", store.backend_name());
}

/// Asserts that a store call failed with `Conflict`.
pub fn assert_conflict<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected Conflict, got {result:?}"
    );
}

/// Asserts that a store call failed with `NotFound`.
pub fn assert_not_found<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "{what}: expected NotFound, got {result:?}"
    );
}

/// The stored node with this id, if any; panics when the store fails.
pub async fn get(store: &dyn Store, id: &ObjectIdHex) -> Option<Node> {
    store
        .get_node(id)
        .await
        .unwrap_or_else(|e| panic!("get_node {id} failed: {e}"))
}
