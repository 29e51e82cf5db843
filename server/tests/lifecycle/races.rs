//! A client's write that lands between a rule's read of a node and its conditional write:
//! the write is stale, the node is read again and the rule decided afresh, so the client's
//! change is never overwritten.
use maestro_common::{Node, NodeResult, NodeState};
use maestro_server::lifecycle::{Outcome, Rule, apply};
use serde_json::{Value, json};

use crate::common::{FUTURE, PAST, events_of, get, held, job, now, put};
use crate::support::{TestApp, assert_ok};

/// `PATCH /latest/node/{id}` of `n` by `token`, which must succeed.
async fn patch(app: &TestApp, token: &str, n: &Node, body: Value) {
    let uri = format!("/latest/node/{}", n.id.as_ref().unwrap());
    let r = app.json("PATCH", &uri, Some(token), &body).await;
    assert_ok(&r, &format!("PATCH {}", n.name));
}

pub async fn a_client_edit_between_read_and_write_is_kept(app: TestApp) {
    let lab = app.add_user("lab", false, &[]).await;
    let store = app.store();
    let n = job("edited", NodeState::Running, PAST);
    put(store, std::slice::from_ref(&n)).await;
    let read = get(store, &n).await;
    // The client's edit lands after the rule read the node; the node is still timed out.
    patch(
        &app,
        &lab.token,
        &n,
        json!({"data": {"platform": "qemu", "log": "https://logs/1"}}),
    )
    .await;

    let outcome = apply(store, Rule::Timeout, read, now()).await.unwrap();
    assert_eq!(outcome, Outcome::Moved(NodeState::Done));
    let stored = get(store, &n).await;
    assert_eq!(stored.result, Some(NodeResult::Incomplete));
    assert_eq!(
        stored.data,
        Some(json!({"platform": "qemu", "log": "https://logs/1",
            "error_code": "node_timeout", "error_msg": "Node timed-out"})),
        "the client's data is the base of the rule's write"
    );
    let events = events_of(store, &n).await;
    assert_eq!(events.len(), 2, "the PATCH's and the rule's: {events:?}");
    assert_eq!(events[0].state, "running");
    assert_eq!(
        (
            events[1].previous_state.as_deref(),
            events[1].state.as_str()
        ),
        (Some("running"), "done")
    );
    assert_eq!(events[1].data["log"], "https://logs/1");
}

pub async fn a_client_change_that_ends_the_rule_wins(app: TestApp) {
    let lab = app.add_user("lab", false, &[]).await;
    let store = app.store();
    let finished = job("finished", NodeState::Running, PAST);
    let extended = job("extended", NodeState::Running, PAST);
    let released = held("released", Some(PAST));
    put(
        store,
        &[finished.clone(), extended.clone(), released.clone()],
    )
    .await;
    let cases = [
        (
            &finished,
            Rule::Timeout,
            json!({"state": "done", "result": "pass"}),
        ),
        (&extended, Rule::Timeout, json!({"timeout": FUTURE})),
        (&released, Rule::Holdoff, json!({"holdoff": null})),
    ];
    for (n, rule, body) in cases {
        let read = get(store, n).await;
        patch(&app, &lab.token, n, body).await;
        let after_patch = get(store, n).await;
        let outcome = apply(store, rule, read, now()).await.unwrap();
        assert_eq!(outcome, Outcome::Untouched { raced: true }, "{}", n.name);
        assert_eq!(
            get(store, n).await,
            after_patch,
            "{}: the client's version stays",
            n.name
        );
        assert_eq!(
            events_of(store, n).await.len(),
            1,
            "{}: only the PATCH's event",
            n.name
        );
    }
    let stored = get(store, &finished).await;
    assert_eq!(stored.result, Some(NodeResult::Pass));
    assert_eq!(
        stored.data, finished.data,
        "no timeout error on a finished node"
    );
}
