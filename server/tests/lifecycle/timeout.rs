//! The timeout rule: pending nodes past their timeout become done, once each.
use maestro_common::{NodeResult, NodeState};
use maestro_server::lifecycle::{SweepReport, sweep};
use serde_json::json;

use crate::common::{
    FUTURE, PAST, assert_one_transition, events_of, get, job, node_events, now, put, with_result,
};
use crate::support::TestApp;

pub async fn pending_nodes_past_their_timeout_are_done_with_one_event_each(app: TestApp) {
    let store = app.store();
    let running = job("running", NodeState::Running, PAST);
    let available = job("available", NodeState::Available, PAST);
    let closing = job("closing", NodeState::Closing, PAST);
    let passed = with_result(job("passed", NodeState::Running, PAST), NodeResult::Pass);
    let failed = with_result(job("failed", NodeState::Closing, PAST), NodeResult::Fail);
    let mut bare = job("bare", NodeState::Running, PAST);
    bare.data = None;
    let future = job("future", NodeState::Running, FUTURE);
    let done = job("done", NodeState::Done, PAST);
    let all = [
        running.clone(),
        available.clone(),
        closing.clone(),
        passed.clone(),
        failed.clone(),
        bare.clone(),
        future.clone(),
        done.clone(),
    ];
    put(store, &all).await;

    let report = sweep(store, now()).await.unwrap();
    assert_eq!(
        (
            report.timed_out,
            report.closing,
            report.done,
            report.skipped,
            report.failed
        ),
        (6, 0, 0, 0, 0),
        "{report:?}"
    );

    for (n, from) in [
        (&running, NodeState::Running),
        (&available, NodeState::Available),
        (&closing, NodeState::Closing),
        (&bare, NodeState::Running),
    ] {
        let stored = get(store, n).await;
        assert_eq!(stored.state, NodeState::Done, "{}", n.name);
        assert_eq!(stored.result, Some(NodeResult::Incomplete), "{}", n.name);
        let mut want = n.data.clone().unwrap_or(json!({}));
        want["error_code"] = json!("node_timeout");
        want["error_msg"] = json!("Node timed-out");
        assert_eq!(stored.data, Some(want), "{}: other data keys kept", n.name);
        assert_eq!(stored.owner, n.owner, "{}: owner kept", n.name);
        assert!(stored.updated > n.updated, "{}: updated moved on", n.name);
        assert_one_transition(store, n, from, None).await;
    }
    for (n, result) in [(&passed, "pass"), (&failed, "fail")] {
        let stored = get(store, n).await;
        assert_eq!(stored.state, NodeState::Done, "{}", n.name);
        assert_eq!(stored.result, n.result, "{}: its result is kept", n.name);
        assert_eq!(stored.data, n.data, "{}: no error fields", n.name);
        assert_one_transition(store, n, n.state, Some(result)).await;
    }
    for n in [&future, &done] {
        assert_eq!(&get(store, n).await, n, "{} is left as it was", n.name);
        assert!(events_of(store, n).await.is_empty(), "{}", n.name);
    }
    // The event's owner is the node's, as for a PUT (non-promiscuous listeners see it).
    assert!(
        node_events(store)
            .await
            .iter()
            .all(|(_, owner)| owner.as_deref() == Some("lab"))
    );

    // Nothing left to do: a second sweep changes and publishes nothing.
    let events = node_events(store).await.len();
    let again = sweep(store, now()).await.unwrap();
    assert_eq!(again.changed(), 0, "{again:?}");
    assert_eq!(node_events(store).await.len(), events);
}

pub async fn a_backlog_of_several_pages_is_worked_through_once(app: TestApp) {
    let store = app.store();
    // More than two pages, all with the same timeout: the pages cut through a tie group.
    let batch = usize::try_from(maestro_server::lifecycle::BATCH).unwrap();
    let timed_out: Vec<_> = (0..2 * batch + 50)
        .map(|i| job(&format!("t{i}"), NodeState::Running, PAST))
        .collect();
    // And more closing nodes than a page that must stay closing (a pending child each):
    // the closing rule pages past them instead of reading the first page for ever.
    let mut closing = Vec::new();
    let mut children = Vec::new();
    for i in 0..batch + 20 {
        let c = job(&format!("c{i}"), NodeState::Closing, FUTURE);
        children.push(crate::common::child(
            &format!("c{i}-child"),
            &c,
            NodeState::Running,
        ));
        closing.push(c);
    }
    put(store, &timed_out).await;
    put(store, &closing).await;
    put(store, &children).await;

    let report = sweep(store, now()).await.unwrap();
    let want = SweepReport {
        examined: (timed_out.len() + closing.len()) as u64,
        timed_out: timed_out.len() as u64,
        ..SweepReport::default()
    };
    assert_eq!(report, want);
    let events = node_events(store).await;
    assert_eq!(
        events.len(),
        timed_out.len(),
        "one event per timed-out node"
    );
    let mut ids: Vec<_> = events.iter().map(|(e, _)| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), timed_out.len(), "no node moved twice");
    for n in &closing {
        assert_eq!(get(store, n).await.state, NodeState::Closing);
    }
}
