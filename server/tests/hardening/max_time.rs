//! `maxTimeMS` on MongoDB queries: a query over its time is stopped by the server and
//! answered 503.
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use maestro_common::Node;
use maestro_server::nodes::ops::new_id;
use maestro_server::store::mongo::{MongoStore, MongoTimeouts};
use maestro_server::store::{NodeWrite, Store};

use crate::support::TestApp;

pub async fn a_query_over_max_time_is_stopped_and_503() {
    let uri = std::env::var("MAESTRO_TEST_MONGODB_URI").unwrap_or_default();
    if uri.is_empty() {
        eprintln!("skipping: MAESTRO_TEST_MONGODB_URI is not set");
        return;
    }
    let database = format!("hard_maxtime_{:016x}", rand::random::<u64>());
    let timeouts = MongoTimeouts {
        connect: Duration::from_secs(3),
        max_time: Duration::from_millis(1),
    };
    let store = Arc::new(
        MongoStore::connect_with(&uri, &database, timeouts)
            .await
            .unwrap(),
    );
    let writes = (0..1500)
        .map(|i| {
            let mut n = Node::new(
                "checkout",
                &format!("{}b{i}", "a".repeat(24)),
                vec!["c".into()],
            );
            n.id = Some(new_id());
            NodeWrite::Insert(n)
        })
        .collect();
    store.write_nodes(writes).await.unwrap();
    let app = TestApp::new(store.clone());
    let started = Instant::now();
    let r = app
        // Not a catastrophic pattern: that would keep the (single-threaded) test server busy
        // for seconds and slow every other MongoDB test running alongside. 1,500 documents
        // take well over 1 ms to scan anyway.
        .send("GET", "/latest/count?name__re=b%5B0-9%5D%2B%24", None, None)
        .await;
    let took = started.elapsed();
    store.drop_database().await.unwrap();
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{} after {took:?}",
        r.text
    );
    assert!(r.body["detail"].is_string(), "{}", r.text);
}
