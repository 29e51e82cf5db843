//! A durable subscriber over real HTTP, used as the Python client does (subscribe, then
//! listen in a loop, decoding `data` and skipping BEEPs), across a SIGKILL of the server
//! while events are being published: every stored event arrives once, in order, except the
//! one delivered but not yet acknowledged, which may come twice.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use maestro_e2e::{Backend, Client, Server};
use reqwest::Method;
use serde_json::{Value, json};

const CHANNEL: &str = "e2e-durable";
const SUBSCRIBER: &str = "e2e-service:e2e-durable";

/// `POST /subscribe/{channel}?subscriber_id=...`; returns the subscription id.
async fn subscribe(c: &Client) -> u64 {
    let path = format!("/latest/subscribe/{CHANNEL}?subscriber_id={SUBSCRIBER}");
    let (s, body) = c.call(Method::POST, &path, None).await;
    assert_eq!(s, 200, "subscribe: {body}");
    body["id"].as_u64().unwrap()
}

/// One `GET /listen/{id}` decoded as the Python client does: `json.loads(resp["data"])`;
/// `None` for a BEEP. Panics on anything but 200.
async fn listen(c: &Client, sub: u64) -> Option<Value> {
    let (s, body) = c
        .call(Method::GET, &format!("/latest/listen/{sub}"), None)
        .await;
    assert_eq!(s, 200, "listen: {body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["type", "pattern", "channel", "data"]);
    let event: Value = serde_json::from_str(body["data"].as_str().unwrap()).unwrap();
    (event["data"] != "BEEP").then_some(event)
}

fn seq(event: &Value) -> u64 {
    event["_sequence_id"].as_u64().unwrap()
}

/// Publishes `{"data": {"n": n}}`; true when the server answered 200.
async fn publish(http: &reqwest::Client, base: &str, token: &str, n: usize) -> bool {
    let sent = http
        .post(format!("{base}/latest/publish/{CHANNEL}"))
        .bearer_auth(token)
        .json(&json!({"data": {"n": n}}))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    sent.is_ok_and(|r| r.status().is_success())
}

/// Sequence ids of every stored event of the channel, in order.
async fn stored(c: &Client) -> Vec<u64> {
    c.get(&format!("/latest/events?channel={CHANNEL}"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence_id"].as_u64().unwrap())
        .collect()
}

/// Waits until `count` reaches `at_least`; false after 150 s. On MongoDB, a transaction left
/// open by the killed server holds the event counter until the database aborts it (after
/// its 60 s transaction lifetime), so writes can stall that long after the restart.
async fn wait_for(count: &AtomicUsize, at_least: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(150);
    while count.load(Ordering::SeqCst) < at_least {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

async fn durable_subscriber_survives_a_crash(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), backend);
    let admin = server.admin().await;
    let token = admin.token.clone().unwrap();
    let sub = subscribe(&admin).await;

    let http = reqwest::Client::new();
    for n in 0..20 {
        assert!(publish(&http, &server.url, &token, n).await);
    }
    let mut before = Vec::new();
    for _ in 0..20 {
        before.push(seq(&listen(&admin, sub)
            .await
            .expect("an event, not a BEEP")));
    }
    assert!(before.windows(2).all(|w| w[0] < w[1]), "{before:?}");

    // The server is killed while a client keeps publishing (its failures ignored).
    let published = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn({
        let (published, stop) = (Arc::clone(&published), Arc::clone(&stop));
        let (http, base, token) = (http.clone(), server.url.clone(), token.clone());
        async move {
            for n in 20..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if publish(&http, &base, &token, n).await {
                    published.fetch_add(1, Ordering::SeqCst);
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    });
    assert!(
        wait_for(&published, 100).await,
        "stalled:\n{}",
        server.log_text()
    );
    let server = tokio::task::spawn_blocking(move || server.crash_and_restart())
        .await
        .unwrap();
    let at_restart = published.load(Ordering::SeqCst);
    let restarted = wait_for(&published, at_restart + 100).await;
    assert!(
        restarted,
        "stalled after the restart:\n{}",
        server.log_text()
    );
    stop.store(true, Ordering::SeqCst);
    publisher.await.unwrap();
    let answered = published.load(Ordering::SeqCst);

    // As the pipeline does: the old subscription is gone, so subscribe again.
    let (s, _) = admin
        .call(Method::GET, &format!("/latest/listen/{sub}"), None)
        .await;
    assert_eq!(s, 404);
    let sub = subscribe(&admin).await;
    let history = stored(&server.client()).await;
    let last = *history.last().unwrap();
    let mut after = Vec::new();
    while after.last().is_none_or(|s| *s < last) {
        assert!(after.len() <= history.len(), "more events than stored");
        let event = listen(&admin, sub)
            .await
            .expect("a stored event is missing");
        after.push(seq(&event));
    }
    assert!(after.windows(2).all(|w| w[0] < w[1]), "in order, once each");

    // Everything stored after the last acknowledged event, starting with the one that was
    // delivered but not acknowledged.
    let acked = before[18];
    let expected: Vec<u64> = history.iter().copied().filter(|s| *s > acked).collect();
    assert_eq!(after, expected);
    assert_eq!(after[0], before[19], "the unacknowledged event comes again");
    let mut all = before[..19].to_vec();
    all.extend(&after);
    assert_eq!(all, history, "every stored event, once");
    assert!(
        history.len() >= 20 + answered,
        "every answered publish is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_subscriber_survives_a_crash_on_sqlite() {
    durable_subscriber_survives_a_crash(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_subscriber_survives_a_crash_on_mongodb() {
    if let Some(backend) = Backend::mongo("pubsub_crash") {
        durable_subscriber_survives_a_crash(backend).await;
    }
}
