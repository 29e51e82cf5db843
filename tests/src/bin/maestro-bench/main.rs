//! `maestro-bench`: load generator for a running server (workloads W2-W5 of workloads.md).
//!
//! Usage: `maestro-bench --url http://127.0.0.1:8001 --password PW <post|seed|read|fanout|monitor> [...]`
//! - `--urls URL,URL,...`: several servers on one database (sharing their token secret):
//!   `post` and `fanout` spread their clients, subscribers and publishes over them in turn
//!   (the login goes to the first).
//! - `post --clients N --seconds S`: `POST /node` from N keep-alive clients.
//! - `seed --nodes N`: N test nodes through hierarchy PUTs of 1,000 under one checkout.
//! - `read --requests N`: latency of the W3 read queries.
//! - `fanout --ws N --longpoll M --rate R --seconds S [--drain D] [--server-pid PID]`: R
//!   events/s on `/publish/bench` for S s to N WebSocket and M long-poll subscribers (W4);
//!   with `--rate 0`, N + M idle subscribers held for S s and the server's memory (W5).
//!   `--server-pid` takes a comma-separated list: CPU and RSS are then those of all.
//! - `monitor --nodes N --rate R --seconds S`: W8, the monitor on an N-node revision
//!   receiving R events/s (default 15,000 nodes).
//! - `pipeline --revisions N --size small|typical|big --speed F`: W1 with the simulated
//!   pipeline as the load generator, on a fresh server.
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod fanout;
mod monitor;
mod pipeline;

struct Args {
    url: String,
    /// The servers to spread over (`--urls`; else `url` alone).
    urls: Vec<String>,
    password: String,
    command: String,
    clients: usize,
    seconds: u64,
    nodes: usize,
    requests: usize,
    ws: usize,
    longpoll: usize,
    rate: u64,
    drain: u64,
    server_pids: Vec<u32>,
    revisions: u64,
    size: maestro_tui::sim::catalog::Size,
    speed: f64,
}

fn parse_args() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:8001".into(),
        urls: Vec::new(),
        password: std::env::var("MAESTRO_ADMIN_PASSWORD").unwrap_or_default(),
        command: String::new(),
        clients: 1,
        seconds: 10,
        nodes: 100_000,
        requests: 1_000,
        ws: 100,
        longpoll: 100,
        rate: 100,
        drain: 30,
        server_pids: Vec::new(),
        revisions: 1,
        size: maestro_tui::sim::catalog::Size::Big,
        speed: 1_000.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_default();
        match arg.as_str() {
            "--url" => a.url = val(),
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
            "--nodes" => a.nodes = val().parse().unwrap_or(100_000),
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
            other => a.command = other.to_owned(),
        }
    }
    match a.urls.first() {
        Some(first) => a.url = first.clone(),
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

fn report(name: &str, mut lat: Vec<Duration>, wall: Duration) {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name}: {} requests in {:.2}s = {:.0}/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

async fn post(a: &Args, http: reqwest::Client, token: String) {
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let url = a.urls[c % a.urls.len()].clone();
        let (http, token) = (http.clone(), token.clone());
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
    report(
        &format!(
            "POST /node, {} client(s) over {} server(s)",
            a.clients,
            a.urls.len()
        ),
        all,
        start.elapsed(),
    );
}

async fn seed(a: &Args, http: reqwest::Client, token: String) {
    let checkout = json!({"kind": "checkout", "name": "checkout", "path": ["checkout"], "treeid": "bench-tree",
        "data": {"kernel_revision": {"tree": "mainline", "branch": "master", "commit": "abcdef0123456789abcdef0123456789abcdef01",
            "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"}}});
    let root: Value = http
        .post(format!("{}/latest/node", a.url))
        .bearer_auth(&token)
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
    let mut made = 0;
    while made < a.nodes {
        let batch = (a.nodes - made).min(1_000);
        let children: Vec<Value> = (made..made + batch)
            .map(|i| json!({"node": test_node(i, None), "child_nodes": []}))
            .collect();
        let body = json!({"node": root, "child_nodes": children});
        let t = Instant::now();
        let r = http
            .put(format!("{}/latest/nodes/{rid}", a.url))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("put");
        assert!(r.status().is_success(), "{}", r.status());
        r.bytes().await.expect("body");
        lat.push(t.elapsed());
        made += batch;
    }
    report("PUT /nodes/{id} with 1,000 tests", lat, start.elapsed());
    println!("parent id: {rid}");
}

async fn read(a: &Args, http: reqwest::Client) {
    let any: Value = http
        .get(format!(
            "{}/latest/nodes?kind=test&limit=1&offset=500",
            a.url
        ))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let node = &any["items"][0];
    let id = node["id"].as_str().unwrap_or_default().to_owned();
    let parent = node["parent"].as_str().unwrap_or_default().to_owned();
    let queries = [
        format!("/latest/node/{id}"),
        "/latest/nodes?kind=test&limit=100".to_owned(),
        "/latest/nodes/fast?kind=test&limit=100".to_owned(),
        "/latest/nodes/fast?treeid=bench-tree&limit=100".to_owned(),
        format!("/latest/nodes/fast?parent={parent}&limit=100"),
        "/latest/nodes/fast?state=running&timeout__lt=2030-01-01T00:00:00&limit=100".to_owned(),
        "/latest/nodes/fast?kind=checkout&created__gt=2020-01-01".to_owned(),
        "/latest/nodes/fast?data.kernel_revision.commit=abcdef0123456789abcdef0123456789abcdef01&limit=100".to_owned(),
        "/latest/count?kind=test&state=done".to_owned(),
    ];
    for q in queries {
        let mut lat = Vec::with_capacity(a.requests);
        let start = Instant::now();
        for _ in 0..a.requests {
            let t = Instant::now();
            let r = http.get(format!("{}{q}", a.url)).send().await.expect("get");
            assert!(r.status().is_success(), "{q}: {}", r.status());
            r.bytes().await.expect("body");
            lat.push(t.elapsed());
        }
        report(&format!("GET {q}"), lat, start.elapsed());
    }
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
            post(&a, http, token).await;
        }
        "seed" => {
            let token = login(&http, &a).await;
            seed(&a, http, token).await;
        }
        "read" => read(&a, http).await,
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
        "pipeline" => {
            let admin_token = login(&http, &a).await;
            pipeline::run(pipeline::Pipeline {
                url: a.url.clone(),
                admin_token,
                revisions: a.revisions,
                size: a.size,
                speed: a.speed,
            })
            .await;
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
            "usage: maestro-bench --url URL [--urls URL,URL,...] --password PW <post|seed|read|fanout|monitor> \
             [--clients N --seconds S --nodes N --requests N --ws N --longpoll M --rate R --drain D \
             --server-pid PID[,PID...]]"
        ),
    }
}
