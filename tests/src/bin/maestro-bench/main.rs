//! `maestro-bench`: load generator for a running server (workloads W1-W8 of workloads.md).
//!
//! Usage: `maestro-bench --url http://127.0.0.1:8001 --password PW <post|seed|read|fanout|idle|slow|monitor|...> [...]`
//! - `--urls URL,URL,...`: several servers on one database (sharing their token secret):
//!   `post` and `fanout` spread their clients, subscribers and publishes over them in turn
//!   (the login goes to the first).
//! - `post --clients N --seconds S`: `POST /node` from N keep-alive clients.
//!   `post`, `seed` and `read` print the CPU per request of the servers at `--server-pid`.
//! - `seed --nodes N [--clients C]`: N test nodes through hierarchy PUTs of 1,000 under one
//!   checkout (with C clients: C at once, each under a checkout of its own).
//! - `read --requests N`: latency of the W3 read queries.
//! - `fanout --ws N --longpoll M --rate R --seconds S [--drain D] [--server-pid PID]`: R
//!   events/s on `/publish/bench` for S s to N WebSocket and M long-poll subscribers (W4);
//!   with `--rate 0`, N + M idle subscribers held for S s and the server's memory (W5).
//!   `--server-pid` takes a comma-separated list: CPU and RSS are then those of all.
//! - `idle --ws N --longpoll M --seconds S --durable D --missed K [--rate R] [--server-pid PID]`:
//!   W5, N + M idle subscribers held for S s and the server's memory per subscription, then
//!   D durable long-poll subscribers away while K events are published (R/s, default 1,000),
//!   back with a new subscribe: catch-up time, events missing and twice (defaults 100 + 100,
//!   15, 10,000; the server's `--max-subscriptions-per-user`, 256 by default, bounds M and D).
//! - `slow --stall S --rate R --ws N [--drain D]`: W6, one WebSocket and one durable
//!   long-poll subscriber stop reading for S s while R events/s go to them and to N steady
//!   WebSocket subscribers; server memory, the steady ones' latency, and the stalled ones'
//!   catch-up (every event, none twice).
//! - `monitor --nodes N --rate R --seconds S`: W8, the monitor on an N-node revision
//!   receiving R events/s (default 15,000 nodes).
//! - `pipeline --revisions N --size small|typical|big --speed F`: W1 with the simulated
//!   pipeline as the load generator, on a fresh server.
//! - `purge --data-dir DIR [--nodes N] [--seconds S] [--server-bin PATH]`: W7, N old nodes
//!   seeded into the SQLite store in DIR of the server at `--url`, then purged by
//!   `maestro-server purge-nodes` while W2 POSTs and W3 reads run (S s of them without a
//!   purge first, for comparison).
//! - `all [--quick] [--server-bin PATH]`: W5, W2, W3 (at 1,000,000 nodes, 100,000 with
//!   `--quick`), W7, W4, W6, W1 and W8 one after another on a server started for the run
//!   (or W2-W6 and W8 on the one at `--url`, with `--server-pid` for its CPU), with the server
//!   CPU per request of each, then the started server's idle RSS after a restart on its data.
//!   `--mongodb-uri URI`: the started server stores in a fresh database there, counting its
//!   MongoDB commands (reported per request; no W7 and no idle RSS there); `--nodes N`: W3 at
//!   N nodes.
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod all;
mod commands;
mod durable;
mod fanout;
mod idle;
mod monitor;
mod pipeline;
mod purge;
mod reads;
mod server;
mod slow;
mod stats;

use reads::{read_one, read_queries};
use stats::{Run, ServerCpu};

struct Args {
    url: String,
    /// The servers to spread over (`--urls`; else `url` alone).
    urls: Vec<String>,
    /// Whether `--url` was given (`all` starts a server otherwise).
    url_given: bool,
    quick: bool,
    server_bin: Option<std::path::PathBuf>,
    /// `all`: the server it starts stores in MongoDB at this URI (a fresh database).
    mongodb_uri: Option<String>,
    /// The server's data directory (`purge`).
    data_dir: Option<std::path::PathBuf>,
    password: String,
    command: String,
    clients: usize,
    seconds: u64,
    nodes: usize,
    /// Whether `--nodes` was given (`all` seeds to it instead of its plan's count).
    nodes_given: bool,
    requests: usize,
    ws: usize,
    longpoll: usize,
    rate: u64,
    drain: u64,
    server_pids: Vec<u32>,
    revisions: u64,
    size: maestro_tui::sim::catalog::Size,
    speed: f64,
    /// `slow`: how long the slow subscribers stop reading, seconds.
    stall: u64,
    /// `idle`: restarted durable subscribers, and the events they miss.
    durable: usize,
    missed: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:8001".into(),
        urls: Vec::new(),
        url_given: false,
        quick: false,
        server_bin: None,
        mongodb_uri: None,
        data_dir: None,
        password: std::env::var("MAESTRO_ADMIN_PASSWORD").unwrap_or_default(),
        command: String::new(),
        clients: 1,
        seconds: 10,
        nodes: 100_000,
        nodes_given: false,
        requests: 1_000,
        ws: 100,
        longpoll: 100,
        rate: 100,
        drain: 30,
        server_pids: Vec::new(),
        revisions: 1,
        size: maestro_tui::sim::catalog::Size::Big,
        speed: 1_000.0,
        stall: 60,
        durable: 15,
        missed: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_default();
        match arg.as_str() {
            "--url" => {
                a.url = val();
                a.url_given = true;
            }
            "--quick" => a.quick = true,
            "--server-bin" => a.server_bin = Some(val().into()),
            "--data-dir" => a.data_dir = Some(val().into()),
            "--urls" => {
                a.urls = val()
                    .split(',')
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "--password" => a.password = val(),
            "--clients" => a.clients = val().parse().unwrap_or(1),
            "--seconds" => a.seconds = val().parse().unwrap_or(10),
            "--nodes" => {
                a.nodes = val().parse().unwrap_or(100_000);
                a.nodes_given = true;
            }
            "--mongodb-uri" => a.mongodb_uri = Some(val()),
            "--requests" => a.requests = val().parse().unwrap_or(1_000),
            "--ws" => a.ws = val().parse().unwrap_or(100),
            "--longpoll" => a.longpoll = val().parse().unwrap_or(100),
            "--rate" => a.rate = val().parse().unwrap_or(100),
            "--drain" => a.drain = val().parse().unwrap_or(30),
            "--server-pid" => {
                a.server_pids = val().split(',').filter_map(|p| p.parse().ok()).collect();
            }
            "--revisions" => a.revisions = val().parse().unwrap_or(1),
            "--size" => {
                use clap::ValueEnum;
                a.size = maestro_tui::sim::catalog::Size::from_str(&val(), true)
                    .unwrap_or(maestro_tui::sim::catalog::Size::Big);
            }
            "--speed" => a.speed = val().parse().unwrap_or(1_000.0),
            "--stall" => a.stall = val().parse().unwrap_or(60),
            "--durable" => a.durable = val().parse().unwrap_or(15),
            "--missed" => a.missed = val().parse().unwrap_or(10_000),
            other => a.command = other.to_owned(),
        }
    }
    match a.urls.first() {
        Some(first) => {
            a.url = first.clone();
            a.url_given = true;
        }
        None => a.urls = vec![a.url.clone()],
    }
    a
}

/// A realistic ~1.2 KB node: revision, arch, platform, runtime and artifact URLs.
fn test_node(i: usize, parent: Option<&str>) -> Value {
    let base = "https://files.kernelci.org/mainline/master/v6.13-rc1-123-gabcdef0123456/x86_64/defconfig/gcc-12/baseline-x86-qemu/";
    let long = "a".repeat(120);
    json!({
        "kind": "test", "name": format!("baseline.login.{i}"), "path": ["checkout", "kbuild-gcc-12-x86", "baseline-x86", format!("login-{i}")],
        "parent": parent, "state": "done", "result": if i.is_multiple_of(7) { "fail" } else { "pass" },
        "treeid": "bench-tree",
        "artifacts": {"lava_log": format!("{base}lava_log.txt.gz?{long}"), "callback_data": format!("{base}callback.json?{long}"),
                      "test_log": format!("{base}test_log_{i}.txt?{long}")},
        "data": {"kernel_revision": {"tree": "mainline", "branch": "master", "commit": "abcdef0123456789abcdef0123456789abcdef01",
                    "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git", "describe": "v6.13-rc1-123-gabcdef012345"},
                 "arch": "x86_64", "defconfig": "x86_64_defconfig", "compiler": "gcc-12", "platform": "qemu-x86", "runtime": "lava-collabora",
                 "job_id": format!("{}", 1_000_000 + i)},
    })
}

async fn login(http: &reqwest::Client, a: &Args) -> String {
    let r: Value = http
        .post(format!("{}/latest/user/login", a.url))
        .form(&[("username", "admin"), ("password", a.password.as_str())])
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    r["access_token"].as_str().expect("token").to_owned()
}

/// `POST /node` from `clients` keep-alive clients for `seconds`.
async fn post_for(
    urls: &[String],
    http: &reqwest::Client,
    token: &str,
    clients: usize,
    seconds: u64,
) -> Run {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = urls[c % urls.len()].clone();
        let (http, token) = (http.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c * 10_000_000;
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/latest/node"))
                    .bearer_auth(&token)
                    .json(&test_node(i, None))
                    .send()
                    .await
                    .expect("post");
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.expect("body");
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let n = all.len();
    Run::new(
        format!(
            "POST /node, {clients} client(s) over {} server(s)",
            urls.len()
        ),
        all,
        start.elapsed(),
        n,
    )
}

/// `puts` hierarchy PUTs of `size` tests each under one new checkout; the run and the
/// checkout's id.
async fn hierarchies(
    url: &str,
    http: &reqwest::Client,
    token: &str,
    size: usize,
    puts: usize,
) -> (Run, String) {
    let checkout = json!({"kind": "checkout", "name": "checkout", "path": ["checkout"], "treeid": "bench-tree",
        "data": {"kernel_revision": {"tree": "mainline", "branch": "master", "commit": "abcdef0123456789abcdef0123456789abcdef01",
            "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"}}});
    let root: Value = http
        .post(format!("{url}/latest/node"))
        .bearer_auth(token)
        .json(&checkout)
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("json");
    let rid = root["id"].as_str().expect("id").to_owned();
    let mut lat = Vec::new();
    let start = Instant::now();
    for p in 0..puts {
        let children: Vec<Value> = (p * size..(p + 1) * size)
            .map(|i| json!({"node": test_node(i, None), "child_nodes": []}))
            .collect();
        let body =
            serde_json::to_vec(&json!({"node": root, "child_nodes": children})).expect("body");
        let t = Instant::now();
        let r = http
            .put(format!("{url}/latest/nodes/{rid}"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("put");
        assert!(r.status().is_success(), "{}", r.status());
        r.bytes().await.expect("body");
        lat.push(t.elapsed());
    }
    let name = format!("PUT /nodes/{{id}} with {size} tests");
    (Run::new(name, lat, start.elapsed(), puts * size), rid)
}

/// `puts` hierarchy PUTs of `size` tests from `clients` clients at once, each under its
/// own checkout (as jobs of a pipeline finish together): one run of all of them.
async fn hierarchies_from(
    url: &str,
    http: &reqwest::Client,
    token: &str,
    size: usize,
    puts: usize,
    clients: usize,
) -> Run {
    let clients = clients.max(1);
    let start = Instant::now();
    let runs = futures::future::join_all((0..clients).map(|c| {
        let share = puts / clients + usize::from(c < puts % clients);
        hierarchies(url, http, token, size, share)
    }))
    .await;
    let lat = runs
        .iter()
        .flat_map(|(r, _)| r.lat.iter().copied())
        .collect();
    let name = format!("PUT /nodes/{{id}} with {size} tests, {clients} clients");
    Run::new(name, lat, start.elapsed(), puts * size)
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    match a.command.as_str() {
        "post" => {
            let token = login(&http, &a).await;
            let cpu = ServerCpu::start(&a.server_pids);
            let run = post_for(&a.urls, &http, &token, a.clients, a.seconds).await;
            cpu.print_after(&run);
        }
        "seed" => {
            let token = login(&http, &a).await;
            let cpu = ServerCpu::start(&a.server_pids);
            let puts = a.nodes.div_ceil(1_000);
            if a.clients > 1 {
                let run = hierarchies_from(&a.url, &http, &token, 1_000, puts, a.clients).await;
                cpu.print_after(&run);
            } else {
                let (run, rid) = hierarchies(&a.url, &http, &token, 1_000, puts).await;
                cpu.print_after(&run);
                println!("parent id: {rid}");
            }
        }
        "read" => {
            for q in read_queries(&http, &a.url).await {
                let cpu = ServerCpu::start(&a.server_pids);
                let run = read_one(&http, &a.url, &q, a.requests, Duration::MAX).await;
                cpu.print_after(&run);
            }
        }
        "all" => all::run(a).await,
        "purge" => {
            let token = login(&http, &a).await;
            // W3's queries are about a checkout with children: one PUT of 1,000 tests.
            hierarchies(&a.url, &http, &token, 1_000, 1).await;
            let queries = read_queries(&http, &a.url).await;
            let p = purge::Purge {
                url: a.url.clone(),
                token,
                data_dir: a
                    .data_dir
                    .clone()
                    .expect("--data-dir: the server's data directory"),
                server_bin: server::server_bin(&a),
                nodes: a.nodes,
                baseline: Duration::from_secs(a.seconds),
                queries,
            };
            for run in purge::run(p).await {
                run.print();
            }
        }
        "fanout" => {
            let token = login(&http, &a).await;
            fanout::run(fanout::Fanout {
                urls: a.urls.clone(),
                token,
                ws: a.ws,
                longpoll: a.longpoll,
                rate: a.rate,
                seconds: a.seconds,
                drain: a.drain,
                server_pids: a.server_pids.clone(),
            })
            .await;
        }
        "idle" => {
            let token = login(&http, &a).await;
            idle::run(idle::Idle {
                urls: a.urls.clone(),
                token,
                ws: a.ws,
                longpoll: a.longpoll,
                seconds: a.seconds,
                durable: a.durable,
                missed: a.missed,
                // The shared default (100/s) is W4's; missed events come faster.
                rate: if a.rate == 100 { 1_000 } else { a.rate },
                server_pids: a.server_pids.clone(),
            })
            .await;
        }
        "slow" => {
            let token = login(&http, &a).await;
            slow::run(slow::Slow {
                urls: a.urls.clone(),
                token,
                ws: a.ws,
                rate: a.rate,
                stall: a.stall,
                drain: a.drain,
                server_pids: a.server_pids.clone(),
            })
            .await;
        }
        "pipeline" => {
            let admin_token = login(&http, &a).await;
            pipeline::run(pipeline::Pipeline {
                url: a.url.clone(),
                admin_token,
                revisions: a.revisions,
                size: a.size,
                speed: a.speed,
            })
            .await
            .print();
        }
        "monitor" => {
            let token = login(&http, &a).await;
            monitor::run(monitor::Monitor {
                url: a.url.clone(),
                token,
                nodes: if a.nodes == 100_000 { 15_000 } else { a.nodes },
                rate: a.rate,
                seconds: a.seconds,
            })
            .await;
        }
        "monitor-measure" => {
            monitor::measure(monitor::Monitor {
                url: a.url.clone(),
                token: std::env::var("MAESTRO_BENCH_TOKEN").unwrap_or_default(),
                nodes: a.nodes,
                rate: a.rate,
                seconds: a.seconds,
            })
            .await;
        }
        _ => eprintln!(
            "usage: maestro-bench --url URL [--urls URL,URL,...] --password PW <post|seed|read|fanout|idle|slow|monitor|pipeline|purge|all> \
             [--quick --data-dir DIR --clients N --seconds S --nodes N --requests N --ws N --longpoll M --rate R --drain D --stall S \
             --durable D --missed K \
             --server-pid PID[,PID...]]"
        ),
    }
}
