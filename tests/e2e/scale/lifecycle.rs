//! The life-cycle rules of three servers on one database, each sweeping every second:
//! every node moves once (one `updated` event each), whichever server moves it.
use std::collections::HashMap;
use std::time::Duration;

use maestro_common::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use super::cluster::{Cluster, post_node, stored_node_events, test_node};

const EVERY_SECOND: [&str; 6] = [
    "--lifecycle-timeout-interval-secs",
    "1",
    "--lifecycle-holdoff-interval-secs",
    "1",
    "--lifecycle-closing-interval-secs",
    "1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_move_each_node_once() {
    let Some(cluster) = Cluster::start("scale_lifecycle", 3, &EVERY_SECOND).await else {
        return;
    };
    let soon = Timestamp::now().plus_seconds(2).to_string();
    let mut ids = Vec::new();
    for n in 0..40 {
        // Half time out while running; half pass their holdoff with nothing pending.
        let extra = if n % 2 == 0 {
            json!({"state": "running", "timeout": soon})
        } else {
            json!({"state": "available", "holdoff": soon})
        };
        let c = cluster.client(n % 3);
        let id = post_node(&c, &test_node(&format!("lc{n}"), extra)).await;
        ids.push(id.expect("POST /node"));
    }
    let c = cluster.client(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = c.get("/latest/count?kind=test&state=done").await;
        if done == json!(40) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of 40 done\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Rounds of every server pass meanwhile: a second move would show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut updates: HashMap<String, usize> = HashMap::new();
    for (_, key) in stored_node_events(&c).await {
        if let Some(id) = key.strip_prefix("updated:") {
            *updates.entry(id.to_owned()).or_default() += 1;
        }
    }
    for id in &ids {
        assert_eq!(updates.get(id), Some(&1), "node {id}: {updates:?}");
    }
    assert_eq!(updates.len(), 40);
    let node = c.get(&format!("/latest/node/{}", ids[0])).await;
    assert_eq!(
        node["result"], "incomplete",
        "a timed-out node without a result"
    );
}
