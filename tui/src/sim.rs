//! `maestro sim`: a simulated KernelCI pipeline. A real API client with its own token that
//! makes checkouts of real trees and then, driven by the server's events as KernelCI's
//! scheduler is (a durable subscription and `/listen`), their kbuilds, jobs and test
//! results; it serves the logs it links to and re-runs what is asked on channel `retry`.
//! The demo runs it, and the benchmarks use it as their load generator.
pub mod api;
pub mod artifacts;
pub mod catalog;
pub mod logs;
pub mod nodes;
pub mod offline;
mod pipeline;
pub mod plan;
mod react;
pub mod report;
pub mod results;
pub mod revision;
pub mod suites;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::api::Api;
use self::artifacts::Storage;
use self::catalog::{Build, Size};
use self::results::Dice;
use self::revision::Revision;

/// The simulator's options (`maestro sim`, `maestro demo`).
#[derive(Clone, Debug, clap::Args)]
pub struct SimOptions {
    /// Make this many revisions, then only finish them (default: keep making them).
    #[arg(long, value_name = "N")]
    pub revisions: Option<u64>,
    /// Speed factor: 2 runs everything twice as fast (builds, jobs, holdoffs, timeouts).
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub rate: f64,
    /// How big a checkout grows: small (~150 nodes), typical (~2,000), big (~15,000).
    #[arg(long, value_enum, default_value = "typical")]
    pub size: Size,
    /// Seed of every result and name: the same seed makes the same revisions and results.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds between new revisions at --rate 1.
    #[arg(long, default_value_t = 40.0, value_name = "SECS", value_parser = positive)]
    pub every: f64,
    /// Where the artifacts are written (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// Address of the artifact server (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub artifacts_bind: SocketAddr,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            revisions: None,
            rate: 1.0,
            size: Size::Typical,
            seed: 1,
            every: 40.0,
            artifacts_dir: None,
            artifacts_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// What the simulator tells its runner (the headless demo prints it).
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// The artifact server is up.
    Serving {
        /// Its URL.
        url: String,
    },
    /// A new checkout was made.
    Revision {
        /// The checkout's id.
        id: String,
        /// `tree/branch describe`.
        label: String,
    },
    /// A job ended (reported, failed by its lab, or timed out by the server).
    JobDone {
        /// The job's id.
        id: String,
        /// Its checkout's id.
        checkout: String,
        /// `name on platform (arch)`.
        label: String,
        /// Its result.
        result: String,
        /// Its `data.error_code`.
        error_code: Option<String>,
        /// Test counts it reported: pass, fail, skip.
        tests: Option<[usize; 3]>,
    },
    /// A checkout (and so its whole tree) is done.
    RevisionDone {
        /// The checkout's id.
        id: String,
        /// `tree/branch describe`.
        label: String,
    },
    /// Something went wrong that the run survives.
    Warning(String),
}

/// A checkout the simulator made.
struct CheckoutCtx {
    revision: Revision,
    node: Value,
}

/// A kbuild the simulator made.
struct BuildCtx {
    checkout: Arc<CheckoutCtx>,
    build: Build,
}

/// A job the simulator made.
struct JobCtx {
    checkout: Arc<CheckoutCtx>,
    arch: &'static str,
    platform: &'static str,
    /// Test counts once it reported.
    tests: Option<[usize; 3]>,
}

/// The running simulator, shared by its tasks.
struct Sim {
    api: Api,
    dice: Dice,
    opts: SimOptions,
    owner: String,
    storage: Storage,
    stop: CancellationToken,
    tasks: TaskTracker,
    progress: mpsc::UnboundedSender<Progress>,
    checkouts: Mutex<HashMap<String, Arc<CheckoutCtx>>>,
    builds: Mutex<HashMap<String, Arc<BuildCtx>>>,
    jobs: Mutex<HashMap<String, JobCtx>>,
}

impl Sim {
    /// Seconds at `--rate` for `secs` at rate 1.
    fn scaled(&self, secs: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64((secs / self.opts.rate).max(0.01))
    }

    /// Sleeps `secs` (at rate 1), or answers false when stopped first.
    async fn pause(&self, secs: f64) -> bool {
        tokio::select! {
            () = tokio::time::sleep(self.scaled(secs)) => true,
            () = self.stop.cancelled() => false,
        }
    }

    fn tell(&self, p: Progress) {
        let _ = self.progress.send(p);
    }

    fn warn(&self, what: impl std::fmt::Display) {
        let text = what.to_string();
        tracing::warn!("{text}");
        self.tell(Progress::Warning(text));
    }
}

/// Runs the simulator against `api` until `stop` (or until `--revisions` are made and it
/// is stopped): subscribes, makes revisions, reacts to events. Answers when every task has
/// ended.
pub async fn run(
    api: Api,
    opts: SimOptions,
    stop: CancellationToken,
    progress: mpsc::UnboundedSender<Progress>,
) -> anyhow::Result<()> {
    let whoami = api
        .call(reqwest::Method::GET, "whoami", None)
        .await
        .context("the simulator's token was refused")?;
    let owner = whoami["username"]
        .as_str()
        .context("/whoami has no username")?
        .to_owned();
    let (_temp, dir) = match &opts.artifacts_dir {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::tempdir().context("cannot make a temporary directory")?;
            let p = t.path().to_owned();
            (Some(t), p)
        }
    };
    let storage = Storage::serve(&dir, opts.artifacts_bind, stop.clone()).await?;
    let _ = progress.send(Progress::Serving {
        url: storage.base().to_string(),
    });
    let sim = Arc::new(Sim {
        api,
        dice: Dice::new(opts.seed),
        opts,
        owner,
        storage,
        stop: stop.clone(),
        tasks: TaskTracker::new(),
        progress,
        checkouts: Mutex::default(),
        builds: Mutex::default(),
        jobs: Mutex::default(),
    });
    let node_sub = react::Subscription::open(&sim, "node").await?;
    let retry_sub = react::Subscription::open(&sim, "retry").await?;
    sim.tasks
        .spawn(react::listen(sim.clone(), node_sub.clone()));
    sim.tasks
        .spawn(react::listen(sim.clone(), retry_sub.clone()));
    sim.tasks.spawn(pipeline::make_revisions(sim.clone()));
    stop.cancelled().await;
    sim.tasks.close();
    sim.tasks.wait().await;
    for sub in [node_sub, retry_sub] {
        sub.close(&sim).await;
    }
    Ok(())
}
