//! What one durable node write costs in the SQLite store alone, without HTTP, and what the
//! same commit costs SQLite without our schema: the floor under `POST /node`'s server CPU.
//!
//! `cargo run --release -p maestro-server --example store_write_cost [-- N]` (N writes,
//! default 3,000). Prints CPU per write (this process's utime + stime; nothing else runs in
//! it) and the rate, for: the store's `write_nodes_with_event` (node row, its 11 indexes,
//! the event, `synchronous=FULL`); a bare table of the same JSON text, one commit per row,
//! FULL; the same at NORMAL (no fsync), which isolates the fsync's share.
use std::path::Path;
use std::time::Instant;

use maestro_common::Node;
use maestro_server::events::NewEvent;
use maestro_server::nodes::ops::new_id;
use maestro_server::store::sqlite::SqliteStore;
use maestro_server::store::{NodeWrite, Store};
use serde_json::{Map, json};

/// utime + stime of this process, seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A realistic ~1.2 KB test node, as `maestro-bench` posts.
fn node(i: usize) -> Node {
    let base = "https://files.kernelci.org/mainline/master/v6.13-rc1-123-gabcdef0123456/x86_64/defconfig/gcc-12/baseline-x86-qemu/";
    let long = "a".repeat(120);
    let mut n: Node = serde_json::from_value(json!({
        "kind": "test", "name": format!("baseline.login.{i}"),
        "path": ["checkout", "kbuild-gcc-12-x86", "baseline-x86", format!("login-{i}")],
        "state": "done", "result": "pass", "treeid": "bench-tree", "owner": "admin",
        "artifacts": {"lava_log": format!("{base}lava_log.txt.gz?{long}"),
                      "callback_data": format!("{base}callback.json?{long}"),
                      "test_log": format!("{base}test_log_{i}.txt?{long}")},
        "data": {"kernel_revision": {"tree": "mainline", "branch": "master",
                    "commit": "abcdef0123456789abcdef0123456789abcdef01",
                    "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
                    "describe": "v6.13-rc1-123-gabcdef012345"},
                 "arch": "x86_64", "defconfig": "x86_64_defconfig", "compiler": "gcc-12",
                 "platform": "qemu-x86", "runtime": "lava-collabora",
                 "job_id": format!("{}", 1_000_000 + i)},
    }))
    .expect("a valid node");
    n.id = Some(new_id());
    n
}

fn report(what: &str, n: usize, cpu: f64, wall: f64) {
    println!(
        "{what}: {n} writes, {:.3} ms CPU each, {:.0}/s",
        cpu * 1e3 / n as f64,
        n as f64 / wall
    );
}

async fn store_writes(dir: &Path, n: usize) {
    let store = SqliteStore::open(dir).expect("store");
    let nodes: Vec<Node> = (0..n).map(node).collect();
    let (c0, t0) = (cpu(), Instant::now());
    for node in nodes {
        let event = NewEvent {
            channel: "node".into(),
            owner: Some("admin".into()),
            data: json!({"op": "created", "id": node.id, "kind": node.kind, "state": "done"}),
            treeid: node.treeid.clone(),
            attributes: Map::new(),
        };
        store
            .write_nodes_with_event(vec![NodeWrite::Insert(node)], Some(event))
            .await
            .expect("write");
    }
    report(
        "store write_nodes_with_event, FULL",
        n,
        cpu() - c0,
        t0.elapsed().as_secs_f64(),
    );
}

fn bare_writes(dir: &Path, n: usize, synchronous: &str) {
    let conn = rusqlite::Connection::open(dir.join(format!("bare-{synchronous}.db"))).expect("db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", synchronous)
        .expect("sync");
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        .expect("table");
    let docs: Vec<(String, String)> = (0..n)
        .map(|i| {
            let n = node(i);
            let id = n.id.as_ref().map(ToString::to_string).unwrap_or_default();
            (id, serde_json::to_string(&n).expect("json"))
        })
        .collect();
    let (c0, t0) = (cpu(), Instant::now());
    for (id, doc) in &docs {
        conn.execute("INSERT INTO t (id, doc) VALUES (?1, ?2)", (id, doc))
            .expect("insert");
    }
    report(
        &format!("bare table, one commit per row, {synchronous}"),
        n,
        cpu() - c0,
        t0.elapsed().as_secs_f64(),
    );
}

/// Batches of `BATCH` inserts in one transaction each through the store.
async fn store_batches(dir: &Path, batches: usize) {
    let store = SqliteStore::open(dir).expect("store");
    let all: Vec<Vec<Node>> = (0..batches)
        .map(|b| (0..BATCH).map(|i| node(b * BATCH + i)).collect())
        .collect();
    let (c0, t0) = (cpu(), Instant::now());
    for nodes in all {
        let event = NewEvent {
            channel: "node".into(),
            owner: Some("admin".into()),
            data: json!({"op": "updated", "id": nodes[0].id}),
            treeid: None,
            attributes: Map::new(),
        };
        let writes = nodes.into_iter().map(NodeWrite::Insert).collect();
        store
            .write_nodes_with_event(writes, Some(event))
            .await
            .expect("write");
    }
    report_batches(
        "store write_nodes_with_event",
        batches,
        cpu() - c0,
        t0.elapsed().as_secs_f64(),
    );
}

/// Batches of `BATCH` rows of (id, JSON text) in one transaction each, FULL; with
/// `indexed`, into the store's own node table and indexes (its schema, opened by the
/// store), the columns filled as the store fills them.
fn bare_batches(dir: &Path, batches: usize, indexed: bool) {
    let docs: Vec<(String, String)> = (0..batches * BATCH)
        .map(|i| {
            let n = node(i);
            let id = n.id.as_ref().map(ToString::to_string).unwrap_or_default();
            (id, serde_json::to_string(&n).expect("json"))
        })
        .collect();
    let (mut conn, sql, what) = if indexed {
        let path = dir.join("schema");
        drop(SqliteStore::open(&path).expect("store"));
        let conn = rusqlite::Connection::open(path.join(maestro_server::store::sqlite::DB_FILE))
            .expect("db");
        (
            conn,
            "INSERT INTO node (id, kind, name, state, owner, treeid, created, updated, timeout, \
             processed_by_kcidb_bridge, retry_counter, rev_tree, rev_branch, rev_commit, doc) \
             VALUES (?1, 'test', ?1, 'done', 'admin', 'bench-tree', ?2, ?2, ?2, 0, 0, \
             'mainline', 'master', 'abcdef0123456789abcdef0123456789abcdef01', ?3)",
            "the node table's columns and 11 indexes",
        )
    } else {
        let conn = rusqlite::Connection::open(dir.join("bare-batches.db")).expect("db");
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
            .expect("table");
        (
            conn,
            "INSERT INTO t (id, doc) VALUES (?1, ?3)",
            "bare table (id, doc)",
        )
    };
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    let (c0, t0) = (cpu(), Instant::now());
    for (b, chunk) in docs.chunks(BATCH).enumerate() {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx.prepare_cached(sql).expect("statement");
            for (i, (id, doc)) in chunk.iter().enumerate() {
                let at = (b * BATCH + i) as i64;
                stmt.execute((id, at, doc)).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    report_batches(what, batches, cpu() - c0, t0.elapsed().as_secs_f64());
}

/// Inserts per batch: a hierarchy `PUT` of 1,000 tests.
const BATCH: usize = 1_000;

fn report_batches(what: &str, batches: usize, cpu: f64, wall: f64) {
    println!(
        "{what}, batches of {BATCH}: {batches} batches, {:.1} ms CPU each, {:.0} rows/s",
        cpu * 1e3 / batches as f64,
        (batches * BATCH) as f64 / wall
    );
}

#[tokio::main]
async fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let dir = tempfile::tempdir().expect("temp dir");
    store_writes(&dir.path().join("store"), n).await;
    bare_writes(dir.path(), n, "FULL");
    bare_writes(dir.path(), n, "NORMAL");
    let batches = n.div_ceil(100);
    store_batches(&dir.path().join("batches"), batches).await;
    bare_batches(dir.path(), batches, false);
    bare_batches(dir.path(), batches, true);
}
