//! `maestro-bench purge` (W7 of workloads.md, retention under load): old nodes seeded into
//! a running server's SQLite store, then purged by `maestro-server purge-nodes` while
//! W2-style POSTs and W3-style reads run; the purge rate, and the latency of the reads (and
//! POSTs) without and with the purge running.
//!
//! Seeding: `created` is set by the server on every API write, so old nodes cannot come
//! through the API. They are written through the server's own store code
//! (`SqliteStore::write_nodes`, every index and side column as a server write), from this
//! process, next to the running server as the admin commands are: `created` spread evenly
//! over the last 360 days, ids whose time part is that `created` (as ObjectIds made then),
//! 1,000 tests under each checkout as hierarchy PUTs make them.
//!
//! Two purges of one seed: the older half (past 270 days) with the Python server's batches
//! (10,000 nodes, 1 s pause: the default), then the 180-270-day quarter without a pause, the
//! rate the store itself gives.
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use maestro_common::Timestamp;
use maestro_common::node::ObjectIdHex;
use maestro_server::store::sqlite::SqliteStore;
use maestro_server::store::{NodeWrite, Store};

use crate::stats::Run;

/// What to run it on.
pub struct Purge {
    /// The server's URL.
    pub url: String,
    /// An admin token.
    pub token: String,
    /// The server's `--data-dir` (SQLite).
    pub data_dir: PathBuf,
    /// The `maestro-server` binary, for `purge-nodes`.
    pub server_bin: PathBuf,
    /// Old nodes to seed (a quarter are purged with pauses, a quarter without).
    pub nodes: usize,
    /// How long the load runs without a purge, for the comparison.
    pub baseline: Duration,
    /// The W3 queries.
    pub queries: Vec<String>,
}

/// Days the seed spans, and the two cut-offs.
const SPAN_DAYS: i64 = 360;
/// Nodes per seeding write (and tests per checkout).
const SEED_BATCH: usize = 1_000;
/// W2 clients posting during the measurements.
const POST_CLIENTS: usize = 4;

/// Writes `n` nodes with `created` spread over the last [`SPAN_DAYS`] days, oldest first.
async fn seed(data_dir: &std::path::Path, n: usize) -> Run {
    // No quick check: the server checked the file at its start, and a second reader of the
    // whole file would only slow the server.
    let store = SqliteStore::open_with(data_dir, 16, false).expect("open the server's store");
    let now = Timestamp::now();
    let span_ms = SPAN_DAYS * 86_400_000;
    let step = span_ms / n.max(1) as i64;
    let start = Instant::now();
    let mut lat = Vec::new();
    let mut i = 0usize;
    while i < n {
        let mut writes = Vec::with_capacity(SEED_BATCH + 1);
        let mut parent = None;
        for _ in 0..SEED_BATCH.min(n - i) {
            let created = now.millis() - span_ms + step * i as i64;
            let created = Timestamp::from_millis(created).expect("a time in range");
            // The ObjectId of a node made at `created`: its first 4 bytes are the seconds.
            let id = format!(
                "{:08x}{:016x}",
                created.millis() / 1_000,
                0xbe00_0000_0000_0000u64 + i as u64
            );
            let id = ObjectIdHex::parse(&id).expect("24 hex digits");
            let mut node: maestro_common::Node = match &parent {
                None => serde_json::from_value(serde_json::json!({
                    "kind": "checkout", "name": "checkout", "path": ["checkout"],
                    "treeid": "bench-old", "state": "done", "result": "pass",
                }))
                .expect("a checkout"),
                Some(p) => {
                    let mut v = crate::test_node(i, None);
                    v["parent"] = serde_json::Value::String(format!("{p}"));
                    serde_json::from_value(v).expect("a test node")
                }
            };
            if parent.is_none() {
                parent = Some(id.clone());
            }
            node.id = Some(id);
            node.owner = Some("admin".into());
            node.created = created;
            node.updated = created;
            node.timeout = created.plus_seconds(6 * 3_600);
            writes.push(NodeWrite::Insert(node));
            i += 1;
        }
        let t = Instant::now();
        store.write_nodes(writes).await.expect("seed write");
        lat.push(t.elapsed());
    }
    store.close().await;
    let name = format!("W7 seed: {n} nodes over {SPAN_DAYS} days, in writes of {SEED_BATCH}");
    Run::new(name, lat, start.elapsed(), n)
}

/// W2 POSTs and W3 reads until `stop`: the reads' and the POSTs' runs.
async fn load(
    url: &str,
    token: &str,
    queries: &[String],
    stop: Arc<AtomicBool>,
    what: &str,
) -> Vec<Run> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut posts = Vec::new();
    for c in 0..POST_CLIENTS {
        let (http, url, token, stop) =
            (http.clone(), url.to_owned(), token.to_owned(), stop.clone());
        posts.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 50_000_000 + c * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/latest/node"))
                    .bearer_auth(&token)
                    .json(&crate::test_node(i, None))
                    .send()
                    .await
                    .expect("post");
                assert!(r.status().is_success(), "POST /node: {}", r.status());
                r.bytes().await.expect("body");
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let mut reads = Vec::new();
    'outer: while !stop.load(Ordering::Relaxed) {
        for q in queries {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            let t = Instant::now();
            let r = http.get(format!("{url}{q}")).send().await.expect("get");
            assert!(r.status().is_success(), "{q}: {}", r.status());
            r.bytes().await.expect("body");
            reads.push(t.elapsed());
        }
    }
    let wall = start.elapsed();
    let mut post_lat = Vec::new();
    for p in posts {
        post_lat.extend(p.await.expect("post client"));
    }
    let n = post_lat.len();
    vec![
        Run::new(
            format!(
                "W7 W3 reads (the {} queries in turn), {what}",
                queries.len()
            ),
            reads,
            wall,
            0,
        ),
        Run::new(
            format!("W7 W2 POST /node, {POST_CLIENTS} clients, {what}"),
            post_lat,
            wall,
            n,
        ),
    ]
}

/// The load for `d` with no purge.
async fn baseline(p: &Purge, d: Duration) -> Vec<Run> {
    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let runs = load(&p.url, &p.token, &p.queries, stop, "no purge").await;
    timer.await.expect("timer");
    runs
}

/// `maestro-server purge-nodes --older-than-days days` with `pause_ms`, under the load: the
/// purge's run (nodes/s from its own report) and the load's.
async fn purge_under_load(p: &Purge, days: u64, pause_ms: u64) -> Vec<Run> {
    let data_dir = p.data_dir.to_string_lossy().into_owned();
    let mut cmd = Command::new(&p.server_bin);
    cmd.args(["--data-dir", &data_dir, "--skip-integrity-check"])
        .args(["--node-purge-pause-ms", &pause_ms.to_string()])
        .args(["purge-nodes", "--older-than-days", &days.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let purge = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let out = cmd.output().expect("run maestro-server purge-nodes");
            stop.store(true, Ordering::Relaxed);
            out
        })
    };
    let what = format!("purging (pause {pause_ms} ms)");
    let mut runs = load(&p.url, &p.token, &p.queries, stop, &what).await;
    let out = purge.await.expect("purge task");
    let wall = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "purge-nodes failed: {text}");
    print!("  {text}");
    // "deleted N nodes created before T (...) in S s (B batches, R nodes/s); ..."
    let deleted: usize = text
        .strip_prefix("deleted ")
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // The purge's own time, from its rate (its seconds are rounded to 0.1): without the
    // start of the process and the opening of the store.
    let rate: Option<f64> = text
        .split(" batches, ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .filter(|r: &f64| *r > 0.0);
    let secs = rate.map_or_else(|| wall.as_secs_f64(), |r| deleted as f64 / r);
    let name = format!(
        "W7 purge-nodes --older-than-days {days}, batch 10000, pause {pause_ms} ms: {deleted} nodes"
    );
    runs.insert(
        0,
        Run::new(name, Vec::new(), Duration::from_secs_f64(secs), deleted),
    );
    runs
}

/// W7: seed, the load without a purge, then the two purges under it.
pub async fn run(p: Purge) -> Vec<Run> {
    let mut runs = vec![seed(&p.data_dir, p.nodes).await];
    runs.extend(baseline(&p, p.baseline).await);
    runs.extend(purge_under_load(&p, 270, 1_000).await);
    runs.extend(purge_under_load(&p, 180, 0).await);
    runs
}
