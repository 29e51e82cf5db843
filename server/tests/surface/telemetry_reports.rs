//! `GET /telemetry/stats` and `GET /telemetry/anomalies` on real events: the Python server's
//! parameters, checks, counts, thresholds, orders and row shapes.
use axum::http::StatusCode;
use maestro_common::Timestamp;
use serde_json::{Value, json};

use crate::support::{TestApp, detail};
use crate::telemetry::{ago, get, post};

fn assert_400(r: &crate::support::Resp, want: &str) {
    assert_eq!(
        (r.status, detail(r).as_str()),
        (StatusCode::BAD_REQUEST, want),
        "{}",
        r.text
    );
}

/// Job results on two labs and device types, test results, errors.
async fn lab_events(app: &TestApp, token: &str) {
    let job = |runtime: &str, device: &str, id: &str, result: &str, infra: bool| {
        json!({"ts": "2026-02-01T00:00:00", "kind": "job_result", "runtime": runtime,
               "device_type": device, "device_id": id, "result": result,
               "is_infra_error": infra})
    };
    post(
        app,
        token,
        json!([
            job("lava", "kevin", "kevin-01", "pass", false),
            job("lava", "kevin", "kevin-01", "fail", false),
            job("lava", "kevin", "kevin-02", "incomplete", true),
            job("lava", "jetson", "jetson-01", "skip", false),
            job("k8s", "x86", "node-1", "pass", false),
            {"ts": "2026-02-02T00:00:00", "kind": "test_result", "runtime": "lava", "result": "pass"},
            {"ts": "2026-02-03T00:00:00", "kind": "runtime_error", "runtime": "k8s", "error_type": "Timeout"},
        ]),
    )
    .await;
}

pub async fn stats_count_by_the_chosen_fields(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    lab_events(&app, &alice.token).await;
    let r = |uri: &'static str| app.send("GET", uri, None, None);
    for uri in [
        "/latest/telemetry/stats",
        "/latest/telemetry/stats?group_by=",
        "/latest/telemetry/stats?group_by=,",
    ] {
        assert_400(&r(uri).await, "'group_by' parameter is required");
    }
    assert_400(
        &r("/latest/telemetry/stats?group_by=runtime,zzz,bogus").await,
        "Invalid group_by fields: {'bogus', 'zzz'}",
    );
    assert_400(
        &r("/latest/telemetry/stats?group_by=lab&lab=lava&runtime=k8s").await,
        "'lab' and 'runtime' must match when both are provided",
    );
    assert_400(
        &r("/latest/telemetry/stats?group_by=kind&since=soon").await,
        "Invalid isoformat string: 'soon'",
    );
    let counts = |total: u64, pass: u64, fail: u64, incomplete: u64, skip: u64, infra: u64| {
        json!({"total": total, "pass": pass, "fail": fail, "incomplete": incomplete,
               "skip": skip, "infra_error": infra})
    };
    let with = |mut row: Value, key: Value| {
        for (k, v) in key.as_object().unwrap() {
            row[k] = v.clone();
        }
        row
    };
    // Most events first; every result counted, infrastructure errors apart.
    let rows = get(&app, "/latest/telemetry/stats?group_by=runtime").await;
    assert_eq!(
        rows,
        json!([
            with(counts(5, 2, 1, 1, 1, 1), json!({"runtime": "lava"})),
            with(counts(2, 1, 0, 0, 0, 0), json!({"runtime": "k8s"})),
        ])
    );
    // The upstream unit test's query: `lab` as an alias of `runtime`, physical devices.
    let rows = get(
        &app,
        "/latest/telemetry/stats?group_by=lab,device_id&kind=job_result&lab=lava&device_id=kevin-01",
    )
    .await;
    assert_eq!(
        rows,
        json!([with(
            counts(2, 1, 1, 0, 0, 0),
            json!({"lab": "lava", "device_id": "kevin-01"})
        )])
    );
    let row = &rows[0];
    let keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(&keys[..2], ["lab", "device_id"]);
    // Events without the field group under null; both names of one field are given.
    let rows = get(
        &app,
        "/latest/telemetry/stats?group_by=runtime,lab,device_type&runtime=lava&lab=lava",
    )
    .await;
    let groups: Vec<(Value, Value, Value, Value)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["runtime"].clone(),
                r["lab"].clone(),
                r["device_type"].clone(),
                r["total"].clone(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            (json!("lava"), json!("lava"), json!("kevin"), json!(3)),
            (json!("lava"), json!("lava"), Value::Null, json!(1)),
            (json!("lava"), json!("lava"), json!("jetson"), json!(1)),
        ]
    );
    // Time bounds, and parameters that are no filter of the stats (`result`) are ignored.
    let rows = get(
        &app,
        "/latest/telemetry/stats?group_by=kind&since=2026-02-02&until=2026-02-03&result=fail",
    )
    .await;
    let kinds: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["runtime_error", "test_result"]);
}

/// `n` events of `kind` on `runtime`/`device_type`/`device_id` with `result`, infra errors
/// or not, from `secs` seconds ago back, one a minute.
fn burst(n: usize, secs: i64, fields: Value) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut e = fields.clone();
            e["ts"] = json!(ago(secs + 60 * i as i64));
            e
        })
        .collect()
}

pub async fn anomalies_report_failing_devices_and_recurring_errors(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let r = |uri: &'static str| app.send("GET", uri, None, None);
    let bad = r("/latest/telemetry/anomalies?threshold=2&min_total=0&scope=lab").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let kinds: Vec<&str> = bad.body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["less_than_equal", "greater_than_equal", "literal_error"]
    );
    for uri in [
        "/latest/telemetry/anomalies?threshold=x",
        "/latest/telemetry/anomalies?min_total=1.5",
    ] {
        assert_eq!(
            r(uri).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri}"
        );
    }
    assert_400(
        &r("/latest/telemetry/anomalies?window=2h").await,
        "Invalid window '2h'. Use: 1h, 3h, 6h, 12h, 24h, 48h",
    );
    let job = |device_type: &str, device_id: &str, result: &str, infra: bool| {
        json!({"kind": "job_result", "runtime": "lava", "device_type": device_type,
               "device_id": device_id, "result": result, "is_infra_error": infra,
               "error_type": if infra { json!("Infrastructure") } else { Value::Null },
               "error_msg": if infra { json!("bootloader timed out") } else { Value::Null }})
    };
    let mut events = Vec::new();
    // kevin: every job incomplete on infrastructure errors, the newest with its own message.
    let mut newest = job("kevin", "kevin-01", "incomplete", true);
    newest["error_msg"] = json!("the newest message");
    newest["ts"] = json!(ago(300));
    events.push(newest);
    events.extend(burst(2, 600, job("kevin", "kevin-01", "incomplete", true)));
    // jetson: healthy; its tests too.
    events.extend(burst(4, 600, job("jetson", "jetson-01", "pass", false)));
    let mut test = job("jetson", "", "fail", false);
    test["kind"] = json!("test_result");
    events.extend(burst(3, 600, test));
    // rpi: failing, but only two jobs.
    events.extend(burst(2, 600, job("rpi", "rpi-01", "fail", false)));
    // odroid: failing ten hours ago, outside the default window.
    events.extend(burst(3, 36_000, job("odroid", "odroid-01", "fail", false)));
    // Errors: three timeouts and three skips recur, one auth error does not.
    let error = |kind: &str, error_type: &str| json!({"kind": kind, "runtime": "k8s", "error_type": error_type});
    events.extend(burst(3, 600, error("runtime_error", "Timeout")));
    events.extend(burst(4, 600, error("job_skip", "NoDevice")));
    events.extend(burst(1, 600, error("runtime_error", "Auth")));
    post(&app, &alice.token, Value::Array(events)).await;

    let before = Timestamp::now().plus_seconds(-6 * 3600);
    let report = get(&app, "/latest/telemetry/anomalies").await;
    assert_eq!(
        (
            &report["window"],
            &report["threshold"],
            &report["min_total"],
            &report["scope"]
        ),
        (&json!("6h"), &json!(0.5), &json!(3), &json!("device_type"))
    );
    let since = report["since"].as_str().unwrap();
    assert!(since.ends_with("+00:00"), "{since}");
    let since = Timestamp::parse_iso(since).unwrap();
    assert!(since >= before && since <= Timestamp::now().plus_seconds(-6 * 3600 + 5));
    // Results: kevin (all infrastructure errors) first, then the failing jetson tests.
    let rows = report["result_anomalies"].as_array().unwrap();
    let kevin = json!({
        "runtime": "lava", "lab": "lava", "device_type": "kevin",
        "total": 3, "pass": 0, "fail": 0, "incomplete": 3, "skip": 0, "infra_error": 3,
        "infra_rate": 1.0, "fail_rate": 1.0, "constant_failure": true,
        "constant_infra_failure": true, "last_seen": rows[0]["last_seen"].clone(),
        "latest_error_type": "Infrastructure", "latest_error_msg": "the newest message",
    });
    assert_eq!(rows[0], kevin);
    let last_seen = Timestamp::parse_iso(rows[0]["last_seen"].as_str().unwrap()).unwrap();
    let newest = Timestamp::now().plus_seconds(-300);
    assert!(
        (last_seen.millis() - newest.millis()).abs() < 5_000,
        "{last_seen}"
    );
    // jetson: 4 passing jobs and 3 failing tests, 3/7 fail: under 0.5, not an anomaly.
    assert_eq!(rows.len(), 1, "{rows:?}");
    let errors = &report["error_anomalies"];
    assert_eq!(
        errors,
        &json!([
            {"runtime": "k8s", "error_type": "NoDevice", "count": 4},
            {"runtime": "k8s", "error_type": "Timeout", "count": 3},
        ])
    );
    // A lower threshold takes jetson in; a wider window odroid; fewer events rpi.
    let report = get(
        &app,
        "/latest/telemetry/anomalies?threshold=0.4&window=12h&min_total=2",
    )
    .await;
    let devices: Vec<(&str, &Value)> = report["result_anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["device_type"].as_str().unwrap(), &r["fail_rate"]))
        .collect();
    assert_eq!(
        devices,
        [
            ("kevin", &json!(1.0)),
            ("odroid", &json!(1.0)),
            ("rpi", &json!(1.0)),
            ("jetson", &json!(0.429)),
        ]
    );
    assert_eq!(report["threshold"], json!(0.4));
    // Per device: job results with a device id only (the tests have none).
    let report = get(
        &app,
        "/latest/telemetry/anomalies?scope=device&threshold=0&min_total=1",
    )
    .await;
    assert_eq!(report["scope"], "device");
    let ids: Vec<(&str, &Value)> = report["result_anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["device_id"].as_str().unwrap(), &r["total"]))
        .collect();
    assert_eq!(
        ids,
        [
            ("kevin-01", &json!(3)),
            ("rpi-01", &json!(2)),
            ("jetson-01", &json!(4)),
        ]
    );
    assert_eq!(report["error_anomalies"].as_array().unwrap().len(), 3);
}
