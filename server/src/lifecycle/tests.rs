//! Unit tests of the life-cycle module: the version a rule writes, and the background
//! task's wiring (on, off, stopped by the shutdown token). The rules themselves are tested
//! on both stores in `tests/lifecycle.rs`.
use std::sync::Arc;
use std::time::Duration;

use maestro_common::{Node, NodeResult, NodeState, Timestamp};
use serde_json::json;

use super::rules::moved;
use super::{LifecycleConfig, Rule, task};
use crate::AppState;
use crate::nodes::ops::new_id;
use crate::store::sqlite::SqliteStore;
use crate::store::{NodeWrite, Store};

fn job(data: Option<serde_json::Value>) -> Node {
    let mut n = Node::new(
        "job",
        "baseline",
        vec!["checkout".into(), "baseline".into()],
    );
    n.id = Some(new_id());
    n.owner = Some("lab".into());
    n.data = data;
    n.processed_by_kcidb_bridge = true;
    n
}

#[test]
fn a_timeout_without_result_is_incomplete_and_keeps_the_other_data() {
    let read = job(Some(json!({"platform": "qemu", "error_msg": "old"})));
    let n = moved(Rule::Timeout, &read, NodeState::Done);
    assert_eq!(n.state, NodeState::Done);
    assert_eq!(n.result, Some(NodeResult::Incomplete));
    assert_eq!(
        n.data,
        Some(
            json!({"platform": "qemu", "error_msg": "Node timed-out", "error_code": "node_timeout"})
        )
    );
    assert_eq!(n.owner, read.owner, "the owner is kept");
    assert!(n.updated > read.updated, "every write moves `updated` on");
    assert!(
        !n.processed_by_kcidb_bridge,
        "a state change is sent to KCIDB again"
    );
    for empty in [None, Some(serde_json::Value::Null)] {
        let n = moved(Rule::Timeout, &job(empty), NodeState::Done);
        assert_eq!(
            n.data,
            Some(json!({"error_code": "node_timeout", "error_msg": "Node timed-out"}))
        );
    }
    // Free-form data that is not an object is left alone; the result still says it.
    let n = moved(Rule::Timeout, &job(Some(json!([1, 2]))), NodeState::Done);
    assert_eq!(
        (n.data, n.result),
        (Some(json!([1, 2])), Some(NodeResult::Incomplete))
    );
}

#[test]
fn a_timeout_with_a_result_and_the_other_rules_change_only_the_state() {
    let mut read = job(Some(json!({"platform": "qemu"})));
    read.result = Some(NodeResult::Pass);
    let n = moved(Rule::Timeout, &read, NodeState::Done);
    assert_eq!((n.result, n.data.clone()), (read.result, read.data.clone()));
    read.result = None;
    for (rule, state) in [
        (Rule::Holdoff, NodeState::Closing),
        (Rule::Holdoff, NodeState::Done),
        (Rule::Closing, NodeState::Done),
    ] {
        let n = moved(rule, &read, state);
        assert_eq!(
            (n.state, n.result, n.data),
            (state, None, read.data.clone())
        );
    }
}

fn state_on(store: Arc<dyn Store>, lifecycle: Option<LifecycleConfig>) -> AppState {
    let keys = crate::auth::TokenKeys::new("k".into(), None, 60);
    let mut state = AppState::new(store, Arc::new(keys), Arc::default());
    state.lifecycle = lifecycle;
    state
}

#[tokio::test]
async fn no_lifecycle_starts_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let state = state_on(store, None);
    assert!(!task::spawn(&state));
    assert!(state.tasks.is_empty());
}

#[tokio::test]
async fn the_task_sweeps_with_the_real_clock_and_stops_at_shutdown() {
    let dir = tempfile::TempDir::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut node = job(Some(json!({})));
    node.timeout = Timestamp::now().plus_seconds(-60);
    let id = node.id.clone().unwrap();
    store
        .write_nodes(vec![NodeWrite::Insert(node)])
        .await
        .unwrap();
    let every = Duration::from_secs(1);
    let cfg = LifecycleConfig {
        timeout_every: every,
        holdoff_every: every,
        closing_every: every,
    };
    let state = state_on(store.clone(), Some(cfg));
    assert!(task::spawn(&state));
    assert_eq!(state.tasks.len(), Rule::ALL.len(), "one task per rule");
    // The first sweep runs at once; allow a slow machine some seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = store.get_node(&id).await.unwrap().unwrap();
        if n.state == NodeState::Done {
            assert_eq!(n.result, Some(NodeResult::Incomplete));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node was not timed out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    state.shutdown.cancel();
    state.tasks.close();
    tokio::time::timeout(Duration::from_secs(5), state.tasks.wait())
        .await
        .expect("the sweeps stop once the shutdown token is cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_ends_the_round_and_a_later_one_finishes_the_work() {
    let dir = tempfile::TempDir::new().unwrap();
    let sqlite = SqliteStore::open(dir.path()).unwrap();
    let store = crate::store::timed::TimedStore::new(Arc::new(sqlite), Duration::from_millis(300));
    let mut node = job(None);
    node.timeout = Timestamp::now().plus_seconds(-60);
    let id = node.id.clone().unwrap();
    store
        .write_nodes(vec![NodeWrite::Insert(node)])
        .await
        .unwrap();
    // Another process holds the write lock: reads work (WAL), the write does not answer.
    let lock = rusqlite::Connection::open(dir.path().join(crate::store::sqlite::DB_FILE)).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = std::time::Instant::now();
    let outage = super::sweep(&store, Timestamp::now()).await;
    assert!(
        matches!(outage, Err(crate::store::StoreError::Unavailable(_))),
        "{outage:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the round ends quickly"
    );
    lock.execute_batch("COMMIT").unwrap();
    // The write that timed out may still land; either way a later round leaves the node
    // done with exactly one event.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report = super::sweep(&store, Timestamp::now()).await.unwrap();
        assert_eq!(report.failed, 0, "{report:?}");
        let n = store.get_node(&id).await.unwrap().unwrap();
        if n.state == NodeState::Done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node was never timed out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = store.events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 1, "one transition, one event: {events:?}");
}
