//! `maestro-bench all [--quick]`: the W5, W2, W3, W7, W4 and W6 workloads, W1 with the
//! simulated pipeline, and W8 (the monitor) one after another against one server, with the
//! server's CPU per request for each, not only rates. The server is started here on a fresh
//! data directory (the `maestro-server` next to this program, or `--server-bin`), or is the
//! one at `--url` (CPU only with `--server-pid`; no W7 or W1 there). With `--mongodb-uri`,
//! the server started stores in a fresh MongoDB database and counts its commands, reported
//! per request. W5 comes first, so that its memory per idle subscription is measured on a
//! fresh server. Last, a server started on SQLite is restarted on its data and, after the
//! W3 queries once each and a few idle seconds, its resident memory read: the idle RSS at
//! the node count the run left. The final summary is the per-request table, then the W5,
//! W8 and idle-RSS figures.
use std::time::{Duration, Instant};

use crate::commands;
use crate::reads::read_queries;
use crate::server::{Started, idle_rss, server_bin};
use crate::stats::{Run, cpu_secs, settle};
use crate::{Args, hierarchies, hierarchies_from, login, post_for};

/// How much of each workload to run.
struct Plan {
    post_seconds: u64,
    hierarchy_puts: [(usize, usize); 3],
    nodes: usize,
    reads: usize,
    /// Most time spent on one read query.
    read_cap: Duration,
    revisions: u64,
    size: maestro_tui::sim::catalog::Size,
    /// W4: seconds of publishing at each rate.
    fanout_seconds: u64,
    /// W6: how long the slow subscribers stall.
    stall: u64,
    /// W7: old nodes seeded and purged, and the seconds of load without a purge.
    purge: (usize, u64),
    /// W5: seconds the idle subscribers are held.
    idle_seconds: u64,
    /// W5: events the durable subscribers miss while away. Their catch-up is one
    /// acknowledgement write per event and subscriber: 150,000 writes for the full plan,
    /// which the MongoDB-wire test server carries at ~110/s, so the quick plan misses fewer.
    missed: u64,
    /// W8: seconds of load on the monitor.
    monitor_seconds: u64,
}

impl Plan {
    fn new(quick: bool) -> Self {
        use maestro_tui::sim::catalog::Size;
        if quick {
            Self {
                post_seconds: 3,
                hierarchy_puts: [(10, 200), (100, 50), (1_000, 20)],
                nodes: 100_000,
                reads: 1_000,
                read_cap: Duration::from_secs(10),
                revisions: 1,
                size: Size::Typical,
                fanout_seconds: 5,
                stall: 30,
                purge: (200_000, 10),
                idle_seconds: 5,
                missed: 1_000,
                monitor_seconds: 10,
            }
        } else {
            Self {
                post_seconds: 10,
                hierarchy_puts: [(10, 1_000), (100, 200), (1_000, 50)],
                nodes: 1_000_000,
                reads: 2_000,
                read_cap: Duration::from_secs(30),
                revisions: 3,
                size: Size::Big,
                fanout_seconds: 10,
                // workloads.md's W6: 20 minutes.
                stall: 1_200,
                purge: (1_000_000, 20),
                idle_seconds: 10,
                missed: 10_000,
                monitor_seconds: 30,
            }
        }
    }
}

/// One line of the final table.
struct Line {
    run: Run,
    cpu: Option<f64>,
    /// MongoDB commands per request.
    commands: Option<f64>,
}

/// Where the server's CPU and MongoDB command counts are read.
struct Probe<'a> {
    pid: Option<u32>,
    http: &'a reqwest::Client,
    url: &'a str,
}

/// Runs `work`, recording the server's CPU (utime + stime, until the server is idle again)
/// and the MongoDB commands it cost.
async fn measured<F: std::future::Future<Output = Vec<Run>>>(
    probe: &Probe<'_>,
    lines: &mut Vec<Line>,
    work: F,
) {
    let pid = probe.pid;
    let sent_before = commands::fetch(probe.http, probe.url).await;
    let before = pid.map(cpu_secs);
    let runs = work.await;
    if let Some(p) = pid {
        settle(p, Duration::from_secs(10)).await;
    }
    let after = pid.map(cpu_secs);
    let sent_after = commands::fetch(probe.http, probe.url).await;
    let cpu = before.zip(after).map(|(b, a)| a - b);
    // The CPU of a batch of runs (the read queries) is told apart by running them one by one.
    let n = runs.len();
    for run in runs {
        run.print();
        if let Some(c) = cpu.filter(|_| n == 1) {
            // Without requests of its own (W1: the simulator's), per node written, as the table.
            let (per, unit) = if run.lat.is_empty() {
                (run.nodes, "node")
            } else {
                (run.lat.len(), "request")
            };
            println!(
                "  server CPU {:.3} s, {:.3} ms per {unit}",
                c,
                c * 1e3 / per.max(1) as f64
            );
        }
        let sent = sent_before
            .as_ref()
            .zip(sent_after.as_ref())
            .filter(|_| n == 1)
            .map(|(b, a)| commands::per_request(b, a, run.lat.len()));
        if let Some((total, parts)) = &sent {
            println!("  MongoDB commands {total:.2} per request: {parts}");
        }
        lines.push(Line {
            cpu: cpu.filter(|_| n == 1),
            commands: sent.map(|(total, _)| total),
            run,
        });
    }
}

pub async fn run(mut a: Args) {
    let mut plan = Plan::new(a.quick);
    if a.nodes_given {
        plan.nodes = a.nodes;
    }
    if a.password.is_empty() {
        a.password = "bench".into();
    }
    let mut started = if a.url_given {
        None
    } else {
        let s = Started::start(&a).await;
        a.url = s.url();
        Some(s)
    };
    let pid = started
        .as_ref()
        .map(Started::pid)
        .or(a.server_pids.first().copied());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .expect("client");
    let token = login(&http, &a).await;
    let probe = Probe {
        pid,
        http: &http,
        url: &a.url,
    };
    let began = Instant::now();
    let mut lines = Vec::new();
    // The W5, W8 and idle-RSS lines of the summary.
    let mut figures = Vec::new();
    // W5 first, on the fresh server: its memory per subscription is then not hidden by what
    // the allocator kept from earlier workloads.
    println!(
        "W5: 500 WebSocket + 500 long-poll idle subscribers, then 15 durable ones restarted \
         after {} missed events",
        plan.missed
    );
    let w5 = crate::idle::run(crate::idle::Idle {
        urls: vec![a.url.clone()],
        token: token.clone(),
        ws: 500,
        longpoll: 500,
        seconds: plan.idle_seconds,
        durable: 15,
        missed: plan.missed,
        rate: 1_000,
        server_pids: pid.into_iter().collect(),
    })
    .await;
    figures.extend(w5);
    println!();
    for clients in [1, 8, 64] {
        let seconds = plan.post_seconds;
        let work = post_for(
            std::slice::from_ref(&a.url),
            &http,
            &token,
            clients,
            seconds,
        );
        measured(&probe, &mut lines, async { vec![work.await] }).await;
    }
    for (size, puts) in plan.hierarchy_puts {
        let work = hierarchies(&a.url, &http, &token, size, puts);
        measured(&probe, &mut lines, async { vec![work.await.0] }).await;
    }
    // W3 at `plan.nodes`: the store is filled by hierarchy PUTs of 1,000 tests from two
    // clients (the hierarchy load: jobs of a pipeline finish together).
    let have: usize = count(&http, &a.url).await;
    let missing = plan.nodes.saturating_sub(have);
    if missing > 0 {
        let work = hierarchies_from(&a.url, &http, &token, 1_000, missing.div_ceil(1_000), 2);
        measured(&probe, &mut lines, async {
            let mut run = work.await;
            run.name = format!("seed to {} nodes: {}", plan.nodes, run.name);
            vec![run]
        })
        .await;
    }
    let queries = read_queries(&http, &a.url).await;
    for q in &queries {
        let work = crate::reads::read_one(&http, &a.url, q, plan.reads, plan.read_cap);
        measured(&probe, &mut lines, async { vec![work.await] }).await;
    }
    // W7 needs the server's SQLite data directory: a server started here, not on MongoDB.
    if let Some(s) = started.as_ref().filter(|_| a.mongodb_uri.is_none()) {
        let (nodes, secs) = plan.purge;
        let p = crate::purge::Purge {
            url: a.url.clone(),
            token: token.clone(),
            data_dir: s.data_dir(),
            server_bin: server_bin(&a),
            nodes,
            baseline: Duration::from_secs(secs),
            queries: queries.clone(),
        };
        measured(&probe, &mut lines, crate::purge::run(p)).await;
    }
    // W4 and W6 print their own figures (per subscriber kind, not per request).
    for rate in [100, 1_000] {
        println!("\nW4: 100 WebSocket + 100 long-poll subscribers, {rate} events/s");
        crate::fanout::run(crate::fanout::Fanout {
            urls: vec![a.url.clone()],
            token: token.clone(),
            ws: 100,
            longpoll: 100,
            rate,
            seconds: plan.fanout_seconds,
            drain: 15,
            server_pids: pid.into_iter().collect(),
        })
        .await;
    }
    println!("\nW6: slow consumers");
    crate::slow::run(crate::slow::Slow {
        urls: vec![a.url.clone()],
        token: token.clone(),
        ws: 20,
        rate: 100,
        stall: plan.stall,
        drain: 60,
        server_pids: pid.into_iter().collect(),
    })
    .await;
    if started.is_some() {
        let work = crate::pipeline::run(crate::pipeline::Pipeline {
            url: a.url.clone(),
            admin_token: token.clone(),
            revisions: plan.revisions,
            size: plan.size,
            speed: 1_000.0,
        });
        measured(&probe, &mut lines, async { vec![work.await] }).await;
    }
    println!("\nW8: the monitor on a 15,000-node revision, 100 events/s");
    let w8 = crate::monitor::run(crate::monitor::Monitor {
        url: a.url.clone(),
        token: token.clone(),
        nodes: 15_000,
        rate: 100,
        seconds: plan.monitor_seconds,
    })
    .await;
    figures.extend(w8);
    // Last, as it restarts the server (the pid of `probe` is the old one's).
    if let Some(s) = started.as_mut().filter(|_| a.mongodb_uri.is_none()) {
        figures.push(idle_rss(s, &a, &queries).await);
    }
    print_table(&lines, began.elapsed());
    if !figures.is_empty() {
        println!();
        for f in &figures {
            println!("{f}");
        }
    }
}

pub(crate) async fn count(http: &reqwest::Client, url: &str) -> usize {
    let r = http.get(format!("{url}/latest/count")).send().await;
    match r {
        Ok(r) => r.json::<usize>().await.unwrap_or(0),
        Err(_) => 0,
    }
}

fn print_table(lines: &[Line], wall: Duration) {
    println!();
    // The commands column only when the server counted them (MongoDB).
    let counted = lines.iter().any(|l| l.commands.is_some());
    let (head, rule) = if counted {
        (" MongoDB commands/request |", "---|")
    } else {
        ("", "")
    };
    println!(
        "| workload | requests | rate | nodes/s | p50 ms | p99 ms | server CPU ms/request |{head}"
    );
    println!("|---|---|---|---|---|---|---|{rule}");
    for Line { run, cpu, commands } in lines {
        let secs = run.wall.as_secs_f64().max(1e-9);
        let n = run.lat.len();
        // Without per-request figures (W1: the simulator's requests), CPU is per node.
        let (per, unit) = if n > 0 {
            (n, "")
        } else {
            (run.nodes, " per node")
        };
        let cpu = cpu.map_or_else(
            || "-".to_owned(),
            |c| format!("{:.3}{unit}", c * 1e3 / per.max(1) as f64),
        );
        let nodes = if run.nodes > 0 {
            format!("{:.0}", run.nodes as f64 / secs)
        } else {
            "-".to_owned()
        };
        let sent = match commands {
            Some(c) => format!(" {c:.2} |"),
            None if counted => " - |".to_owned(),
            None => String::new(),
        };
        println!(
            "| {} | {n} | {:.0}/s | {nodes} | {:.2} | {:.2} | {cpu} |{sent}",
            run.name,
            n as f64 / secs,
            run.pct(0.50).as_secs_f64() * 1e3,
            run.pct(0.99).as_secs_f64() * 1e3,
        );
    }
    println!("\nall workloads: {:.1} s", wall.as_secs_f64());
}
