//! A durable subscriber moved from server to server while writers run on all of them:
//! it misses nothing. Each move delivers again only the event the last listen on the old
//! server delivered, which was never acknowledged (as after a crash); its old subscription id
//! means nothing to the new server, which says so.
use std::time::Duration;

use tokio::time::Instant;

use super::cluster::{Cluster, post_node, stored_node_events, test_node};
use super::subscribers::{self, PATIENCE};

const SUBSCRIBER: &str = "e2e-scale:mover";
/// Nodes each of the three writers posts.
const NODES: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_durable_subscriber_moved_between_servers_misses_nothing() {
    let Some(cluster) = Cluster::start("scale_durable", 3, &["--keep-alive-secs", "2"]).await
    else {
        return;
    };
    let total = 3 * NODES;
    let mut sub = subscribers::subscribe(&cluster.client(0), Some(SUBSCRIBER)).await;
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let c = cluster.client(w);
            tokio::spawn(async move {
                for n in 0..NODES {
                    let node = test_node(&format!("w{w}-n{n}"), serde_json::json!({}));
                    assert!(post_node(&c, &node).await.is_some(), "POST /node failed");
                    // Paced, so that the moves happen mid-stream.
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    let mut last_before_move = Vec::new();
    let mut server = 0;
    while seen.len() < total + last_before_move.len() && Instant::now() < deadline {
        let moving = server < 2 && seen.len() >= (server + 1) * total / 3;
        if moving {
            last_before_move.push(seen.last().cloned().unwrap());
            server += 1;
            let here = cluster.client(server);
            // The old id belongs to the old server.
            let (s, body) = subscribers::listen(&here, sub).await.unwrap_err();
            assert_eq!(s, 404, "{body}");
            assert!(
                body["detail"].as_str().unwrap().contains("on this server"),
                "{body}"
            );
            sub = subscribers::subscribe(&here, Some(SUBSCRIBER)).await;
            continue;
        }
        match subscribers::listen(&cluster.client(server), sub).await {
            Ok(Some(e)) => seen.push(e),
            Ok(None) => {}
            Err((s, body)) => panic!("listen on server {server}: {s} {body}"),
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(server, 2, "moved twice");
    let stored = stored_node_events(&cluster.client(1)).await;
    assert_eq!(stored.len(), total);
    let mut again = Vec::new();
    let mut once = Vec::new();
    for e in &seen {
        if once
            .last()
            .is_some_and(|last: &(u64, String)| last.0 >= e.0)
        {
            again.push(e.clone());
        } else {
            once.push(e.clone());
        }
    }
    assert_eq!(once, stored, "every event, in order\n{}", cluster.logs());
    let again: Vec<u64> = again.iter().map(|e| e.0).collect();
    let moves: Vec<u64> = last_before_move.iter().map(|e| e.0).collect();
    assert_eq!(
        again, moves,
        "only the unacknowledged event of each move comes twice"
    );
}
