//! What a kbuild or a job of the simulated pipeline records, decided from the dice alone:
//! the fields it adds to its parent's `data`, how it ends, and the tests it reports. The
//! live pipeline and the offline generator (screenshots, bulk loads) share these, so both
//! make the same nodes for the same seed.
use serde_json::{Map, Value, json};

use super::catalog::{Build, Job};
use super::results::{self, BuildEnd, Dice, Outcome, Run};
use super::revision::Revision;
use super::suites::{self, CasePath};

/// A checkout's `treeid`: 64 hex digits, as KernelCI's are (a hash of the tree's state).
pub fn treeid(dice: &Dice, revision: &Revision) -> String {
    (0..4)
        .map(|i| {
            format!(
                "{:016x}",
                dice.hash(&["treeid", revision.tree.name], revision.number * 4 + i)
            )
        })
        .collect()
}

/// The fields a kbuild adds to its checkout's `data`.
pub fn build_data(build: &Build) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("arch".into(), json!(build.arch));
    extra.insert("defconfig".into(), json!(build.defconfig));
    extra.insert("config_full".into(), json!(build.config_full()));
    extra.insert("compiler".into(), json!(build.compiler));
    extra.insert("fragments".into(), json!(build.fragments));
    extra.insert("runtime".into(), json!("k8s-gke-eu-west4"));
    extra.insert("platform".into(), json!("kubernetes"));
    extra
}

/// Sets a finished kbuild's state, result and error from how it ended; `holdoff` is the
/// ISO time a passed build holds off until.
pub fn end_build(node: &mut Value, end: &BuildEnd, holdoff: String) {
    match end {
        BuildEnd::Pass => {
            node["state"] = json!("available");
            node["result"] = json!("pass");
            node["holdoff"] = json!(holdoff);
        }
        BuildEnd::Fail => {
            node["state"] = json!("done");
            node["result"] = json!("fail");
        }
        BuildEnd::Incomplete => {
            node["state"] = json!("done");
            node["result"] = json!("incomplete");
            node["data"]["error_code"] = json!("Infrastructure");
            node["data"]["error_msg"] = json!("the build pod was evicted: node out of memory");
        }
    }
}

/// What names a job's results across revisions: its kbuild, name and board.
pub fn job_key(build: &Build, job: &Job) -> String {
    format!("{}/{}/{}", build.name(), job.name, job.platform)
}

/// The fields a job adds to its kbuild's `data`; `kbuild_id` and `retry` pick its lab
/// job number.
pub fn job_data(
    dice: &Dice,
    job: &Job,
    key: &str,
    kbuild_id: &str,
    retry: u64,
) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("platform".into(), json!(job.platform));
    extra.insert("runtime".into(), json!(job.runtime));
    let lab_job = 1_000_000 + dice.hash(&["lab-job", key, kbuild_id], retry) % 9_000_000;
    extra.insert("job_id".into(), json!(lab_job.to_string()));
    extra
}

/// Sets a job its lab failed to `done`/`incomplete` with the lab's error.
pub fn end_job_incomplete(node: &mut Value, code: &str, msg: &str) {
    node["state"] = json!("done");
    node["result"] = json!("incomplete");
    node["data"]["error_code"] = json!(code);
    node["data"]["error_msg"] = json!(msg);
}

/// The tests job `key` reports in `run`, with their results.
pub fn job_tests(dice: &Dice, run: Run<'_>, job: &Job, key: &str) -> (Vec<CasePath>, Vec<Outcome>) {
    let cases = suites::cases(&job.suite);
    let outcomes = cases
        .iter()
        .map(|c| results::test_outcome(dice, run, job.platform, &format!("{key}/{}", c.join("."))))
        .collect();
    (cases, outcomes)
}

/// Pass, fail and skip counts of `outcomes`.
pub fn counts(outcomes: &[Outcome]) -> [usize; 3] {
    let count = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
    [
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::Skip),
    ]
}
