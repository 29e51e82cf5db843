//! Big events: the size cap (413), the byte-bounded window, paged `/events` answers.
use axum::http::StatusCode;
use maestro_server::events::EventLimits;
use serde_json::{Value, json};

use crate::support::{TestApp, checkout, detail};

fn small_limits(app: &TestApp, window_bytes: usize, max_event_bytes: usize) {
    app.store().event_log().set_limits(EventLimits {
        window_bytes,
        max_event_bytes,
    });
}

pub async fn events_over_the_cap_are_413_and_not_stored(app: TestApp) {
    small_limits(&app, 1 << 20, 20_000);
    let bob = app.add_user("bob", false, &[]).await;
    let big = json!({"data": {"blob": "x".repeat(30_000)}});
    let r = app
        .json("POST", "/latest/publish/big", Some(&bob.token), &big)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(detail(&r).contains("20000"), "{}", r.text);
    let ok = json!({"data": {"blob": "x".repeat(10_000)}});
    let r = app
        .json("POST", "/latest/publish/big", Some(&bob.token), &ok)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A node whose event (it carries the node's data) would be over the cap.
    let mut node = checkout("huge");
    node["data"]["blob"] = Value::String("y".repeat(30_000));
    let r = app
        .json("POST", "/latest/node", Some(&bob.token), &node)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(!detail(&r).is_empty());
    let r = app.send("GET", "/latest/count", None, None).await;
    assert_eq!(r.body, json!(0), "the node was not stored");
    let r = app.send("GET", "/latest/events", None, None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.text);
}

pub async fn bodies_over_the_request_limit_are_json_413(app: TestApp) {
    let bob = app.add_user("bob", false, &[]).await;
    let body = format!("{{\"data\": \"{}\"}}", "z".repeat(3 << 20));
    let r = app
        .send("POST", "/latest/publish/big", Some(&bob.token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(detail(&r).contains("limit"), "{}", r.text);
}

pub async fn the_window_is_bounded_by_bytes_and_events_page_through(app: TestApp) {
    small_limits(&app, 200_000, 60_000);
    let bob = app.add_user("bob", false, &[]).await;
    for n in 0..40 {
        let body = json!({"data": {"n": n, "blob": "b".repeat(20_000)}});
        let r = app
            .json("POST", "/latest/publish/c", Some(&bob.token), &body)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let (bytes, count) = app.store().event_log().usage();
    assert!(bytes <= 200_000, "window holds {bytes} bytes");
    assert!((5..40).contains(&count), "{count} events in the window");
    // Every event is still served, in order, across the pages of one answer.
    let r = app.send("GET", "/latest/events?limit=0", None, None).await;
    let seqs: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence_id"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    let r = app
        .send(
            "GET",
            "/latest/events?channel=c&limit=25&offset=3",
            None,
            None,
        )
        .await;
    let ns: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (3..28).collect::<Vec<_>>());
}
