//! The holdoff and closing rules: a node past its holdoff closes while a descendant is
//! pending, and finishes once none is.
use maestro_common::{Node, NodeResult, NodeState};
use maestro_server::lifecycle::sweep;
use maestro_server::store::{NodeWrite, Store};

use crate::common::{FUTURE, PAST, assert_one_transition, child, events_of, get, held, now, put};
use crate::support::TestApp;

/// Marks `n` done in the store (as its job finishing would).
async fn finish(store: &dyn Store, n: &Node) {
    let mut done = get(store, n).await;
    done.state = NodeState::Done;
    done.result = Some(NodeResult::Pass);
    store
        .write_nodes(vec![NodeWrite::Replace(done)])
        .await
        .unwrap();
}

pub async fn holdoff_closes_while_a_descendant_is_pending_and_finishes_otherwise(app: TestApp) {
    let store = app.store();
    // a -> a1 (done) -> a1x (running): a grandchild is pending.
    let a = held("a", Some(PAST));
    let a1 = child("a1", &a, NodeState::Done);
    let a1x = child("a1x", &a1, NodeState::Running);
    // b -> b1 (done) -> b1x (done): nothing pending.
    let b = held("b", Some(PAST));
    let b1 = child("b1", &b, NodeState::Done);
    let b1x = child("b1x", &b1, NodeState::Done);
    // No children at all.
    let lone = held("lone", Some(PAST));
    let later = held("later", Some(FUTURE));
    let never = held("never", None);
    let mut running = held("running", Some(PAST));
    running.state = NodeState::Running;
    let all = [
        &a, &a1, &a1x, &b, &b1, &b1x, &lone, &later, &never, &running,
    ];
    put(store, &all.map(Clone::clone)).await;

    let report = sweep(store, now()).await.unwrap();
    assert_eq!(
        (report.timed_out, report.closing, report.done, report.failed),
        (0, 1, 2, 0),
        "{report:?}"
    );
    assert_eq!(get(store, &a).await.state, NodeState::Closing);
    assert_one_transition(store, &a, NodeState::Available, None).await;
    for n in [&b, &lone] {
        let stored = get(store, n).await;
        assert_eq!(stored.state, NodeState::Done, "{}", n.name);
        assert_eq!(stored.result, None, "{}: holdoff sets no result", n.name);
        assert_eq!(stored.data, n.data, "{}", n.name);
        assert_one_transition(store, n, NodeState::Available, None).await;
    }
    for n in [&a1, &a1x, &b1, &b1x, &later, &never, &running] {
        assert_eq!(&get(store, n).await, n, "{} is left as it was", n.name);
        assert!(events_of(store, n).await.is_empty(), "{}", n.name);
    }

    // `a` stays closing while a1x runs, and is done once it finishes.
    assert_eq!(sweep(store, now()).await.unwrap().changed(), 0);
    finish(store, &a1x).await;
    let report = sweep(store, now()).await.unwrap();
    assert_eq!((report.closing, report.done), (0, 1), "{report:?}");
    assert_eq!(get(store, &a).await.state, NodeState::Done);
    let events = events_of(store, &a).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].previous_state.as_deref(), Some("closing"));
}

pub async fn closing_waits_for_every_descendant(app: TestApp) {
    let store = app.store();
    // p (closing) -> k1 (done); p -> k2 (running) -> k2a (running)
    let mut p = held("p", None);
    p.state = NodeState::Closing;
    let k1 = child("k1", &p, NodeState::Done);
    let k2 = child("k2", &p, NodeState::Running);
    let k2a = child("k2a", &k2, NodeState::Running);
    put(store, &[p.clone(), k1, k2.clone(), k2a.clone()]).await;

    let report = sweep(store, now()).await.unwrap();
    assert_eq!(report.changed(), 0, "{report:?}");
    assert_eq!(get(store, &p).await.state, NodeState::Closing);

    finish(store, &k2).await;
    let report = sweep(store, now()).await.unwrap();
    assert_eq!(report.changed(), 0, "a grandchild still runs: {report:?}");
    assert_eq!(get(store, &p).await.state, NodeState::Closing);
    assert!(events_of(store, &p).await.is_empty());

    finish(store, &k2a).await;
    let report = sweep(store, now()).await.unwrap();
    assert_eq!((report.done, report.changed()), (1, 1), "{report:?}");
    let stored = get(store, &p).await;
    assert_eq!((stored.state, stored.result), (NodeState::Done, None));
    assert_one_transition(store, &p, NodeState::Closing, None).await;
}
