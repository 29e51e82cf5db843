//! What the simulated services do, each in its own task: the tarball service makes
//! checkouts, the build cluster runs kbuilds, the labs run jobs and submit their results.
//! Durations are at `--rate` 1; the server's life-cycle rules close what is left open.
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::artifacts::segment;
use super::catalog::{Build, Job};
use super::logs::{self, LoggedCase};
use super::nodes::{self, TestResult};
use super::plan;
use super::results::{self, BuildEnd, JobEnd, Run};
use super::revision::Revision;
use super::{BuildCtx, CheckoutCtx, JobCtx, Progress, Sim};

/// Seconds from a checkout to its tarball.
const TARBALL_SECS: f64 = 4.0;
/// A checkout's holdoff once `available`: the scheduler's window to add kbuilds.
const CHECKOUT_HOLDOFF_SECS: f64 = 10.0;
/// A kbuild's holdoff once `available`.
const BUILD_HOLDOFF_SECS: f64 = 5.0;
/// How long a checkout may take before the server times it out.
const CHECKOUT_TIMEOUT_SECS: f64 = 3.0 * 3600.0;
/// How long a kbuild may take.
const BUILD_TIMEOUT_SECS: f64 = 3600.0;

/// Seconds a node may take at `--rate` before the server's timeout rule closes it: `secs`
/// scaled, but never under `MIN_TIMEOUT_SECS`, which a fast rate must not cut into: the
/// server's rules run every few seconds and a loaded server answers in more than the
/// scaled run time, so shorter timeouts would close nodes that are about to report.
fn timeout_secs(sim: &Sim, secs: f64) -> f64 {
    (secs / sim.opts.rate).max(MIN_TIMEOUT_SECS)
}

/// See [`timeout_secs`].
const MIN_TIMEOUT_SECS: f64 = 15.0;

/// A holdoff at `--rate`: `secs` scaled, but at least `MIN_HOLDOFF_SECS`. The holdoff is
/// the scheduler's window to add children after the `available` event; once it passes
/// with none pending, the server closes the node, and children added later would hang
/// under a `done` parent. Events reach the simulator a little after they happen (more
/// under load), so the window cannot shrink with the rate.
fn holdoff_secs(sim: &Sim, secs: f64) -> f64 {
    (secs / sim.opts.rate).max(MIN_HOLDOFF_SECS)
}

/// See [`holdoff_secs`].
const MIN_HOLDOFF_SECS: f64 = 5.0;

/// `tree/branch describe`.
pub(super) fn label(r: &Revision) -> String {
    format!("{}/{} {}", r.tree.name, r.tree.branch, r.describe)
}

/// A retry asked on channel `retry`.
pub(super) struct Retry {
    /// Names of the jobs or kbuilds to run again.
    pub names: Vec<String>,
    /// Boards to run them on (empty: all).
    pub platforms: Vec<String>,
    /// The new `retry_counter`.
    pub counter: u64,
    /// The node it retries.
    pub by: Option<String>,
}

/// Makes `--revisions` new checkouts (or forever), one every `--every` seconds.
pub(super) async fn make_revisions(sim: Arc<Sim>) {
    let limit = sim.opts.revisions.unwrap_or(u64::MAX);
    for (n, revision) in (0..limit).zip(Revision::sequence(sim.dice)) {
        let s = sim.clone();
        sim.tasks.spawn(async move { checkout(s, revision).await });
        let jitter = 0.7 + 0.6 * sim.dice.unit(&["every"], n + 1);
        if !sim.pause(sim.opts.every * jitter).await {
            return;
        }
    }
}

async fn checkout(sim: Arc<Sim>, revision: Revision) {
    let kernel_revision = revision.kernel_revision(&sim.dice);
    let treeid = plan::treeid(&sim.dice, &revision);
    let body = nodes::checkout(
        &kernel_revision,
        &treeid,
        timeout_secs(&sim, CHECKOUT_TIMEOUT_SECS),
    );
    let mut node = match sim.api.create_node(&body).await {
        Ok(n) => n,
        Err(e) => return sim.warn(format!("checkout of {}: {e:#}", label(&revision))),
    };
    let id = node["id"].as_str().unwrap_or_default().to_owned();
    let ctx = Arc::new(CheckoutCtx {
        revision: revision.clone(),
        node: node.clone(),
    });
    if let Ok(mut m) = sim.checkouts.lock() {
        m.insert(id.clone(), ctx);
    }
    sim.tell(Progress::Revision {
        id: id.clone(),
        label: label(&revision),
    });
    let wait = TARBALL_SECS * (0.75 + 0.5 * sim.dice.unit(&["tarball", &id], 0));
    if !sim.pause(wait).await {
        return;
    }
    let dir = format!(
        "{}/{}/{}",
        segment(revision.tree.name),
        segment(revision.tree.branch),
        segment(&revision.describe)
    );
    if sim
        .dice
        .unit(&["checkout-fail", revision.tree.name], revision.number)
        < 0.01
    {
        node["state"] = json!("done");
        node["result"] = json!("fail");
        node["data"]["error_code"] = json!("git_checkout_failure");
        node["data"]["error_msg"] = json!("Failed to init/update git repo");
    } else {
        let tarball = format!(
            "linux-{} ({}), a simulated tarball: the simulator builds nothing.\n",
            revision.describe, revision.commit
        );
        let url = match sim
            .storage
            .put(
                &format!("{dir}/linux-{}.tar.gz.txt", segment(&revision.describe)),
                tarball.as_bytes(),
            )
            .await
        {
            Ok(u) => u,
            Err(e) => return sim.warn(format!("tarball of {}: {e:#}", label(&revision))),
        };
        node["state"] = json!("available");
        node["result"] = json!("pass");
        node["holdoff"] = json!(nodes::in_secs(holdoff_secs(&sim, CHECKOUT_HOLDOFF_SECS)));
        node["artifacts"] = json!({"tarball": url});
    }
    if let Err(e) = sim.api.update_node(&node).await {
        sim.warn(format!("checkout of {}: {e:#}", label(&revision)));
    }
}

/// The scheduler's answer to a checkout that became `available`: its kbuilds.
pub(super) fn schedule_builds(sim: &Arc<Sim>, ctx: &Arc<CheckoutCtx>, checkout_id: &str) {
    let mut parent = ctx.node.clone();
    parent["id"] = json!(checkout_id);
    for build in super::catalog::builds(sim.opts.size) {
        let (s, c, p) = (sim.clone(), ctx.clone(), parent.clone());
        sim.tasks
            .spawn(async move { run_build(s, c, p, build, 0, None).await });
    }
}

/// Runs the kbuilds named in a retry of `ctx`'s checkout again.
pub(super) fn retry_builds(sim: &Arc<Sim>, ctx: &Arc<CheckoutCtx>, asked: &Retry) {
    let parent = ctx.node.clone();
    let mut any = false;
    for build in super::catalog::builds(sim.opts.size) {
        if asked.names.iter().any(|n| *n == build.name()) {
            any = true;
            let (s, c, p, by) = (sim.clone(), ctx.clone(), parent.clone(), asked.by.clone());
            let counter = asked.counter;
            sim.tasks
                .spawn(async move { run_build(s, c, p, build, counter, by).await });
        }
    }
    if !any {
        sim.warn(format!("retry: no kbuild named {:?}", asked.names));
    }
}

async fn run_build(
    sim: Arc<Sim>,
    checkout: Arc<CheckoutCtx>,
    parent: Value,
    build: Build,
    retry: u64,
    retry_by: Option<String>,
) {
    let name = build.name();
    let extra = plan::build_data(&build);
    let body = nodes::child(
        &parent,
        "kbuild",
        &name,
        extra,
        retry,
        retry_by.as_deref(),
        timeout_secs(&sim, BUILD_TIMEOUT_SECS),
    );
    let mut node = match sim.api.create_node(&body).await {
        Ok(n) => n,
        Err(e) => return sim.warn(format!("kbuild {name}: {e:#}")),
    };
    let id = node["id"].as_str().unwrap_or_default().to_owned();
    if let Ok(mut m) = sim.builds.lock() {
        m.insert(
            id.clone(),
            Arc::new(BuildCtx {
                checkout: checkout.clone(),
                build: build.clone(),
            }),
        );
    }
    let slow = if build.defconfig == "allmodconfig" {
        2.0
    } else {
        1.0
    };
    if !sim
        .pause(slow * (6.0 + 10.0 * sim.dice.unit(&["build-time", &id], 0)))
        .await
    {
        return;
    }
    let run = Run {
        tree: checkout.revision.tree.name,
        rev: checkout.revision.number,
        retry,
    };
    let end = results::build_end(&sim.dice, run, &name);
    let rev = &checkout.revision;
    let dir = format!(
        "{}/{}/{}/{}/{}",
        segment(rev.tree.name),
        segment(rev.tree.branch),
        segment(&rev.describe),
        segment(build.arch),
        segment(&format!("{}-{}-{id}", build.config_full(), build.compiler)),
    );
    let log = logs::build_log(&sim.dice, &build, &rev.describe, end == BuildEnd::Fail);
    let mut artifacts = Map::new();
    let stored = async {
        artifacts.insert(
            "build_log".into(),
            json!(
                sim.storage
                    .put(&format!("{dir}/build.log"), log.as_bytes())
                    .await?
            ),
        );
        let config = logs::kernel_config(&build, &rev.describe);
        artifacts.insert(
            "config".into(),
            json!(
                sim.storage
                    .put(&format!("{dir}/.config"), config.as_bytes())
                    .await?
            ),
        );
        if end == BuildEnd::Pass {
            let image = format!(
                "{}: simulated kernel image of {}\n",
                build.kernel_image(),
                rev.describe
            );
            let url = sim
                .storage
                .put(
                    &format!("{dir}/{}.txt", build.kernel_image()),
                    image.as_bytes(),
                )
                .await?;
            artifacts.insert("kernel".into(), json!(url));
        }
        anyhow::Ok(())
    };
    if let Err(e) = stored.await {
        return sim.warn(format!("kbuild {name}: {e:#}"));
    }
    node["artifacts"] = Value::Object(artifacts);
    plan::end_build(
        &mut node,
        &end,
        nodes::in_secs(holdoff_secs(&sim, BUILD_HOLDOFF_SECS)),
    );
    if let Err(e) = sim.api.update_node(&node).await {
        sim.warn(format!("kbuild {name}: {e:#}"));
    }
}

/// The scheduler's answer to a kbuild that became `available` (or a retry): its jobs.
pub(super) fn schedule_jobs(
    sim: &Arc<Sim>,
    ctx: &Arc<BuildCtx>,
    kbuild_id: &str,
    asked: Option<&Retry>,
) {
    let sim2 = sim.clone();
    let (ctx, kbuild_id) = (ctx.clone(), kbuild_id.to_owned());
    let wanted: Vec<Job> = ctx
        .build
        .jobs
        .iter()
        .filter(|j| {
            asked.is_none_or(|r| {
                r.names.contains(&j.name)
                    && (r.platforms.is_empty() || r.platforms.iter().any(|p| p == j.platform))
            })
        })
        .cloned()
        .collect();
    if wanted.is_empty() {
        if let Some(r) = asked {
            sim.warn(format!(
                "retry: no job {:?} on {:?} under kbuild {kbuild_id}",
                r.names, r.platforms
            ));
        }
        return;
    }
    let (counter, by) = asked.map_or((0, None), |r| (r.counter, r.by.clone()));
    sim.tasks.spawn(async move {
        // The parent as the server has it now (the event carries no full node).
        let parent = match sim2.api.node(&kbuild_id).await {
            Ok(p) => p,
            Err(e) => return sim2.warn(format!("jobs of kbuild {kbuild_id}: {e:#}")),
        };
        for job in wanted {
            let (s, c, p, by) = (sim2.clone(), ctx.clone(), parent.clone(), by.clone());
            sim2.tasks
                .spawn(async move { run_job(s, c, p, job, counter, by).await });
        }
    });
}

async fn run_job(
    sim: Arc<Sim>,
    build: Arc<BuildCtx>,
    parent: Value,
    job: Job,
    retry: u64,
    retry_by: Option<String>,
) {
    let kbuild_id = parent["id"].as_str().unwrap_or_default().to_owned();
    let key = plan::job_key(&build.build, &job);
    let rev = &build.checkout.revision;
    let run = Run {
        tree: rev.tree.name,
        rev: rev.number,
        retry,
    };
    let queue = 1.0 + 4.0 * sim.dice.unit(&["queue", &key, &kbuild_id], retry);
    let expected = queue + job.suite.run_secs();
    let extra = plan::job_data(&sim.dice, &job, &key, &kbuild_id, retry);
    let body = nodes::child(
        &parent,
        "job",
        &job.name,
        extra,
        retry,
        retry_by.as_deref(),
        // A lost job is closed by the server this long after it started.
        timeout_secs(&sim, expected * 2.0 + 20.0),
    );
    let mut node = match sim.api.create_node(&body).await {
        Ok(n) => n,
        Err(e) => return sim.warn(format!("job {key}: {e:#}")),
    };
    let id = node["id"].as_str().unwrap_or_default().to_owned();
    if let Ok(mut m) = sim.jobs.lock() {
        m.insert(
            id.clone(),
            JobCtx {
                checkout: build.checkout.clone(),
                arch: build.build.arch,
                platform: job.platform,
                tests: None,
            },
        );
    }
    if !sim.pause(expected).await {
        return;
    }
    let dir = format!(
        "{}/{}/{}/{}/{}/{}",
        segment(rev.tree.name),
        segment(rev.tree.branch),
        segment(&rev.describe),
        segment(build.build.arch),
        segment(&job.name),
        segment(&format!("{}-{id}", job.platform)),
    );
    let end = results::job_end(&sim.dice, run, &key);
    match end {
        JobEnd::Lost => tracing::debug!(%id, "a lost job: the server's timeout closes it"),
        JobEnd::Incomplete { code, msg } => {
            let log = logs::job_log(&job, build.build.arch, &rev.describe, &[], Some(msg));
            match sim
                .storage
                .put(&format!("{dir}/lava_log.txt"), log.as_bytes())
                .await
            {
                Ok(url) => node["artifacts"] = json!({"lava_log": url}),
                Err(e) => sim.warn(format!("job {key}: {e:#}")),
            }
            plan::end_job_incomplete(&mut node, code, msg);
            if let Err(e) = sim.api.update_node(&node).await {
                sim.warn(format!("job {key}: {e:#}"));
            }
        }
        JobEnd::Complete => {
            let (cases, outcomes) = plan::job_tests(&sim.dice, run, &job, &key);
            let names: Vec<String> = cases.iter().map(|c| c.join(".")).collect();
            let logged: Vec<LoggedCase<'_>> = names
                .iter()
                .zip(&outcomes)
                .map(|(name, outcome)| LoggedCase {
                    name,
                    outcome: *outcome,
                })
                .collect();
            let log = logs::job_log(&job, build.build.arch, &rev.describe, &logged, None);
            match sim
                .storage
                .put(&format!("{dir}/lava_log.txt"), log.as_bytes())
                .await
            {
                Ok(url) => node["artifacts"] = json!({"lava_log": url}),
                Err(e) => sim.warn(format!("job {key}: {e:#}")),
            }
            let tests: Vec<TestResult<'_>> = cases
                .iter()
                .zip(&outcomes)
                .map(|(path, outcome)| TestResult {
                    path,
                    outcome: *outcome,
                })
                .collect();
            let counts = plan::counts(&outcomes);
            if let Ok(mut m) = sim.jobs.lock()
                && let Some(j) = m.get_mut(&id)
            {
                j.tests = Some(counts);
            }
            // The lab finished the job: `pass` whatever its tests say, as LAVA reports it.
            let hierarchy = nodes::results_hierarchy(&node, "pass", &tests);
            if let Err(e) = sim.api.submit_results(&hierarchy).await {
                sim.warn(format!("results of job {key}: {e:#}"));
            }
        }
    }
}
