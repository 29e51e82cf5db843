//! W1 with the simulator as the load generator: `--revisions N` checkouts of `--size`
//! grown by the simulated pipeline at `--speed` (a speed factor; 1000 makes every simulated
//! delay a millisecond or two, so the server is the limit), each closed by the server's
//! life-cycle rules. Reports wall time to every revision done, nodes/s, and the events the
//! pipeline's own subscription saw.
use std::time::Instant;

use maestro_tui::sim::{self, Progress, SimOptions, catalog::Size};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The run's parameters.
pub struct Pipeline {
    pub url: String,
    pub admin_token: String,
    pub revisions: u64,
    pub size: Size,
    pub speed: f64,
}

/// Runs the pipeline; the run's figures (no per-request latencies: the simulator makes the
/// requests) with the nodes it wrote.
pub async fn run(p: Pipeline) -> crate::stats::Run {
    let base = url::Url::parse(&format!("{}/", p.url)).expect("--url");
    let token = maestro_tui::demo::pipeline_user(&base, &p.admin_token)
        .await
        .expect("making the pipeline user (a fresh server is needed)");
    let api = sim::api::Api::new(base, token).expect("client");
    let before = api.count(&[]).await.unwrap_or(0);
    let opts = SimOptions {
        revisions: Some(p.revisions),
        rate: p.speed,
        size: p.size,
        seed: 1,
        every: 1.0,
        ..SimOptions::default()
    };
    let stop = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let running = tokio::spawn(sim::run(api.clone(), opts, stop.clone(), tx));
    let (mut done, mut jobs, mut tests, mut warnings) = (0, 0, 0usize, 0);
    while let Some(progress) = rx.recv().await {
        match progress {
            Progress::RevisionDone { label, .. } => {
                done += 1;
                println!("{:>8.2} s  done {label}", started.elapsed().as_secs_f64());
                if done == p.revisions {
                    break;
                }
            }
            Progress::JobDone { tests: t, .. } => {
                jobs += 1;
                tests += t.map_or(0, |[a, b, c]| a + b + c);
            }
            Progress::Warning(w) => {
                warnings += 1;
                eprintln!("warning: {w}");
            }
            _ => {}
        }
    }
    let wall = started.elapsed();
    stop.cancel();
    running.await.expect("simulator").expect("simulator run");
    let nodes = api.count(&[]).await.unwrap_or(0).saturating_sub(before);
    println!(
        "{} revisions ({:?}) at speed {}: {:.2} s wall, {nodes} nodes ({:.0} nodes/s), {jobs} jobs, {tests} tests reported, {warnings} warnings",
        p.revisions,
        p.size,
        p.speed,
        wall.as_secs_f64(),
        nodes as f64 / wall.as_secs_f64(),
    );
    let name = format!("W1: pipeline, {} {:?} revision(s)", p.revisions, p.size);
    crate::stats::Run::new(name, Vec::new(), wall, usize::try_from(nodes).unwrap_or(0))
}
