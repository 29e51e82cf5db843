//! Writers on three servers, subscribers of every kind on each: every subscriber gets every
//! event once, in the one order of the stored history.
use tokio::time::Instant;

use super::cluster::{Cluster, post_node, stored_node_events, test_node};
use super::subscribers::{self, PATIENCE, Seen, Until};

/// Writers per server, and nodes each writes.
const WRITERS: usize = 2;
const NODES: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_give_every_subscriber_every_event_once_in_one_order() {
    let Some(cluster) = Cluster::start("scale_order", 3, &["--keep-alive-secs", "5"]).await else {
        return;
    };
    let total = 3 * WRITERS * NODES;
    let deadline = Instant::now() + PATIENCE;
    let mut subs = Vec::new();
    for i in 0..3 {
        let c = cluster.client(i);
        subs.push((
            format!("ws@{i}"),
            subscribers::ws(&cluster.servers[i].url, Until::Count(total), deadline).await,
        ));
        let plain = subscribers::subscribe(&c, None).await;
        subs.push((
            format!("listen@{i}"),
            subscribers::longpoll(cluster.client(i), plain, Until::Count(total), deadline),
        ));
        let durable = subscribers::subscribe(&c, Some(&format!("e2e-scale:{i}"))).await;
        subs.push((
            format!("durable@{i}"),
            subscribers::longpoll(cluster.client(i), durable, Until::Count(total), deadline),
        ));
    }
    let writers = (0..3 * WRITERS).map(|w| {
        let c = cluster.client(w % 3);
        tokio::spawn(async move {
            for n in 0..NODES {
                let node = test_node(&format!("w{w}-n{n}"), serde_json::json!({}));
                assert!(post_node(&c, &node).await.is_some(), "POST /node failed");
            }
        })
    });
    for w in writers {
        w.await.unwrap();
    }
    let stored = stored_node_events(&cluster.client(0)).await;
    assert_eq!(stored.len(), total, "one event per node");
    assert!(
        stored.windows(2).all(|w| w[0].0 < w[1].0),
        "the history is in one strictly increasing order"
    );
    for (name, sub) in subs {
        let seen: Vec<Seen> = sub.await.unwrap();
        assert_eq!(
            seen.len(),
            total,
            "{name} got {} of {total} events\n{}",
            seen.len(),
            cluster.logs()
        );
        assert_eq!(
            seen, stored,
            "{name}: every event once, in the stored order"
        );
    }
}
