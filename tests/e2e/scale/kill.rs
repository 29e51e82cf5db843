//! One of three servers killed with SIGKILL while writers load all three: no acknowledged
//! write is lost, and the subscribers of the other two get every stored event once, in
//! order, whatever the dead server left half-done (a number taken and never claimed is
//! fenced after a second; one claimed by a transaction it never committed waits until
//! MongoDB aborts that transaction).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::cluster::{Cluster, post_node, stored_node_events, test_node};
use super::subscribers::{self, PATIENCE, Until};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_under_load_loses_no_acknowledged_write_and_no_event() {
    let Some(mut cluster) = Cluster::start("scale_kill", 3, &["--keep-alive-secs", "2"]).await
    else {
        return;
    };
    let (goal_tx, goal) = watch::channel(0_u64);
    let deadline = Instant::now() + PATIENCE;
    let mut subs = Vec::new();
    for i in 0..2 {
        let url = cluster.servers[i].url.clone();
        subs.push(subscribers::ws(&url, Until::Seq(goal.clone()), deadline).await);
        let c = cluster.client(i);
        let sub = subscribers::subscribe(&c, Some(&format!("e2e-scale:kill{i}"))).await;
        subs.push(subscribers::longpoll(
            c,
            sub,
            Until::Seq(goal.clone()),
            deadline,
        ));
    }
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let c = cluster.client(w % 3);
            let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let node = test_node(&format!("w{w}-n{n}"), serde_json::json!({}));
                    n += 1;
                    match post_node(&c, &node).await {
                        Some(id) => acked.lock().unwrap().push(id),
                        // The killed server's writers give up.
                        None if w % 3 == 2 => return,
                        None => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let victim = cluster.servers.remove(2);
    let before = acked.lock().unwrap().len();
    tokio::task::spawn_blocking(move || victim.kill())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > before, "the survivors kept writing");

    let c = cluster.client(0);
    for id in &acked {
        let (s, _) = c
            .call(reqwest::Method::GET, &format!("/latest/node/{id}"), None)
            .await;
        assert_eq!(s, 200, "acknowledged node {id} is stored");
    }
    let stored = stored_node_events(&c).await;
    for id in &acked {
        let created = format!("created:{id}");
        assert!(
            stored.iter().any(|(_, k)| *k == created),
            "the event of acknowledged node {id} is stored"
        );
    }
    // What the survivors did about the dead server's numbers, for the record.
    for line in cluster.logs().lines() {
        if line.contains("hole") || line.contains("aborted the open transactions") {
            eprintln!("{line}");
        }
    }
    let last = stored.last().unwrap().0;
    goal_tx.send_replace(last);
    for sub in subs {
        let seen = sub.await.unwrap();
        assert_eq!(
            seen,
            stored,
            "every stored event once, in order ({} of {})\n{}",
            seen.len(),
            stored.len(),
            cluster.logs()
        );
    }
}
