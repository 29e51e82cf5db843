//! `/push` and `/pop` across three servers: each item goes to exactly one consumer, however
//! the pushes and pops are spread.
use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use super::cluster::Cluster;

const ITEMS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_pushed_item_is_popped_once_whichever_server_pops() {
    let Some(cluster) = Cluster::start("scale_lists", 3, &["--pop-timeout-secs", "3"]).await else {
        return;
    };
    // Consumers wait first, on every server; items then arrive through every server.
    let consumers: Vec<_> = (0..6)
        .map(|i| {
            let c = cluster.client(i % 3);
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let (s, item) = c.call(Method::GET, "/latest/pop/e2e-jobs", None).await;
                    match s {
                        200 => got.push(item["data"]["n"].as_u64().unwrap()),
                        // Nothing within the pop timeout: the list is drained.
                        204 => return got,
                        other => panic!("pop: {other} {item}"),
                    }
                }
            })
        })
        .collect();
    for n in 0..ITEMS {
        let (s, body) = cluster
            .client(n % 3)
            .call(
                Method::POST,
                "/latest/push/e2e-jobs",
                Some(&json!({"data": {"n": n}})),
            )
            .await;
        assert_eq!(s, 200, "push: {body}");
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    assert_eq!(all.len(), ITEMS, "{all:?}");
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct, (0..ITEMS as u64).collect(), "each item once");
}
