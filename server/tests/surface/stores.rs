//! The surface cases that build their own stores: values kept across a reopen (and an old
//! SQLite schema upgraded in place), the MongoDB documents as stored, a locked database.
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bson::{Document, doc};
use maestro_server::store::mongo::MongoStore;
use maestro_server::store::sqlite::SqliteStore;
use maestro_server::store::timed::TimedStore;
use maestro_server::store::{KvStore, Store};
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
    // A database of schema version 1 (no key/value table) gains it when opened.
    let file = data.join("maestro.sqlite3");
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch("DROP TABLE kv; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let store = SqliteStore::open(&data).unwrap();
    assert_eq!(store.kv_get("ns:k").await.unwrap(), None);
    store.kv_set("ns:k", "again").await.unwrap();
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

pub async fn sqlite_locked_database_is_a_quick_503() {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data).unwrap());
    let app = TestApp::new(Arc::new(TimedStore::new(store, Duration::from_millis(500))));
    let alice = app.add_user("alice", false, &[]).await;
    // Another process holds the write lock (SQLite then waits up to its busy timeout).
    let lock = rusqlite::Connection::open(data.join("maestro.sqlite3")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for (method, uri, body) in [
        ("POST", "/latest/kv/ns/k", Some(json!("v").to_string())),
        ("DELETE", "/latest/kv/ns/k", None),
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
