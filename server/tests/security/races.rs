//! Concurrent writers of one node or one account: every acknowledged change is kept, every
//! stored transition is one the state machine allows, and the events tell the same story.
use axum::http::StatusCode;
use futures::future::join_all;
use maestro_common::{Filter, FilterValue, NodeState};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_ok, checkout, id};

/// PATCHes each client sends.
const ROUNDS: usize = 25;

/// What client `client` sets on its round `round`: one field per client, so the final node
/// must hold every client's last acknowledged value. Client 7 moves the state forward
/// through the life cycle; the others never send a state.
fn change(client: usize, round: usize) -> (&'static str, Value) {
    match client {
        0 => (
            "artifacts",
            json!({"log": format!("https://logs.example.org/{round}")}),
        ),
        1 => ("debug", json!({"round": round})),
        2 => ("jobfilter", json!([format!("job-{round}")])),
        3 => ("platform_filter", json!([format!("platform-{round}")])),
        4 => (
            "holdoff",
            json!(format!("2030-01-01T00:{:02}:00", round % 60)),
        ),
        5 => (
            "timeout",
            json!(format!("2031-01-01T00:{:02}:00", round % 60)),
        ),
        6 => (
            "result",
            json!(if round.is_multiple_of(2) {
                "pass"
            } else {
                "fail"
            }),
        ),
        _ => {
            let state = match round * 4 / ROUNDS {
                0 => "running",
                1 => "available",
                2 => "closing",
                _ => "done",
            };
            ("state", json!(state))
        }
    }
}

/// Case: 8 clients PATCH different fields of one node at once, ROUNDS times each.
pub async fn concurrent_patches_of_one_node_lose_nothing(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let created = app.create(&alice.token, checkout("busy")).await;
    let nid = id(&created);
    let uri = format!("/latest/node/{nid}");

    let clients = (0..8).map(|client| {
        let (app, uri, token) = (&app, &uri, alice.token.as_str());
        async move {
            let mut last_acked = None;
            let mut refused = 0;
            for round in 0..ROUNDS {
                let (field, value) = change(client, round);
                let r = app
                    .json("PATCH", uri, Some(token), &json!({ field: value }))
                    .await;
                match r.status {
                    StatusCode::OK => {
                        assert_eq!(r.body[field], value, "the answer shows the change");
                        last_acked = Some(r.body[field].clone());
                    }
                    // Lost every retry against the other writers: allowed, never silent.
                    StatusCode::CONFLICT => refused += 1,
                    other => panic!("client {client} round {round}: {other} {}", r.text),
                }
            }
            (client, last_acked, refused)
        }
    });
    let outcomes = join_all(clients).await;

    let r = app.send("GET", &uri, None, None).await;
    assert_ok(&r, "GET the node");
    let stored = r.body;
    let mut acknowledged = 0;
    for (client, last_acked, refused) in outcomes {
        // A 409 is an honest answer (nothing was written), but most writes must get through.
        assert!(
            refused <= ROUNDS / 2,
            "client {client}: {refused} of {ROUNDS} PATCHes answered 409"
        );
        acknowledged += ROUNDS - refused;
        let (field, _) = change(client, 0);
        let want = last_acked.unwrap_or_else(|| panic!("client {client} got no 200"));
        assert_eq!(
            stored[field], want,
            "client {client}'s last acknowledged {field} is in the final node"
        );
    }
    assert_eq!(stored["state"], "done");

    // One event per acknowledged PATCH (plus the creation), each starting from the state
    // the previous one ended in, and every step allowed.
    let events = app
        .store()
        .find_events(
            &Filter::eq("data.id", FilterValue::Str(nid.clone())),
            0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        events.len(),
        acknowledged + 1,
        "one event per acknowledged write"
    );
    let mut state = NodeState::Running;
    for e in &events[1..] {
        let data = &e.record.data;
        let previous = NodeState::parse(data["previous_state"].as_str().unwrap()).unwrap();
        let next = NodeState::parse(data["state"].as_str().unwrap()).unwrap();
        assert_eq!(
            previous,
            state,
            "event {} starts where the last ended",
            e.seq()
        );
        assert!(
            previous.may_become(next),
            "stored transition {previous:?} -> {next:?}"
        );
        state = next;
    }
    assert_eq!(state, NodeState::Done);
}

/// Case: while one client moves a node to `done`, others PATCH other fields: none of them
/// writes the earlier state back, and a later attempt to go back is refused.
pub async fn a_finished_node_never_goes_back(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let created = app.create(&alice.token, checkout("c")).await;
    let uri = format!("/latest/node/{}", id(&created));
    let token = Some(alice.token.as_str());
    let done_body = json!({"state": "done"});
    let finisher = app.json("PATCH", &uri, token, &done_body);
    let others = (0..7).map(|i| {
        let uri = &uri;
        let app = &app;
        async move {
            app.json("PATCH", uri, token, &json!({"debug": {"writer": i}}))
                .await
        }
    });
    let (done, others) = futures::join!(finisher, join_all(others));
    assert_ok(&done, "PATCH state done");
    for r in others {
        assert_ok(&r, "PATCH debug");
    }
    let r = app.send("GET", &uri, None, None).await;
    assert_eq!(r.body["state"], "done", "{}", r.text);
    let back = app
        .json("PATCH", &uri, token, &json!({"state": "running"}))
        .await;
    assert_eq!(back.status, StatusCode::BAD_REQUEST, "{}", back.text);
}

/// Case: concurrent `PATCH /user/{id}` by an admin, each changing another field, all kept.
pub async fn concurrent_account_updates_lose_nothing(app: TestApp) {
    let admin = app.add_user("root", true, &[]).await;
    let bob = app.add_user("bob", false, &["team-a", "team-b"]).await;
    let uri = format!("/latest/user/{}", bob.id());
    let token = Some(admin.token.as_str());
    let bodies = [
        json!({"email": "bob@kernelci.org"}),
        json!({"is_verified": false}),
        json!({"groups": ["team-a"]}),
        json!({"is_superuser": true}),
    ];
    let answers = join_all(bodies.iter().map(|b| app.json("PATCH", &uri, token, b))).await;
    for r in &answers {
        assert_ok(r, "PATCH user");
    }
    let stored = app.stored_user("bob").await;
    assert_eq!(stored.email, "bob@kernelci.org");
    assert!(!stored.is_verified);
    assert!(stored.is_superuser);
    let groups: Vec<&str> = stored.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["team-a"]);
}
