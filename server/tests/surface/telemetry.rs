//! `POST /telemetry` and `GET /telemetry`: auth, batch validation all or nothing, the stored
//! fields and defaults, the filters and pages; the 14-day retention.
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use maestro_common::Timestamp;
use maestro_server::telemetry::retention;
use serde_json::{Value, json};

use crate::support::{Resp, TestApp, assert_unauthorized, detail};

/// `ts` of an event `secs` seconds before now, as the API writes it.
pub fn ago(secs: i64) -> String {
    Timestamp::now().plus_seconds(-secs).to_string()
}

/// Posts `events` as `token`; must answer 200 with their number.
pub async fn post(app: &TestApp, token: &str, events: Value) {
    let n = events.as_array().map_or(0, Vec::len);
    let r = app
        .json("POST", "/latest/telemetry", Some(token), &events)
        .await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &json!({"inserted": n})),
        "{}",
        r.text
    );
}

/// `GET uri` without a token; must answer 200.
pub async fn get(app: &TestApp, uri: &str) -> Value {
    let r = app.send("GET", uri, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "GET {uri}: {}", r.text);
    r.body
}

fn assert_422(r: &Resp, kind: &str, loc: Value) {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["detail"][0]["type"], kind, "{}", r.text);
    assert_eq!(r.body["detail"][0]["loc"], loc, "{}", r.text);
}

fn assert_400(r: &Resp, want: &str) {
    assert_eq!(
        (r.status, detail(r).as_str()),
        (StatusCode::BAD_REQUEST, want),
        "{}",
        r.text
    );
}

pub async fn posting_needs_a_user_and_a_whole_valid_batch(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let t = Some(alice.token.as_str());
    let one = json!([{"kind": "job_result", "runtime": "lava"}]);
    for token in [None, Some("not-a-token")] {
        let r = app.json("POST", "/latest/telemetry", token, &one).await;
        assert_unauthorized(&r, "POST /telemetry");
        let r = app
            .send("POST", "/latest/telemetry", token, Some("[{bad".into()))
            .await;
        assert_unauthorized(&r, "POST /telemetry with a bad body");
    }
    let send = |body: &str| app.send("POST", "/latest/telemetry", t, Some(body.to_owned()));
    assert_422(&send("").await, "missing", json!(["body"]));
    assert_422(&send("[{").await, "json_invalid", json!(["body"]));
    assert_422(
        &send("{\"kind\": \"x\"}").await,
        "list_type",
        json!(["body"]),
    );
    assert_422(
        &send("[{\"kind\": \"k\", \"runtime\": \"r\"}, 7]").await,
        "dict_type",
        json!(["body", 1]),
    );
    assert_400(&send("[]").await, "Events list cannot be empty");
    // One invalid event: a 400 naming it, and none of the batch is stored.
    let r = app
        .json(
            "POST",
            "/latest/telemetry",
            t,
            &json!([{"kind": "job_result", "runtime": "lava"}, {"runtime": "lava"}]),
        )
        .await;
    assert_400(
        &r,
        "Invalid telemetry event: 1 validation error for TelemetryEvent\nkind\n  Field \
         required [type=missing, input_value={'runtime': 'lava'}, input_type=dict]",
    );
    let r = app
        .json(
            "POST",
            "/latest/telemetry",
            t,
            &json!([{"kind": "k", "runtime": "r", "retry": "many", "is_infra_error": []}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        detail(&r).starts_with("Invalid telemetry event: 2 validation errors"),
        "{}",
        r.text
    );
    assert_eq!(get(&app, "/latest/telemetry").await["total"], 0);
    // Every prefix takes events.
    for uri in ["/latest/telemetry", "/v0/telemetry", "/telemetry"] {
        let r = app.json("POST", uri, t, &one).await;
        assert_eq!(r.body, json!({"inserted": 1}), "{uri}: {}", r.text);
    }
    assert_eq!(get(&app, "/v0/telemetry").await["total"], 3);
}

pub async fn events_are_stored_with_every_field_and_default(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let full = json!({
        "ts": "2026-03-01T10:00:00.250+01:00", "kind": "job_result", "runtime": "lava-collabora",
        "device_type": "rk3399-gru-kevin", "device_id": "kevin-01", "job_name": "baseline",
        "test_name": "login", "job_id": "12345", "node_id": "65a1b2c3d4e5f60718293a4b",
        "tree": "mainline", "branch": "master", "arch": "arm64", "result": "incomplete",
        "is_infra_error": true, "error_type": "Infrastructure", "error_msg": "timed out",
        "retry": 2, "extra": {"attempt": [1, 2], "note": "é"}, "ignored": "field",
    });
    let before = Timestamp::now();
    post(
        &app,
        &alice.token,
        json!([full, {"kind": "job_submission", "runtime": "shell"}]),
    )
    .await;
    let page = get(&app, "/latest/telemetry").await;
    assert_eq!(
        (&page["total"], &page["limit"], &page["offset"]),
        (&json!(2), &json!(50), &json!(0))
    );
    let items = page["items"].as_array().unwrap();
    let id = items[0]["id"].as_str().unwrap();
    assert!(
        id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let mut want = full.clone();
    want.as_object_mut().unwrap().remove("ignored");
    want["ts"] = json!("2026-03-01T09:00:00.250000");
    want["id"] = json!(id);
    assert_eq!(items[0], want);
    // Field order as the Python model's, `id` first.
    let keys: Vec<&str> = items[1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "ts",
            "kind",
            "runtime",
            "device_type",
            "device_id",
            "job_name",
            "test_name",
            "job_id",
            "node_id",
            "tree",
            "branch",
            "arch",
            "result",
            "is_infra_error",
            "error_type",
            "error_msg",
            "retry",
            "extra"
        ]
    );
    let minimal = &items[1];
    for null in [
        "device_type",
        "device_id",
        "job_name",
        "result",
        "error_msg",
    ] {
        assert_eq!(minimal[null], Value::Null, "{null}");
    }
    assert_eq!(
        (
            &minimal["is_infra_error"],
            &minimal["retry"],
            &minimal["extra"]
        ),
        (&json!(false), &json!(0), &json!({}))
    );
    // A missing `ts` is the time of the request.
    let ts = Timestamp::parse_iso(minimal["ts"].as_str().unwrap()).unwrap();
    assert!(ts >= before && ts <= Timestamp::now(), "{ts}");
}

/// Six events: the listing cases' data.
async fn six_events(app: &TestApp, token: &str) {
    post(
        app,
        token,
        json!([
            {"ts": "2026-01-01T00:00:00", "kind": "job_result", "runtime": "lava", "device_type": "kevin", "result": "pass"},
            {"ts": "2026-01-02T00:00:00", "kind": "job_result", "runtime": "lava", "device_type": "kevin", "result": "fail", "is_infra_error": true},
            {"ts": "2026-01-03T00:00:00", "kind": "test_result", "runtime": "lava", "device_type": "jetson", "result": "pass", "extra": {"tag": "nightly", "n": 42}},
            {"ts": "2026-01-04T00:00:00", "kind": "runtime_error", "runtime": "k8s", "error_type": "Timeout", "retry": 1},
            {"ts": "2026-01-05T00:00:00", "kind": "job_skip", "runtime": "k8s", "error_type": "NoDevice"},
            {"ts": "2026-01-06T00:00:00", "kind": "job_result", "runtime": "shell", "result": "true"},
        ]),
    )
    .await;
}

/// The `ts` dates (`MM-DD`) of the events `uri` lists.
async fn days(app: &TestApp, uri: &str) -> Vec<String> {
    get(app, uri).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ts"].as_str().unwrap()[5..10].to_owned())
        .collect()
}

pub async fn listing_filters_and_pages_as_upstream(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    six_events(&app, &alice.token).await;
    let all = ["01-01", "01-02", "01-03", "01-04", "01-05", "01-06"];
    assert_eq!(days(&app, "/latest/telemetry").await, all);
    let page = get(&app, "/latest/telemetry?limit=2&offset=3").await;
    assert_eq!((&page["total"], &page["limit"]), (&json!(6), &json!(2)));
    assert_eq!(
        days(&app, "/latest/telemetry?limit=2&offset=3").await,
        ["01-04", "01-05"]
    );
    for (query, want) in [
        ("runtime=lava", &all[..3]),
        ("runtime=lava&kind=job_result", &all[..2]),
        ("device_type=kevin&result=fail", &all[1..2]),
        ("is_infra_error=TRUE", &all[1..2]),
        ("is_infra_error=false&runtime=k8s", &all[3..5]),
        ("since=2026-01-02&until=2026-01-04T00:00:00", &all[1..4]),
        ("since=2026-01-05T01:00:00%2B01:00", &all[4..]),
        ("since=&until=", &all[..]),
        ("extra.tag=nightly", &all[2..3]),
        // As upstream: a value is a string (or a boolean), so a number matches nothing...
        ("retry=1", &[]),
        ("extra.n=42", &[]),
        // ...`true` is a boolean wherever it is...
        ("result=true", &[]),
        // ...and fields outside the model match nothing.
        ("lab=lava", &[]),
        ("id=x", &[]),
        ("runtime=LAVA", &[]),
    ] {
        let got = days(&app, &format!("/latest/telemetry?{query}")).await;
        assert_eq!(got, want, "{query}");
        let total = get(&app, &format!("/latest/telemetry?{query}")).await["total"].clone();
        assert_eq!(total, json!(want.len()), "{query}");
    }
    let bad = |uri: &'static str| app.send("GET", uri, None, None);
    assert_400(
        &bad("/latest/telemetry?is_infra_error=maybe").await,
        "Bad is_infra_error value, use 'true' or 'false'",
    );
    assert_400(
        &bad("/latest/telemetry?since=yesterday").await,
        "Invalid isoformat string: 'yesterday'",
    );
    assert_400(
        &bad("/latest/telemetry?$where=1").await,
        "Invalid field name: '$where'",
    );
    for uri in [
        "/latest/telemetry?limit=0",
        "/latest/telemetry?limit=x",
        "/latest/telemetry?offset=-1",
    ] {
        let r = bad(uri).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri}: {}",
            r.text
        );
    }
}

pub async fn events_past_their_14_days_are_deleted(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let day = 86_400;
    post(
        &app,
        &alice.token,
        json!([
            {"ts": ago(15 * day), "kind": "old", "runtime": "r"},
            {"ts": ago(13 * day), "kind": "recent", "runtime": "r"},
            {"ts": ago(60), "kind": "new", "runtime": "r"},
        ]),
    )
    .await;
    let kinds = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let store = app.state.store.clone();
    // Where a TTL index expires events (MongoDB), it may have taken one first.
    let deleted = |n: u64| n == 1 || (n == 0 && store.expires_telemetry_itself());
    let now = Timestamp::now();
    assert!(deleted(
        retention::purge_expired(&*store, now).await.unwrap()
    ));
    assert_eq!(
        kinds(get(&app, "/latest/telemetry").await),
        ["recent", "new"]
    );
    // The cutoff moves with the `now` given: two days on, the 13-day-old event goes too.
    let later = now.plus_seconds(2 * day);
    assert!(deleted(
        retention::purge_expired(&*store, later).await.unwrap()
    ));
    assert_eq!(retention::purge_expired(&*store, later).await.unwrap(), 0);
    assert_eq!(kinds(get(&app, "/latest/telemetry").await), ["new"]);
    // The background task runs only where no TTL index expires events (SQLite), and does
    // the same: it deletes an expired event within a period.
    let spawned = retention::spawn(store.clone());
    assert_eq!(spawned.is_some(), store.backend_name() == "sqlite");
    drop(spawned);
    post(
        &app,
        &alice.token,
        json!([{"ts": ago(20 * day), "kind": "old", "runtime": "r"}]),
    )
    .await;
    let task = retention::spawn_every(Arc::clone(&store), Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&app, "/latest/telemetry").await["total"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the task did not delete the event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(task);
}
