//! `maestro-bench all [--quick]`: the W2, W3, W4, W6 and W7 workloads (and W1 with the
//! simulated pipeline) one after another against one server, with the server's CPU per
//! request for each, not only rates. The server is started here on a fresh data directory (the
//! `maestro-server` next to this program, or `--server-bin`), or is the one at `--url`
//! (CPU only with `--server-pid`). With `--mongodb-uri`, the server started stores in a
//! fresh MongoDB database and counts its commands, reported per request.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::commands;
use crate::stats::{Run, cpu_secs};
use crate::{Args, hierarchies, login, post_for, read_queries};

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
            }
        }
    }
}

/// A server this run started, stopped (and its data removed) when dropped.
struct Started {
    child: Child,
    dir: PathBuf,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `maestro-server` on a free loopback port with a fresh data directory and the
/// life-cycle rules every second (W1 needs them); returns it and its URL.
async fn start_server(a: &Args) -> (Started, String) {
    let bin = server_bin(a);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir().join(format!("maestro-bench-all-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data directory");
    let log = std::fs::File::create(dir.join("server.log")).expect("server log");
    let mut cmd = Command::new(&bin);
    if let Some(uri) = &a.mongodb_uri {
        let database = format!("maestro_bench_{}", std::process::id());
        cmd.args(["--mongodb-uri", uri, "--mongodb-database", &database])
            .arg("--mongodb-count-commands");
    }
    let child = cmd
        .args(["--data-dir", &dir.join("data").to_string_lossy()])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--lifecycle-timeout-interval-secs", "1"])
        .args(["--lifecycle-holdoff-interval-secs", "1"])
        .args(["--lifecycle-closing-interval-secs", "1"])
        .env("MAESTRO_ADMIN_PASSWORD", &a.password)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let started = Started { child, dir };
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{url}/latest/maestro/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (started, url)
}

/// `--server-bin`, or the `maestro-server` next to this program.
pub fn server_bin(a: &Args) -> PathBuf {
    a.server_bin.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("own path");
        exe.with_file_name("maestro-server")
    })
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

/// Runs `work`, recording the server's CPU (utime + stime) and MongoDB commands it cost.
async fn measured<F: std::future::Future<Output = Vec<Run>>>(
    probe: &Probe<'_>,
    lines: &mut Vec<Line>,
    work: F,
) {
    let pid = probe.pid;
    let sent_before = commands::fetch(probe.http, probe.url).await;
    let before = pid.map(cpu_secs);
    let runs = work.await;
    let after = pid.map(cpu_secs);
    let sent_after = commands::fetch(probe.http, probe.url).await;
    let cpu = before.zip(after).map(|(b, a)| a - b);
    // The CPU of a batch of runs (the read queries) is told apart by running them one by one.
    let n = runs.len();
    for run in runs {
        run.print();
        if let Some(c) = cpu.filter(|_| n == 1) {
            let per = run.lat.len().max(1);
            println!(
                "  server CPU {:.3} s, {:.3} ms per request",
                c,
                c * 1e3 / per as f64
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
    let started = if a.url_given {
        None
    } else {
        let (s, url) = start_server(&a).await;
        a.url = url;
        Some(s)
    };
    let pid = started
        .as_ref()
        .map(|s| s.child.id())
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
    // W3 at `plan.nodes`: the store is filled by hierarchy PUTs of 1,000 tests.
    let have: usize = count(&http, &a.url).await;
    let missing = plan.nodes.saturating_sub(have);
    if missing > 0 {
        let work = hierarchies(&a.url, &http, &token, 1_000, missing.div_ceil(1_000));
        measured(&probe, &mut lines, async {
            let mut run = work.await.0;
            run.name = format!("seed to {} nodes: {}", plan.nodes, run.name);
            vec![run]
        })
        .await;
    }
    let queries = read_queries(&http, &a.url).await;
    for q in &queries {
        let work = crate::read_one(&http, &a.url, q, plan.reads, plan.read_cap);
        measured(&probe, &mut lines, async { vec![work.await] }).await;
    }
    // W7 needs the server's SQLite data directory: a server started here, not on MongoDB.
    if let Some(s) = started.as_ref().filter(|_| a.mongodb_uri.is_none()) {
        let (nodes, secs) = plan.purge;
        let p = crate::purge::Purge {
            url: a.url.clone(),
            token: token.clone(),
            data_dir: s.dir.join("data"),
            server_bin: server_bin(&a),
            nodes,
            baseline: Duration::from_secs(secs),
            queries,
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
    print_table(&lines, began.elapsed());
}

async fn count(http: &reqwest::Client, url: &str) -> usize {
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
