//! Pub/sub over the router: subscribe/listen delivery, owner filtering, keep-alive,
//! durable resume through a large backlog, publish and push/pop, `/events` and stats.
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use maestro_server::events::NewEvent;
use maestro_server::pubsub::{PubSub, PubSubConfig};
use serde_json::{Map, Value, json};

use crate::harness::{TestApp, checkout, child, detail};

/// A test app whose listens answer a BEEP after one second of nothing.
async fn app() -> TestApp {
    with_fast_pubsub(TestApp::new().await)
}

fn with_fast_pubsub(mut app: TestApp) -> TestApp {
    app.state.pubsub = Arc::new(PubSub::new(PubSubConfig {
        keep_alive: Some(Duration::from_secs(1)),
        idle_timeout: Duration::from_secs(1),
        ..PubSubConfig::default()
    }));
    app
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn subscribe(app: &TestApp, token: &str, channel: &str, query: &str) -> u64 {
    let r = app
        .send(
            "POST",
            &format!("/latest/subscribe/{channel}{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["channel"], channel);
    r.body["id"].as_u64().unwrap()
}

/// One listen: checks the envelope and returns the decoded CloudEvent.
async fn listen(app: &TestApp, token: &str, sub: u64) -> Map<String, Value> {
    let r = app
        .send("GET", &format!("/latest/listen/{sub}"), Some(token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let envelope = r.body.as_object().unwrap();
    let keys: Vec<&str> = envelope.keys().map(String::as_str).collect();
    assert_eq!(keys, ["type", "pattern", "channel", "data"]);
    assert_eq!(
        (&r.body["type"], &r.body["pattern"]),
        (&json!("message"), &Value::Null)
    );
    let data = r.body["data"].as_str().expect("data is a JSON string");
    serde_json::from_str::<Value>(data)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn is_beep(ev: &Map<String, Value>) -> bool {
    ev["data"] == "BEEP"
}

fn seq(ev: &Map<String, Value>) -> u64 {
    ev["_sequence_id"].as_u64().unwrap()
}

/// Listens until a BEEP; returns the events before it.
async fn drain(app: &TestApp, token: &str, sub: u64) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    loop {
        let ev = listen(app, token, sub).await;
        if is_beep(&ev) {
            return out;
        }
        out.push(ev);
    }
}

async fn publish(app: &TestApp, token: &str, channel: &str, body: Value) {
    let r = app
        .post(&format!("/latest/publish/{channel}"), token, &body)
        .await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &Value::Null),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn node_events_reach_every_subscription_in_order() {
    let app = app().await;
    let admin = app.user("admin", true, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let s1 = subscribe(&app, &admin, "node", "?promisc=true").await;
    let s2 = subscribe(&app, &bob, "node", "").await;
    let s3 = subscribe(&app, &bob, "other", "").await;
    let root = app.create(&bob, checkout("c1")).await;
    let kb = app.create(&bob, child("kbuild", "kb", &id(&root))).await;
    for sub in [(s1, &admin), (s2, &bob)] {
        let events = drain(&app, sub.1, sub.0).await;
        let ids: Vec<&Value> = events.iter().map(|e| &e["data"]["id"]).collect();
        assert_eq!(ids, [&root["id"], &kb["id"]]);
        assert!(seq(&events[0]) < seq(&events[1]));
        let ev = &events[0];
        let keys: Vec<&str> = ev.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "specversion",
                "id",
                "source",
                "type",
                "time",
                "data",
                "owner",
                "_sequence_id"
            ]
        );
        assert_eq!(ev["specversion"], "1.0");
        assert_eq!(ev["source"], "https://api.kernelci.org/");
        assert_eq!(ev["type"], "api.kernelci.org");
        assert_eq!(ev["owner"], "bob");
        assert!(ev["time"].as_str().unwrap().ends_with("+00:00"));
        let uuid = ev["id"].as_str().unwrap();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(ev["data"]["op"], "created");
    }
    assert!(
        drain(&app, &bob, s3).await.is_empty(),
        "other channels see nothing"
    );
}

#[tokio::test]
async fn every_subscriber_of_an_event_gets_the_same_cloudevent() {
    let app = app().await;
    let admin = app.user("admin", true, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let s1 = subscribe(&app, &admin, "node", "?promisc=true").await;
    let s2 = subscribe(&app, &bob, "node", "").await;
    app.create(&bob, checkout("c1")).await;
    let a = listen(&app, &admin, s1).await;
    let b = listen(&app, &bob, s2).await;
    // As from the Python server's single Redis publish: one id and one time per event.
    assert_eq!((&a["id"], &a["time"]), (&b["id"], &b["time"]));
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_subscriber_far_behind_in_the_window_gets_its_events_past_others() {
    let app = app().await;
    let alice = app.user("alice", false, &[]).await;
    let other = app.user("other", false, &[]).await;
    let sub = subscribe(&app, &alice, "node", "").await;
    // Far more than the parsed hot tail (256), all within the window (4,096): most of what
    // the subscriber passes over is another user's, and is never decoded for it.
    for n in 0..400 {
        publish(&app, &other, "node", json!({"data": {"n": -n}})).await;
        if n % 4 == 0 {
            publish(&app, &alice, "node", json!({"data": {"n": n}})).await;
        }
    }
    let ns: Vec<i64> = drain(&app, &alice, sub)
        .await
        .iter()
        .map(|e| e["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (0..400).step_by(4).collect::<Vec<i64>>());
}

#[tokio::test]
async fn one_event_per_create_and_update_and_none_with_noevent() {
    let app = app().await;
    let t = app.user("alice", false, &[]).await;
    let sub = subscribe(&app, &t, "node", "").await;
    let mut n = app.create(&t, checkout("c1")).await;
    let uri = format!("/latest/node/{}", id(&n));
    n["state"] = json!("available");
    assert_eq!(app.put(&uri, &t, &n).await.status, StatusCode::OK);
    let patch = json!({"state": "closing"});
    assert_eq!(app.patch(&uri, &t, &patch).await.status, StatusCode::OK);
    n["state"] = json!("closing");
    n["name"] = json!("quiet");
    let quiet = format!("{uri}?noevent=true");
    assert_eq!(app.put(&quiet, &t, &n).await.status, StatusCode::OK);
    let patch = json!({"state": "done", "result": "pass"});
    assert_eq!(app.patch(&quiet, &t, &patch).await.status, StatusCode::OK);
    let events = drain(&app, &t, sub).await;
    let ops: Vec<(&Value, &Value, Option<&Value>)> = events
        .iter()
        .map(|e| {
            (
                &e["data"]["op"],
                &e["data"]["state"],
                e["data"].get("previous_state"),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            (&json!("created"), &json!("running"), None),
            (
                &json!("updated"),
                &json!("available"),
                Some(&json!("running"))
            ),
            (
                &json!("updated"),
                &json!("closing"),
                Some(&json!("available"))
            ),
        ]
    );
    let history = app.get(&format!("/latest/events?node_id={}", id(&n))).await;
    assert_eq!(history.body.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_hierarchy_write_emits_one_event_for_its_root() {
    let app = app().await;
    let t = app.user("alice", false, &[]).await;
    let root = app.create(&t, checkout("c1")).await;
    let sub = subscribe(&app, &t, "node", "").await;
    let mut update = root.clone();
    update["state"] = json!("done");
    update["result"] = json!("pass");
    let leaf = |name: &str| json!({"node": {"kind": "test", "name": name, "path": ["c1", name], "state": "done", "result": "pass"}, "child_nodes": []});
    let body = json!({"node": update, "child_nodes": [leaf("t1"), leaf("t2")]});
    let r = app
        .put(&format!("/latest/nodes/{}", id(&root)), &t, &body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let events = drain(&app, &t, sub).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let data = &events[0]["data"];
    assert_eq!(data["id"], root["id"]);
    assert_eq!(
        (
            &data["op"],
            &data["is_hierarchy"],
            &data["previous_state"],
            &data["previous_result"]
        ),
        (
            &json!("updated"),
            &json!(true),
            &json!("running"),
            &Value::Null
        )
    );
    assert!(data.as_object().unwrap().contains_key("previous_result"));
}

#[tokio::test]
async fn non_promiscuous_subscribers_see_their_own_and_ownerless_events() {
    let app = app().await;
    let alice = app.user("alice", false, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let mine = subscribe(&app, &alice, "node", "").await;
    let all = subscribe(&app, &alice, "node", "?promisc=true").await;
    app.create(&bob, checkout("bobs")).await;
    let own = app.create(&alice, checkout("alices")).await;
    let ownerless = NewEvent {
        channel: "node".into(),
        owner: None,
        data: json!({"op": "created", "id": "ownerless"}),
        treeid: None,
        attributes: Map::new(),
    };
    app.store()
        .write_nodes_with_event(Vec::new(), Some(ownerless))
        .await
        .unwrap();
    app.create(&bob, checkout("bobs-again")).await;
    let seen = |events: Vec<Map<String, Value>>| -> Vec<Value> {
        events
            .into_iter()
            .map(|e| e["data"]["id"].clone())
            .collect()
    };
    assert_eq!(
        seen(drain(&app, &alice, mine).await),
        [own["id"].clone(), json!("ownerless")]
    );
    assert_eq!(seen(drain(&app, &alice, all).await).len(), 4);
    let stats = app.get("/latest/stats/subscriptions").await;
    assert_eq!(stats.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn events_between_subscribe_and_first_listen_are_kept() {
    let app = app().await;
    let t = app.user("alice", false, &[]).await;
    app.create(&t, checkout("before")).await;
    let sub = subscribe(&app, &t, "node", "").await;
    for i in 0..5 {
        publish(&app, &t, "node", json!({"data": {"n": i}})).await;
    }
    let events = drain(&app, &t, sub).await;
    let ns: Vec<&Value> = events.iter().map(|e| &e["data"]["n"]).collect();
    assert_eq!(ns, [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn an_idle_listen_answers_a_beep_and_a_later_event_wakes_it() {
    let app = app().await;
    let t = app.user("alice", false, &[]).await;
    let sub = subscribe(&app, &t, "node", "").await;
    let started = std::time::Instant::now();
    let beep = listen(&app, &t, sub).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(is_beep(&beep));
    assert!(!beep.contains_key("owner") && !beep.contains_key("_sequence_id"));
    assert_eq!(beep["type"], "api.kernelci.org");

    // A listen waiting when the event comes answers it, not a BEEP.
    let mut app = app;
    app.state.pubsub = Arc::new(PubSub::new(PubSubConfig {
        keep_alive: Some(Duration::from_secs(30)),
        ..PubSubConfig::default()
    }));
    let app = Arc::new(app);
    let sub = subscribe(&app, &t, "node", "").await;
    let waiting = tokio::spawn({
        let (app, t) = (Arc::clone(&app), t.clone());
        async move { listen(&app, &t, sub).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    publish(&app, &t, "node", json!({"data": "wake"})).await;
    let ev = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting listen answered")
        .unwrap();
    assert_eq!(ev["data"], "wake");
}

#[tokio::test]
async fn a_durable_subscriber_resumes_through_a_large_backlog_after_a_restart() {
    let app = app().await;
    let t = app.user("svc", false, &[]).await;
    let durable = "?subscriber_id=svc:node";
    let sub = subscribe(&app, &t, "node", durable).await;
    for i in 0..3 {
        publish(&app, &t, "node", json!({"data": {"n": i}})).await;
    }
    let mut delivered = Vec::new();
    for _ in 0..3 {
        delivered.push(seq(&listen(&app, &t, sub).await));
    }
    // Away: more than a catch-up page of the Python server, and other users' events.
    let other = app.user("other", false, &[]).await;
    for i in 0..1600 {
        let token = if i % 10 == 0 { &other } else { &t };
        publish(&app, token, "node", json!({"data": {"n": i}})).await;
    }
    publish(&app, &t, "elsewhere", json!({"data": 1})).await;
    // A restart: no event left in memory, every one comes from the store.
    let app = with_fast_pubsub(app.restart());
    let sub = subscribe(&app, &t, "node", durable).await;
    let mut resumed = Vec::new();
    loop {
        let ev = listen(&app, &t, sub).await;
        if is_beep(&ev) {
            break;
        }
        assert_ne!(ev["owner"], "other");
        resumed.push(seq(&ev));
        if resumed.len() == 700 {
            // New events during the catch-up come after it, in order.
            publish(&app, &t, "node", json!({"data": "late"})).await;
        }
    }
    // The last delivered event was never acknowledged: it comes again, first.
    assert_eq!(resumed[0], delivered[2]);
    let all: Vec<u64> = app
        .get("/latest/events?channel=node")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["owner"] == "svc")
        .map(|e| e["sequence_id"].as_u64().unwrap())
        .filter(|s| *s > delivered[1])
        .collect();
    assert_eq!(all.len(), 1 + 1440 + 1);
    assert_eq!(resumed, all);
}

#[tokio::test]
async fn a_slow_consumer_behind_the_memory_window_reads_the_store() {
    let app = with_fast_pubsub(TestApp::with_event_capacity(8).await);
    let t = app.user("alice", false, &[]).await;
    let other = app.user("other", false, &[]).await;
    let slow = subscribe(&app, &t, "node", "").await;
    let first = {
        publish(&app, &t, "node", json!({"data": {"n": 0}})).await;
        seq(&listen(&app, &t, slow).await)
    };
    // Far more than the window holds, with skipped events of another user in between.
    for n in 1..300 {
        publish(&app, &t, "node", json!({"data": {"n": n}})).await;
        publish(&app, &other, "node", json!({"data": {"n": -n}})).await;
    }
    let mut ns = Vec::new();
    let mut last = first;
    loop {
        let ev = listen(&app, &t, slow).await;
        if is_beep(&ev) {
            break;
        }
        assert!(seq(&ev) > last);
        last = seq(&ev);
        ns.push(ev["data"]["n"].as_i64().unwrap());
        if ns.len() == 150 {
            publish(&app, &t, "node", json!({"data": {"n": 300}})).await;
        }
    }
    assert_eq!(ns, (1..=300).collect::<Vec<i64>>());
}

#[tokio::test]
async fn subscriptions_are_their_owners_only() {
    let app = app().await;
    let alice = app.user("alice", false, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let admin = app.user("admin", true, &[]).await;
    let sub = subscribe(&app, &alice, "node", "?subscriber_id=alice:node").await;

    let r = app
        .send(
            "POST",
            "/latest/subscribe/node?subscriber_id=alice:node",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(!r.text.contains("alice\""), "{}", r.text);
    let stats = app
        .send("GET", "/latest/stats/subscriptions", Some(&admin), None)
        .await;
    assert_eq!(
        stats.body.as_array().unwrap().len(),
        1,
        "nothing leaked: {}",
        stats.text
    );

    let listen_as = |token: &str, path: &str| {
        let (token, path) = (token.to_owned(), path.to_owned());
        let app = &app;
        async move { app.send("GET", &path, Some(&token), None).await }
    };
    let r = listen_as(&bob, &format!("/latest/listen/{sub}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(detail(&r), format!("Subscription {sub} not owned by bob"));
    let r = listen_as(&bob, "/latest/listen/12345").await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::NOT_FOUND,
            "Subscription id not found: 'Subscription 12345 not found'".to_owned()
        )
    );
    let r = listen_as(&bob, "/latest/listen/abc").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["detail"][0]["loc"], json!(["path", "sub_id"]));
    let r = app.send("GET", "/latest/listen/abc", None, None).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "authentication comes first"
    );
    let r = app
        .send(
            "POST",
            "/latest/subscribe/node?promisc=maybe",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let unsub = |token: &str, id: u64| {
        let token = token.to_owned();
        let app = &app;
        async move {
            app.send(
                "POST",
                &format!("/latest/unsubscribe/{id}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    assert_eq!(unsub(&bob, sub).await.status, StatusCode::FORBIDDEN);
    let r = unsub(&alice, sub).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "null"));
    assert_eq!(unsub(&alice, sub).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        listen_as(&alice, &format!("/latest/listen/{sub}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The durable position outlives the unsubscribe.
    publish(&app, &alice, "node", json!({"data": "kept"})).await;
    let again = subscribe(&app, &alice, "node", "?subscriber_id=alice:node").await;
    assert!(again > sub, "ids grow");
    assert_eq!(listen(&app, &alice, again).await["data"], "kept");
}

#[tokio::test]
async fn idle_subscriptions_are_dropped_and_durable_ones_resume() {
    let app = app().await;
    let t = app.user("alice", false, &[]).await;
    let plain = subscribe(&app, &t, "node", "").await;
    let durable = subscribe(&app, &t, "node", "?subscriber_id=alice:idle").await;
    publish(&app, &t, "node", json!({"data": 1})).await;
    assert_eq!(listen(&app, &t, durable).await["data"], 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.state.pubsub.drop_idle(), 2);
    publish(&app, &t, "node", json!({"data": 2})).await;
    let r = app
        .send("GET", &format!("/latest/listen/{plain}"), Some(&t), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Back from the stored position: the unacknowledged event again, then the new one.
    let events = drain(&app, &t, durable).await;
    let data: Vec<&Value> = events.iter().map(|e| &e["data"]).collect();
    assert_eq!(data, [1, 2]);
}

#[tokio::test]
async fn publish_checks_its_payload_and_keeps_attributes() {
    let app = app().await;
    let t = app.user("alice", false, &[]).await;
    for body in [
        json!({}),
        json!({"data": null}),
        json!({"data": {}}),
        json!({"data": []}),
        json!({"data": ""}),
        json!({"data": 0}),
        json!({"data": false}),
    ] {
        let r = app.post("/latest/publish/test", &t, &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            r.text.contains("None is not allowed as event payload"),
            "{}",
            r.text
        );
    }
    for body in [
        json!({"data": 1, "type": 5}),
        json!({"data": 1, "attributes": [1]}),
        json!([1]),
    ] {
        let r = app.post("/latest/publish/test", &t, &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let r = app
        .send("POST", "/latest/publish/test", None, Some("{\"data\": 1}"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let sub = subscribe(&app, &t, "test", "").await;
    publish(
        &app,
        &t,
        "test",
        json!({"data": {"k": "v"}, "type": "custom.type", "source": "https://lab.example/",
               "attributes": {"owner": "mallory", "type": "ignored", "lab": "lab-1", "n": 2.5}}),
    )
    .await;
    let ev = listen(&app, &t, sub).await;
    assert_eq!(
        (
            &ev["type"],
            &ev["source"],
            &ev["owner"],
            &ev["lab"],
            &ev["n"],
            &ev["data"]
        ),
        (
            &json!("custom.type"),
            &json!("https://lab.example/"),
            &json!("alice"),
            &json!("lab-1"),
            &json!(2.5),
            &json!({"k": "v"})
        )
    );
    let history = app.get("/latest/events?channel=test").await;
    let records = history.body.as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (&records[0]["owner"], &records[0]["data"]),
        (&json!("alice"), &json!({"k": "v"}))
    );
}

#[tokio::test]
async fn push_and_pop_hand_each_item_to_one_consumer() {
    let app = Arc::new(app().await);
    let t = app.user("alice", false, &[]).await;
    let r = app
        .post(
            "/latest/push/jobs",
            &t,
            &json!({"data": {"job": 1}, "lab": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &Value::Null),
        "{}",
        r.text
    );
    let r = app
        .post("/latest/push/jobs", &t, &json!({"nodata": 1}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.send("GET", "/latest/pop/jobs", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (
            &r.body["data"],
            &r.body["lab"],
            &r.body["type"],
            &r.body["source"]
        ),
        (
            &json!({"job": 1}),
            &json!("x"),
            &json!("api.kernelci.org"),
            &json!("https://api.kernelci.org/")
        )
    );
    assert!(r.body.get("owner").is_none());

    // A consumer that gives up takes nothing; a waiting one gets the next push.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        app.send("GET", "/latest/pop/jobs", Some(&t), None),
    )
    .await;
    assert!(gave_up.is_err());
    let waiting = tokio::spawn({
        let (app, t) = (Arc::clone(&app), t.clone());
        async move { app.send("GET", "/latest/pop/jobs", Some(&t), None).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.post("/latest/push/jobs", &t, &json!({"data": 2})).await;
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.body["data"], 2);
}

#[tokio::test]
async fn stats_list_subscriptions_for_superusers() {
    let app = app().await;
    let admin = app.user("admin", true, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let a = subscribe(&app, &bob, "node", "?promisc=true").await;
    let b = subscribe(&app, &bob, "retry", "").await;
    listen(&app, &bob, b).await;
    let r = app
        .send("GET", "/latest/stats/subscriptions", Some(&bob), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send("GET", "/latest/stats/subscriptions", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (
            &list[0]["id"],
            &list[0]["promiscuous"],
            &list[0]["last_poll"]
        ),
        (&json!(a), &json!(true), &Value::Null)
    );
    assert_eq!(
        (&list[1]["channel"], &list[1]["promiscuous"]),
        (&json!("retry"), &json!(false))
    );
    assert!(list[1]["last_poll"].is_string() && list[1]["created"].is_string());
}

#[tokio::test]
async fn the_event_history_filters_and_attaches_nodes() {
    let app = app().await;
    let t = app.user("alice", false, &[]).await;
    let root = app.create(&t, checkout("c1")).await;
    let kb = app.create(&t, child("kbuild", "kb-1", &id(&root))).await;
    let patch = json!({"state": "done", "result": "pass"});
    app.patch(&format!("/latest/node/{}", id(&kb)), &t, &patch)
        .await;
    publish(&app, &t, "custom", json!({"data": {"free": "form"}})).await;
    let events = |q: &str| {
        let uri = format!("/latest/events{q}");
        let app = &app;
        async move {
            let r = app.get(&uri).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
            r.body.as_array().unwrap().clone()
        }
    };
    let all = events("").await;
    assert_eq!(all.len(), 4);
    let seqs: Vec<u64> = all
        .iter()
        .map(|e| e["sequence_id"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let keys: Vec<&str> = all[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["timestamp", "sequence_id", "channel", "owner", "data", "id"]
    );

    assert_eq!(events("?kind=kbuild").await.len(), 2);
    assert_eq!(events("?kind=kbuild&op=updated").await.len(), 1);
    assert_eq!(events("?state=done&result=pass").await.len(), 1);
    assert_eq!(events("?name=kb-1&owner=alice&group=").await.len(), 2);
    assert_eq!(events("?channel=custom").await.len(), 1);
    assert_eq!(events(&format!("?node_id={}", id(&kb))).await.len(), 2);
    assert_eq!(events(&format!("?data.id={}", id(&root))).await.len(), 1);
    assert_eq!(events("?path=%5Ekb").await.len(), 2);
    assert_eq!(events("?data.is_hierarchy=false").await.len(), 3);
    assert_eq!(events(&format!("?sequence_id={}", seqs[1])).await.len(), 1);
    assert_eq!(events("?limit=2&offset=1").await, all[1..3].to_vec());
    assert_eq!(
        events(&format!("?id={}", id(&all[2]))).await,
        [all[2].clone()]
    );
    let ids = format!("?ids={},{}", id(&all[0]), id(&all[3]));
    assert_eq!(events(&ids).await, [all[0].clone(), all[3].clone()]);
    assert_eq!(events("?from=2000-01-01T00:00:00").await.len(), 4);
    assert!(events("?from=2999-01-01").await.is_empty());
    let after = all[1]["timestamp"].as_str().unwrap();
    assert!(events(&format!("?from={after}")).await.len() <= 2);

    // `recursive=false` is false; with true, the nodes come along (missing ones left out).
    assert!(events("?recursive=false").await[0].get("node").is_none());
    let with_nodes = events("?recursive=true&limit=10").await;
    assert_eq!(with_nodes[0]["node"]["id"], root["id"]);
    assert_eq!(with_nodes[2]["node"]["state"], "done");
    assert!(with_nodes[3].get("node").is_none());

    for (q, msg) in [
        (
            "?recursive=true",
            "Recursive limit is too large, max is 1000",
        ),
        (
            "?recursive=true&limit=1001",
            "Recursive limit is too large, max is 1000",
        ),
        (
            "?node_id=x&data.id=y",
            "Provide either node_id or data.id, not both",
        ),
        ("?id=nope", "Invalid id format"),
        ("?ids=65a1355ee98651d0fe81e500,nope", "Invalid ids format"),
        ("?ids=,,", "ids must contain at least one id"),
        (
            "?id=65a1355ee98651d0fe81e500&ids=65a1355ee98651d0fe81e500",
            "Provide either id or ids, not both",
        ),
        (
            "?from=yesterday",
            "Invalid 'from' parameter, must be an ISO 8601 datetime",
        ),
        (
            "?from=1700000000",
            "Invalid 'from' parameter, must be an ISO 8601 datetime",
        ),
    ] {
        let r = app.get(&format!("/latest/events{q}")).await;
        assert_eq!(
            (r.status, detail(&r)),
            (StatusCode::BAD_REQUEST, msg.to_owned()),
            "{q}"
        );
    }
    for q in ["?limit=ten", "?offset=-1", "?path=(", "?$where=1"] {
        let r = app.get(&format!("/latest/events{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text);
    }
}

#[tokio::test]
async fn a_pop_on_an_empty_list_answers_204_after_its_timeout_and_takes_nothing() {
    let mut app = app().await;
    app.state.pubsub = Arc::new(PubSub::new(PubSubConfig {
        pop_timeout: Some(Duration::from_millis(300)),
        ..PubSubConfig::default()
    }));
    let t = app.user("alice", false, &[]).await;
    let r = app.send("GET", "/latest/pop/empty", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // The timed-out pop took nothing: a later item goes to the next pop.
    let r = app
        .post("/latest/push/empty", &t, &json!({"data": {"n": 1}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.send("GET", "/latest/pop/empty", Some(&t), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"], json!({"n": 1}));
}
