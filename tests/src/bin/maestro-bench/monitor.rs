//! W8: the monitor on a 15,000-node revision receiving 100 events/s. Seeds the revision
//! through hierarchy PUTs, then drives the real `App` headless (a 200x60 `TestBackend`) the
//! way its run loop does (redraw at most every 33 ms, only when something changed) while a
//! load task PATCHes random tests, and a key press arrives every 100 ms. Reports the time
//! to the first screen of the revision, frame render times, key-to-screen latency,
//! redraws per second and the process's resident memory.
use std::time::{Duration, Instant};

use maestro_tui::action::Action;
use maestro_tui::app::{App, FRAME_INTERVAL};
use maestro_tui::config::{Config, Secret};
use maestro_tui::state::Pane;
use maestro_tui::ui::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

/// What to run.
pub struct Monitor {
    /// Server base URL.
    pub url: String,
    /// Admin token.
    pub token: String,
    /// Nodes in the revision (about).
    pub nodes: usize,
    /// Events per second of the load.
    pub rate: u64,
    /// How long the load runs.
    pub seconds: u64,
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

async fn call(
    http: &reqwest::Client,
    m: reqwest::Method,
    url: String,
    token: &str,
    body: Value,
) -> Value {
    let r = http
        .request(m, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {v}");
    v
}

/// Seeds one revision of about `nodes` nodes: 30 kbuilds, 5 jobs each, each job a
/// hierarchy PUT of suites of 14 tests. Returns the test ids.
async fn seed(m: &Monitor, http: &reqwest::Client) -> Vec<String> {
    let commit = format!("{:040x}", rand::random::<u128>());
    let kr = json!({"tree": "bench", "branch": "w8", "commit": commit, "describe": "v6.13-w8",
        "url": "https://git.kernel.org/x.git"});
    let post = |body: Value| {
        call(
            http,
            reqwest::Method::POST,
            format!("{}/latest/node", m.url),
            &m.token,
            body,
        )
    };
    let checkout = post(
        json!({"kind": "checkout", "name": "checkout", "path": ["checkout"],
        "data": {"kernel_revision": kr}}),
    )
    .await;
    let per_job = (m.nodes / 150).max(15);
    let suites = per_job.div_ceil(15);
    let mut tests = Vec::new();
    for k in 0..30 {
        let kname = format!("kbuild-gcc-12-{k}");
        let kb = post(json!({"kind": "kbuild", "name": kname, "parent": checkout["id"],
            "path": ["checkout", kname], "state": "done", "result": "pass",
            "data": {"kernel_revision": kr, "arch": "x86_64", "config_full": format!("config-{k}")}})).await;
        for j in 0..5 {
            let jname = format!("baseline-platform-{j}");
            let mut job = post(json!({"kind": "job", "name": jname, "parent": kb["id"],
                "path": ["checkout", kname, jname],
                "data": {"kernel_revision": kr, "platform": format!("platform-{j}"), "runtime": "lava-x"}})).await;
            let children: Vec<Value> = (0..suites)
                .map(|s| {
                    let sname = format!("suite-{s}");
                    let leaves: Vec<Value> = (0..14)
                        .map(|t| json!({"node": {"kind": "test", "name": format!("case-{t}"),
                            "path": ["checkout", kname, jname, sname, format!("case-{t}")],
                            "state": "done", "result": if (s + t) % 9 == 0 { "fail" } else { "pass" },
                            "data": {"kernel_revision": kr, "platform": format!("platform-{j}")}},
                            "child_nodes": []}))
                        .collect();
                    json!({"node": {"kind": "test", "name": sname, "path": ["checkout", kname, jname, sname],
                        "state": "done", "result": "pass", "data": {"kernel_revision": kr}}, "child_nodes": leaves})
                })
                .collect();
            job["state"] = json!("done");
            job["result"] = json!("pass");
            let id = job["id"].as_str().unwrap_or_default().to_owned();
            call(
                http,
                reqwest::Method::PUT,
                format!("{}/latest/nodes/{id}", m.url),
                &m.token,
                json!({"node": job, "child_nodes": children}),
            )
            .await;
        }
    }
    // The test ids, for the load.
    let q = [
        ("data.kernel_revision.commit", commit.as_str()),
        ("kind", "test"),
        ("limit", "100000"),
    ];
    let all: Vec<Value> = http
        .get(format!("{}/latest/nodes/fast", m.url))
        .query(&q)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list body");
    tests.extend(
        all.iter()
            .filter_map(|n| n["id"].as_str().map(str::to_owned)),
    );
    tests
}

/// Seeds the revision, then measures in a fresh process of this binary, so that the
/// memory figure is the monitor's and not the seeding's. Returns the measurement's `W8:`
/// lines (printed as they come), for a summary.
pub async fn run(m: Monitor) -> Vec<String> {
    let http = reqwest::Client::new();
    let t = Instant::now();
    let tests = seed(&m, &http).await;
    println!(
        "seeded {} tests in {:.1}s",
        tests.len(),
        t.elapsed().as_secs_f64()
    );
    let ids = std::env::temp_dir().join(format!("maestro-w8-{}.ids", std::process::id()));
    std::fs::write(&ids, tests.join("\n")).expect("writing the test ids");
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("own path"));
    cmd.args(["--url", &m.url, "monitor-measure"])
        .args([
            "--rate",
            &m.rate.to_string(),
            "--seconds",
            &m.seconds.to_string(),
        ])
        .env("MAESTRO_BENCH_TOKEN", &m.token)
        .env("MAESTRO_BENCH_IDS", &ids)
        .stdout(std::process::Stdio::piped());
    let measured = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut child = cmd.spawn().expect("running the measurement");
        let out = child.stdout.take().expect("the measurement's output");
        let mut figures = Vec::new();
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if line.starts_with("W8:") {
                figures.push(line);
            }
        }
        (child.wait().expect("the measurement"), figures)
    });
    let (status, figures) = measured.await.expect("the measurement's reader");
    let _ = std::fs::remove_file(&ids);
    assert!(status.success(), "the measurement failed");
    figures
}

/// The measuring half of [`run`]: the monitor on the newest revision, under load.
pub async fn measure(m: Monitor) {
    let http = reqwest::Client::new();
    let ids = std::env::var("MAESTRO_BENCH_IDS").expect("MAESTRO_BENCH_IDS");
    let tests: Vec<String> = std::fs::read_to_string(ids)
        .expect("the test ids")
        .lines()
        .map(str::to_owned)
        .collect();
    let rss_before = rss_mib();
    let cfg = Config {
        url: maestro_tui::config::parse_base_url(&m.url).expect("url"),
        token: Some(Secret::new(m.token.clone())),
        read_only: false,
        server_name: None,
        mouse: false,
    };
    let mut app = App::new(&cfg, Theme { color: true });
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    app.start();
    app.run_until(Duration::from_secs(30), |s| !s.revisions.is_empty())
        .await;
    // The bench revision is the newest.
    let opened = Instant::now();
    app.handle(Action::Activate);
    app.run_until(Duration::from_secs(30), |s| {
        s.open.as_ref().is_some_and(|o| !o.forest.is_empty())
    })
    .await;
    let _ = app.draw(&mut term);
    let first_screen = opened.elapsed();
    app.run_until(Duration::from_secs(60), |s| {
        s.open.as_ref().is_some_and(|o| !o.loading)
    })
    .await;
    let loaded = opened.elapsed();
    let nodes = app.state.open.as_ref().map_or(0, |o| o.forest.len());
    // Expand down to a job and its suites, so that live rows are on screen.
    app.state.focus = Pane::Tree;
    for a in [
        Action::MoveDown,
        Action::Expand,
        Action::MoveDown,
        Action::Expand,
        Action::MoveDown,
        Action::Expand,
    ] {
        app.handle(a);
    }

    // The load: m.rate PATCHes per second on random tests.
    let load = {
        let (http, url, token, rate, secs) = (
            http.clone(),
            m.url.clone(),
            m.token.clone(),
            m.rate,
            m.seconds,
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            let end = Instant::now() + Duration::from_secs(secs);
            let mut sent = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                let id = &tests[rand::random::<usize>() % tests.len()];
                let result = if rand::random::<bool>() {
                    "pass"
                } else {
                    "fail"
                };
                let _ = http
                    .patch(format!("{url}/latest/node/{id}"))
                    .bearer_auth(&token)
                    .json(&json!({"result": result}))
                    .send()
                    .await;
                sent += 1;
            }
            sent
        })
    };

    let mut frames = Vec::new();
    let mut keys = Vec::new();
    let mut pending_key: Option<Instant> = None;
    let mut next_key = Instant::now() + Duration::from_millis(100);
    let mut next_frame = Instant::now();
    let mut dirty = true;
    let mut draws = 0u64;
    let start = Instant::now();
    let mut peak = rss_mib();
    while start.elapsed() < Duration::from_secs(m.seconds) {
        let now = Instant::now();
        if now >= next_key {
            app.handle(Action::MoveDown);
            pending_key.get_or_insert(now);
            next_key = now + Duration::from_millis(100);
            dirty = true;
        }
        if dirty && now >= next_frame {
            let t0 = Instant::now();
            let _ = app.draw(&mut term);
            frames.push(t0.elapsed());
            draws += 1;
            if let Some(k) = pending_key.take() {
                keys.push(k.elapsed());
            }
            dirty = false;
            next_frame = Instant::now() + FRAME_INTERVAL;
        }
        let until = next_key.min(if dirty { next_frame } else { next_key });
        let wait = until.saturating_duration_since(Instant::now());
        if app.step(wait).await > 0 {
            dirty = true;
        }
        peak = peak.max(rss_mib());
    }
    let sent = load.await.unwrap_or(0);
    let wall = start.elapsed().as_secs_f64();
    println!(
        "W8: {nodes} nodes in the tree; first screen {:.0} ms after selecting, fully loaded in {:.0} ms",
        first_screen.as_secs_f64() * 1e3,
        loaded.as_secs_f64() * 1e3
    );
    println!(
        "W8: {sent} PATCHes in {wall:.1}s ({:.0}/s); {} events shown; {draws} redraws ({:.1}/s, at most {:.0}/s allowed)",
        sent as f64 / wall,
        app.state.events.len(),
        draws as f64 / wall,
        1.0 / FRAME_INTERVAL.as_secs_f64()
    );
    println!(
        "W8: frame render p50 {:.2} ms, p99 {:.2} ms; key-to-screen p50 {:.1} ms, p99 {:.1} ms ({} keys)",
        pct(&mut frames.clone(), 0.5),
        pct(&mut frames, 0.99),
        pct(&mut keys.clone(), 0.5),
        pct(&mut keys, 0.99),
        keys.len()
    );
    println!(
        "W8: RSS {rss_before:.0} MiB at start, peak {peak:.0} MiB (the monitor and its load task)"
    );
}
