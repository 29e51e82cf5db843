//! The surface cases that build their own stores: values kept across a reopen (and an old
//! SQLite schema upgraded in place), the MongoDB documents and indexes as stored (telemetry
//! as the Python server stores and indexes it), a locked database.
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bson::{Document, doc};
use maestro_server::store::mongo::MongoStore;
use maestro_server::store::sqlite::SqliteStore;
use maestro_server::store::timed::TimedStore;
use maestro_server::store::{KvStore, Store, TelemetryStore};
use serde_json::json;

use crate::support::TestApp;

pub async fn sqlite_values_survive_a_reopen_and_an_old_schema_is_upgraded() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let app = TestApp::new(Arc::new(SqliteStore::open(&data).unwrap()));
    let alice = app.add_user("alice", false, &[]).await;
    let r = app
        .json(
            "POST",
            "/latest/kv/ns/k",
            Some(&alice.token),
            &json!("kept"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    drop(app);
    let store = SqliteStore::open(&data).unwrap();
    assert_eq!(store.kv_get("ns:k").await.unwrap().as_deref(), Some("kept"));
    drop(store);
    // A database of schema version 1 (no key/value nor telemetry table) gains them.
    let file = data.join("maestro.sqlite3");
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch("DROP TABLE kv; DROP TABLE telemetry; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let store = SqliteStore::open(&data).unwrap();
    assert_eq!(store.kv_get("ns:k").await.unwrap(), None);
    store.kv_set("ns:k", "again").await.unwrap();
    let filter = maestro_common::Filter::default();
    let (events, total) = store.find_telemetry(&filter, 0, 10).await.unwrap();
    assert_eq!((events.len(), total), (0, 0));
    assert_eq!(
        store.kv_get("ns:k").await.unwrap().as_deref(),
        Some("again")
    );
    drop(store);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert!(version >= 2, "user_version {version}");
}

/// The MongoDB-wire server's URI, or `None` (after saying why) outside CI.
fn mongodb_uri(case: &str) -> Option<String> {
    match std::env::var("MAESTRO_TEST_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "MAESTRO_TEST_MONGODB_URI is required in CI"
            );
            eprintln!("skipping {case}: MAESTRO_TEST_MONGODB_URI is not set");
            None
        }
    }
}

/// A fresh database name for `case`.
fn database(case: &str) -> String {
    format!("surface_{case}_{:016x}", rand::random::<u64>())
}

pub async fn mongodb_values_survive_a_reconnect() {
    let Some(uri) = mongodb_uri("mongodb_values_survive_a_reconnect") else {
        return;
    };
    let name = database("kv");
    let store = Arc::new(MongoStore::connect(&uri, &name).await.unwrap());
    let app = TestApp::new(store.clone());
    let alice = app.add_user("alice", false, &[]).await;
    let r = app
        .json(
            "POST",
            "/latest/kv/ns/k",
            Some(&alice.token),
            &json!("kept"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    drop(app);
    store.close().await;
    let again = MongoStore::connect(&uri, &name).await.unwrap();
    assert_eq!(again.kv_get("ns:k").await.unwrap().as_deref(), Some("kept"));
    // The document: the whole key as `_id`, the value beside it.
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let docs: Vec<Document> = futures::TryStreamExt::try_collect(
        client
            .database(&name)
            .collection::<Document>("kv")
            .find(doc! {})
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    again.drop_database().await.unwrap();
    assert_eq!(docs, vec![doc! {"_id": "ns:k", "value": "kept"}]);
}

/// Every document of `collection` in database `name`, in `_id` order.
async fn documents(uri: &str, name: &str, collection: &str) -> Vec<Document> {
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let cursor = client
        .database(name)
        .collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap();
    futures::TryStreamExt::try_collect(cursor).await.unwrap()
}

pub async fn mongodb_telemetry_is_shaped_and_indexed_as_the_python_servers() {
    let case = "mongodb_telemetry_is_shaped_and_indexed_as_the_python_servers";
    let Some(uri) = mongodb_uri(case) else {
        return;
    };
    let name = database("telemetry");
    let store = Arc::new(MongoStore::connect(&uri, &name).await.unwrap());
    let app = TestApp::new(store.clone());
    // The indexes, named as the Python server's (which then finds them equivalent), the
    // TTL one keeping events 14 days. Connecting again leaves them as they are.
    drop(MongoStore::connect(&uri, &name).await.unwrap());
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let coll = client.database(&name).collection::<Document>("telemetry");
    let indexes: Vec<Document> = futures::TryStreamExt::try_collect(
        client
            .database(&name)
            .run_cursor_command(doc! {"listIndexes": "telemetry"})
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let mut names: Vec<&str> = indexes.iter().map(|i| i.get_str("name").unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "_id_",
            "job_name_1_ts_-1",
            "kind_1_ts_-1",
            "result_1_is_infra_error_1_ts_-1",
            "runtime_1_device_type_1_ts_-1",
            "ts_1",
        ]
    );
    let ttl = indexes
        .iter()
        .find(|i| i.get_str("name") == Ok("ts_1"))
        .unwrap();
    let secs = ttl.get("expireAfterSeconds").and_then(bson::Bson::as_i64);
    let secs = secs.or_else(|| {
        ttl.get("expireAfterSeconds")
            .and_then(bson::Bson::as_i32)
            .map(i64::from)
    });
    assert_eq!(secs, Some(1_209_600));
    // What we store: every field of the model, nulls included, `ts` a date, no `id`.
    let alice = app.add_user("alice", false, &[]).await;
    let r = app
        .json(
            "POST",
            "/latest/telemetry",
            Some(&alice.token),
            &json!([{"ts": "2026-01-01T00:00:00", "kind": "job_result", "runtime": "lava",
                     "retry": 1, "extra": {"a": 1}}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let stored = documents(&uri, &name, "telemetry").await;
    let d = &stored[0];
    let keys: Vec<&str> = d.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "_id",
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
    assert!(d.get_object_id("_id").is_ok());
    assert!(d.get_datetime("ts").is_ok());
    assert_eq!(d.get("device_type"), Some(&bson::Bson::Null));
    assert_eq!(d.get("retry"), Some(&bson::Bson::Int32(1)));
    assert_eq!(d.get_document("extra").unwrap(), &doc! {"a": 1});
    // What the Python server stores (with its redundant `id: null`) reads back the same.
    coll.insert_one(doc! {
        "id": bson::Bson::Null,
        "ts": bson::DateTime::from_millis(1_767_225_600_000),
        "kind": "test_result", "runtime": "lava-collabora", "device_type": "kevin",
        "device_id": bson::Bson::Null, "job_name": "baseline", "test_name": "login",
        "job_id": "42", "node_id": bson::Bson::Null, "tree": "mainline", "branch": "master",
        "arch": "arm64", "result": "fail", "is_infra_error": false,
        "error_type": bson::Bson::Null, "error_msg": bson::Bson::Null, "retry": 0_i64,
        "extra": {"lab": "x"},
    })
    .await
    .unwrap();
    let r = app
        .send(
            "GET",
            "/latest/telemetry?runtime=lava-collabora",
            None,
            None,
        )
        .await;
    let item = &r.body["items"][0];
    let id = documents(&uri, &name, "telemetry").await[1]
        .get_object_id("_id")
        .unwrap()
        .to_hex();
    assert_eq!(
        item,
        &json!({"id": id, "ts": "2026-01-01T00:00:00", "kind": "test_result",
            "runtime": "lava-collabora", "device_type": "kevin", "device_id": null,
            "job_name": "baseline", "test_name": "login", "job_id": "42", "node_id": null,
            "tree": "mainline", "branch": "master", "arch": "arm64", "result": "fail",
            "is_infra_error": false, "error_type": null, "error_msg": null, "retry": 0,
            "extra": {"lab": "x"}})
    );
    let r = app
        .send(
            "GET",
            "/latest/telemetry/stats?group_by=runtime",
            None,
            None,
        )
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(2), "{}", r.text);
    store.drop_database().await.unwrap();
}

pub async fn sqlite_locked_database_is_a_quick_503() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data).unwrap());
    let app = TestApp::new(Arc::new(TimedStore::new(store, Duration::from_millis(500))));
    let alice = app.add_user("alice", false, &[]).await;
    // Another process holds the write lock (SQLite then waits up to its busy timeout).
    let lock = rusqlite::Connection::open(data.join("maestro.sqlite3")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let event = json!([{"kind": "job_result", "runtime": "lava"}]).to_string();
    for (method, uri, body) in [
        ("POST", "/latest/kv/ns/k", Some(json!("v").to_string())),
        ("DELETE", "/latest/kv/ns/k", None),
        ("POST", "/latest/telemetry", Some(event)),
    ] {
        let started = Instant::now();
        let r = app.send(method, uri, Some(&alice.token), body).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{uri}: {}",
            r.text
        );
        assert!(r.body["detail"].is_string(), "{}", r.text);
        assert!(started.elapsed() < Duration::from_secs(3), "{method} {uri}");
    }
    lock.execute_batch("ROLLBACK").unwrap();
    let r = app
        .json("POST", "/latest/kv/ns/k", Some(&alice.token), &json!("v"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "after the lock: {}", r.text);
}
