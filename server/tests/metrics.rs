//! `GET /metrics` on a real server: started as `maestro-server` starts it (`build_state`
//! from a `Config`, SQLite in a temp dir, `run` on a loopback port), driven with real HTTP
//! and WebSocket clients, then scraped: counters, histogram counts and gauges must show
//! what was done.
// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "metrics/server.rs"]
mod server;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server::Server;
use tokio_tungstenite::tungstenite::Message;

fn checkout(name: &str) -> Value {
    json!({"kind": "checkout", "name": name, "path": [name],
           "data": {"kernel_revision": {"tree": "mainline", "branch": "master",
               "url": "https://git.kernel.org/torvalds/linux.git",
               "commit": "2a987e65025e", "describe": "v6.1"}}})
}

#[tokio::test]
async fn the_scrape_is_prometheus_text_with_help_and_type_on_every_metric() {
    let s = Server::start(|_| {}).await;
    for path in ["/latest/metrics", "/v0/metrics", "/metrics"] {
        let resp = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{path}: {ct}");
    }
    // Scrapes are not requests to the Python server's counter.
    let scrape = s.scrape().await;
    assert_eq!(scrape.value("http_requests_total{instance=\"api\"}"), 0.0);
    assert!(scrape.text.contains("# TYPE http_requests_total counter"));
    scrape.assert_help_and_type_everywhere();
    assert!(
        scrape.text.contains("process_open_fds "),
        "process metrics: {}",
        scrape.text
    );
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_with_latency() {
    let s = Server::start(|_| {}).await;
    for _ in 0..2 {
        let r = s.client.get(s.url("/latest/nodes")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Two different ids: one series for the route template, not one per id. (A missing
    // node is `200 null`, as the Python server answers.)
    for id in ["0123456789abcdef01234567", "76543210fedcba9876543210"] {
        let path = format!("/v0/node/{id}");
        let r = s.client.get(s.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = s.client.get(s.url("/no/such/thing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = s.client.request(
        reqwest::Method::from_bytes(b"BREW").unwrap(),
        s.url("/latest/nodes"),
    );
    assert_eq!(r.send().await.unwrap().status(), 405);

    let scrape = s.scrape().await;
    assert_eq!(scrape.value("http_requests_total{instance=\"api\"}"), 6.0);
    let nodes = "method=\"GET\",route=\"/latest/nodes\"";
    assert_eq!(
        scrape.value(&format!(
            "maestro_http_requests_total{{{nodes},status=\"200\"}}"
        )),
        2.0
    );
    assert_eq!(
        scrape.value(&format!(
            "maestro_http_request_duration_seconds_count{{{nodes}}}"
        )),
        2.0
    );
    assert!(
        scrape.value(&format!(
            "maestro_http_request_duration_seconds_sum{{{nodes}}}"
        )) > 0.0
    );
    assert_eq!(
        scrape.value(&format!(
            "maestro_http_request_duration_seconds_bucket{{{nodes},le=\"+Inf\"}}"
        )),
        2.0
    );
    assert_eq!(
        scrape.value(
            "maestro_http_requests_total{method=\"GET\",route=\"/latest/node/{id}\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        scrape.value(
            "maestro_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        1.0
    );
    // An invented method is one `other` series, whatever its name.
    assert_eq!(
        scrape.value(
            "maestro_http_requests_total{method=\"other\",route=\"/latest/nodes\",status=\"405\"}"
        ),
        1.0
    );
    assert!(!scrape.text.contains("0123456789abcdef"), "no raw paths");
    scrape.assert_help_and_type_everywhere();
}

#[tokio::test]
async fn events_published_delivered_and_subscribers_are_counted() {
    let s = Server::start(|_| {}).await;
    let token = s.token().await;
    let plain = s.subscribe(&token, "node").await;
    let durable = s.subscribe(&token, "node?subscriber_id=metrics-test").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(s.url("/latest/ws").replace("http", "ws"))
        .await
        .unwrap();
    let subscribe = json!({"type": "subscribe", "channels": ["node"]});
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "subscribed", "{first}");

    let scrape = s.scrape().await;
    for (kind, n) in [("long_poll", 1.0), ("durable", 1.0), ("websocket", 1.0)] {
        assert_eq!(
            scrape.value(&format!("maestro_subscribers{{subscriber=\"{kind}\"}}")),
            n,
            "{kind}"
        );
    }

    let created = s.post(&token, "/latest/node", &checkout("metrics")).await;
    assert_eq!(created.0, 200, "{}", created.1);
    let published = s
        .post(&token, "/latest/publish/lab-x", &json!({"data": {"n": 1}}))
        .await;
    assert_eq!(published.0, 200, "{}", published.1);
    for sub in [plain, durable] {
        let msg = s.get_json(&token, &format!("/latest/listen/{sub}")).await;
        assert_eq!(msg["type"], "message", "{msg}");
        assert!(
            msg["data"]
                .as_str()
                .unwrap()
                .contains("\"op\": \"created\""),
            "{msg}"
        );
    }
    let event = next_json(&mut ws).await;
    assert_eq!(event["type"], "event", "{event}");

    let scrape = s.scrape().await;
    assert_eq!(
        scrape.value("maestro_events_published_total{channel=\"node\"}"),
        1.0
    );
    assert_eq!(
        scrape.value("maestro_events_published_total{channel=\"lab-x\"}"),
        1.0
    );
    for kind in ["long_poll", "durable", "websocket"] {
        assert_eq!(
            scrape.value(&format!(
                "maestro_events_delivered_total{{subscriber=\"{kind}\"}}"
            )),
            1.0,
            "{kind}"
        );
    }
    // Every store call is timed; nothing failed.
    let write = "backend=\"sqlite\",operation=\"write_nodes_with_event\"";
    assert_eq!(
        scrape.value(&format!(
            "maestro_store_call_duration_seconds_count{{{write}}}"
        )),
        2.0
    );
    for kind in ["unavailable", "timeout", "other"] {
        assert_eq!(
            scrape.value(&format!(
                "maestro_store_errors_total{{backend=\"sqlite\",kind=\"{kind}\"}}"
            )),
            0.0
        );
    }
    assert_eq!(scrape.value("maestro_event_log_head"), 2.0);

    // A closed session is no longer a subscriber.
    ws.close(None).await.unwrap();
    drop(ws);
    s.wait_for("maestro_subscribers{subscriber=\"websocket\"}", 0.0)
        .await;
}

#[tokio::test]
async fn a_life_cycle_transition_is_counted_after_a_sweep() {
    let s = Server::start(|cfg| {
        cfg.no_lifecycle = false;
        cfg.lifecycle_timeout_interval_secs = 1;
    })
    .await;
    let token = s.token().await;
    let mut node = checkout("late");
    node["timeout"] = json!("2020-01-01T00:00:00");
    let created = s.post(&token, "/latest/node", &node).await;
    assert_eq!(created.0, 200, "{}", created.1);
    s.wait_for(
        "maestro_lifecycle_transitions_total{rule=\"timeout\",to=\"done\"}",
        1.0,
    )
    .await;
    let scrape = s.scrape().await;
    assert_eq!(
        scrape.value("maestro_lifecycle_transitions_total{rule=\"holdoff\",to=\"closing\"}"),
        0.0
    );
    assert_eq!(
        scrape.value("maestro_lifecycle_failures_total{rule=\"timeout\"}"),
        0.0
    );
    // The transition's event is counted as published too.
    assert_eq!(
        scrape.value("maestro_events_published_total{channel=\"node\"}"),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_does_not_answer_is_counted_as_a_store_error() {
    // Long enough for the first admin's insert on a loaded machine, short for a test.
    let s = Server::start(|cfg| cfg.store_timeout_ms = 2_000).await;
    let token = s.token().await;
    // Another process holds the write lock: the write does not answer in time.
    let db = s.data_dir().join(maestro_server::store::sqlite::DB_FILE);
    let lock = rusqlite::Connection::open(db).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (status, body) = s.post(&token, "/latest/node", &checkout("stuck")).await;
    lock.execute_batch("COMMIT").unwrap();
    assert_eq!(status, 503, "{body}");
    let scrape = s.scrape().await;
    let failed: f64 = ["unavailable", "timeout"]
        .iter()
        .map(|kind| {
            scrape.value(&format!(
                "maestro_store_errors_total{{backend=\"sqlite\",kind=\"{kind}\"}}"
            ))
        })
        .sum();
    assert!(failed >= 1.0, "{}", scrape.text);
    assert_eq!(
        scrape.value(
            "maestro_http_requests_total{method=\"POST\",route=\"/latest/node\",status=\"503\"}"
        ),
        1.0
    );
}

/// The next JSON text frame of a WebSocket.
async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = frame {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}
