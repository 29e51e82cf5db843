//! Store outages: each store call is bounded in time, an unreachable or stuck database is a
//! quick 503 with `Retry-After`, the health endpoint says so, and service resumes after.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use maestro_server::app;
use maestro_server::store::Store;
use maestro_server::store::mongo::{MongoStore, MongoTimeouts};
use maestro_server::store::sqlite::SqliteStore;
use maestro_server::store::timed::TimedStore;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::support::{TestApp, checkout};

/// An app whose store calls are bounded by `ms` milliseconds.
fn timed_app(store: Arc<dyn Store>, ms: u64) -> TestApp {
    TestApp::new(Arc::new(TimedStore::new(store, Duration::from_millis(ms))))
}

/// Status, `Retry-After` and body of a request, and how long it took.
async fn timed_send(
    app_: &TestApp,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Option<String>, Value, Duration) {
    let started = Instant::now();
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    // Bounded, so that a hang fails the test instead of stalling the run.
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        app(app_.state.clone()).oneshot(req),
    )
    .await
    .expect("an answer within 10 s")
    .unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, retry, body, started.elapsed())
}

/// Asserts a quick 503 with a `detail` and `Retry-After`.
fn assert_quick_503(r: &(StatusCode, Option<String>, Value, Duration), what: &str) {
    assert_eq!(r.0, StatusCode::SERVICE_UNAVAILABLE, "{what}: {}", r.2);
    assert!(r.1.is_some(), "{what}: no Retry-After");
    assert!(r.2["detail"].is_string(), "{what}: {}", r.2);
    assert!(r.3 < Duration::from_secs(3), "{what} took {:?}", r.3);
}

pub async fn sqlite_locked_database_is_a_quick_503() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store = SqliteStore::open(&data).unwrap();
    let app = timed_app(Arc::new(store), 500);
    let bob = app.add_user("bob", false, &[]).await;
    // Another process holds the write lock (SQLite then waits up to its busy timeout).
    let lock = rusqlite::Connection::open(data.join("maestro.sqlite3")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let body = Some(checkout("c").to_string());
    let r = timed_send(&app, "POST", "/latest/node", Some(&bob.token), body.clone()).await;
    assert_quick_503(&r, "a write while the database is locked");
    let r = timed_send(&app, "GET", "/latest/maestro/health", None, None).await;
    assert_eq!(r.0, StatusCode::OK, "reads still work: {}", r.2);
    assert_eq!(r.2["store"]["backend"], "sqlite");
    lock.execute_batch("ROLLBACK").unwrap();
    let r = timed_send(&app, "POST", "/latest/node", Some(&bob.token), body).await;
    assert_eq!(r.0, StatusCode::OK, "after the lock: {}", r.2);
}

/// A TCP relay to `target` that can be paused: while paused it reads and forwards
/// nothing, as a black-holed or frozen database would.
async fn pausable_proxy(target: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paused = Arc::new(AtomicBool::new(false));
    let p = paused.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = TcpStream::connect(target).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (ur, uw) = upstream.into_split();
            tokio::spawn(relay(cr, uw, p.clone()));
            tokio::spawn(relay(ur, cw, p.clone()));
        }
    });
    (addr, paused)
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while paused.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while paused.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

pub async fn mongodb_outage_is_a_quick_503_and_recovers() {
    let uri = std::env::var("MAESTRO_TEST_MONGODB_URI").unwrap_or_default();
    if uri.is_empty() {
        eprintln!("skipping: MAESTRO_TEST_MONGODB_URI is not set");
        return;
    }
    let hostport = uri
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .unwrap();
    let target: SocketAddr = tokio::net::lookup_host(hostport)
        .await
        .unwrap()
        .next()
        .unwrap();
    let (proxy, paused) = pausable_proxy(target).await;
    let proxied = format!("mongodb://{proxy}/?directConnection=true");
    let database = format!("hard_outage_{:016x}", rand::random::<u64>());
    let timeouts = MongoTimeouts {
        connect: Duration::from_millis(800),
        max_time: Duration::from_secs(4),
    };
    let store = Arc::new(
        MongoStore::connect_with(&proxied, &database, timeouts)
            .await
            .unwrap(),
    );
    // Another server on the same database, which keeps its access meanwhile.
    let other = MongoStore::connect(&uri, &database).await.unwrap();
    let app = timed_app(store.clone(), 800);
    let bob = app.add_user("bob", false, &[]).await;
    let body = Some(checkout("c").to_string());
    // Before the outage. The test server may be busy a moment with another test's slow
    // query (SecantusDB answers one client at a time), which makes a 503 here too: what is
    // checked is that the store works, then that its outage is a quick 503.
    let deadline = Instant::now() + Duration::from_secs(15);
    for (method, uri, token, body) in [
        (
            "POST",
            "/latest/node",
            Some(bob.token.as_str()),
            body.clone(),
        ),
        ("GET", "/latest/readyz", None, None),
        ("GET", "/latest/health", None, None),
        ("GET", "/latest/healthz", None, None),
    ] {
        loop {
            let r = timed_send(&app, method, uri, token, body.clone()).await;
            if r.0 == StatusCode::OK {
                break;
            }
            assert!(
                r.0 == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline,
                "{method} {uri} before the outage: {} {}",
                r.0,
                r.2
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    paused.store(true, Ordering::Release);
    // Alive, but not ready: the load balancer sends requests elsewhere.
    let r = timed_send(&app, "GET", "/latest/healthz", None, None).await;
    assert_eq!(r.0, StatusCode::OK, "liveness does not depend on the store");
    for (method, uri, body) in [
        ("GET", "/latest/nodes", None),
        ("GET", "/latest/count?name__re=c", None),
        ("POST", "/latest/node", body.clone()),
        ("GET", "/latest/maestro/health", None),
        ("GET", "/latest/health", None),
        ("GET", "/latest/readyz", None),
        // Pub/sub store errors too (a durable subscriber reads its stored position).
        (
            "POST",
            "/latest/subscribe/node?subscriber_id=hard-outage",
            None,
        ),
    ] {
        let r = timed_send(&app, method, uri, Some(&bob.token), body).await;
        assert_quick_503(&r, &format!("{method} {uri} during the outage"));
    }
    paused.store(false, Ordering::Release);

    // Service resumes by itself (the driver reconnects).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = timed_send(&app, "GET", "/latest/maestro/health", None, None).await;
        if r.0 == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", r.2);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = timed_send(&app, "POST", "/latest/node", Some(&bob.token), body).await;
    assert_eq!(r.0, StatusCode::OK, "after the outage: {}", r.2);
    // The event feed recovered too: what the other server writes reaches this one's log.
    let event = maestro_server::events::NewEvent {
        channel: "node".into(),
        owner: None,
        data: serde_json::json!({"after": "outage"}),
        treeid: None,
        attributes: serde_json::Map::new(),
    };
    let theirs = other
        .write_nodes_with_event(Vec::new(), Some(event))
        .await
        .unwrap()
        .unwrap();
    let mut head = store.event_log().watch();
    let reached = tokio::time::timeout(
        Duration::from_secs(15),
        head.wait_for(|h| *h >= theirs.seq()),
    );
    assert!(reached.await.is_ok(), "the other server's event never came");
    store.drop_database().await.unwrap();
}

pub async fn start_up_with_mongodb_unreachable_fails_within_seconds() {
    // Nothing listens on port 1 of the loopback.
    let started = Instant::now();
    let timeouts = MongoTimeouts {
        connect: Duration::from_secs(1),
        max_time: Duration::from_secs(1),
    };
    let err = MongoStore::connect_with(
        "mongodb://127.0.0.1:1/?directConnection=true",
        "x",
        timeouts,
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().contains("did not answer within 1 s"),
        "{err}"
    );
}
