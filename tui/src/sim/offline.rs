//! A revision's whole tree as the simulated pipeline leaves it, made without a server: the
//! same nodes and results for the same seed (the decisions are `plan`'s), with ids and
//! times given by the caller. For the screenshots' fixtures and for bulk loads.
use maestro_common::Timestamp;
use serde_json::{Value, json};

use super::catalog::{self, Size};
use super::nodes::{self, TestResult};
use super::plan;
use super::results::{self, BuildEnd, Dice, JobEnd, Run};
use super::revision::Revision;

/// What to make.
pub struct Offline<'a> {
    /// The dice of `--seed`.
    pub dice: &'a Dice,
    /// How big the checkout grows.
    pub size: Size,
    /// When the checkout was made; the rest follows by minutes.
    pub start: Timestamp,
    /// Base URL of the artifacts.
    pub artifacts: &'a str,
    /// The share of jobs that have reported (1.0: the revision is done); the others are
    /// still `running`, and so are their kbuilds and checkout (`available`).
    pub reported: f64,
}

/// The nodes of `revision`'s tree, parents before children; `next_id` names each.
pub fn revision_tree(
    o: &Offline<'_>,
    revision: &Revision,
    next_id: &mut dyn FnMut() -> String,
) -> Vec<Value> {
    let dice = o.dice;
    let at = |minutes: i64| o.start.plus_seconds(60 * minutes).to_string();
    let run = Run {
        tree: revision.tree.name,
        rev: revision.number,
        retry: 0,
    };
    let mut out = Vec::new();
    let mut checkout = nodes::checkout(
        &revision.kernel_revision(dice),
        &plan::treeid(dice, revision),
        0.0,
    );
    let checkout_id = next_id();
    finish(&mut checkout, &checkout_id, at(0), at(2), &at(360));
    checkout["artifacts"] = json!({"tarball": format!("{}{}/linux-{}.tar.gz.txt", o.artifacts, revision.tree.name, revision.describe)});
    let builds = catalog::builds(o.size);
    let total_jobs: usize = builds.iter().map(|b| b.jobs.len()).sum();
    let reported_jobs = (o.reported * total_jobs as f64).round() as usize;
    let mut job_number = 0;
    let mut all_done = true;
    let checkout_index = out.len();
    out.push(checkout.clone());
    for build in &builds {
        let mut kbuild = nodes::child(
            &checkout,
            "kbuild",
            &build.name(),
            plan::build_data(build),
            0,
            None,
            0.0,
        );
        let kbuild_id = next_id();
        finish(&mut kbuild, &kbuild_id, at(3), at(12), &at(360));
        let end = results::build_end(dice, run, &build.name());
        plan::end_build(&mut kbuild, &end, at(14));
        kbuild["artifacts"] = json!({"build_log": format!("{}{}/{}/build.log", o.artifacts, revision.describe, build.name())});
        let kbuild_index = out.len();
        out.push(kbuild.clone());
        let mut build_done = true;
        if end == BuildEnd::Pass {
            for job in &build.jobs {
                let key = plan::job_key(build, job);
                let mut node = nodes::child(
                    &kbuild,
                    "job",
                    &job.name,
                    plan::job_data(dice, job, &key, &kbuild_id, 0),
                    0,
                    None,
                    0.0,
                );
                let job_id = next_id();
                finish(&mut node, &job_id, at(13), at(25), &at(360));
                node["state"] = json!("running");
                node["result"] = Value::Null;
                job_number += 1;
                if job_number > reported_jobs {
                    build_done = false;
                    out.push(node);
                    continue;
                }
                node["artifacts"] = json!({"lava_log": format!("{}{}/{}/{}/lava_log.txt", o.artifacts, revision.describe, build.name(), job.platform)});
                match results::job_end(dice, run, &key) {
                    JobEnd::Lost => {
                        // Closed by the server's timeout rule.
                        node["state"] = json!("done");
                        node["result"] = json!("incomplete");
                        node["data"]["error_code"] = json!("node_timeout");
                        node["data"]["error_msg"] = json!("Node timed-out");
                        out.push(node);
                    }
                    JobEnd::Incomplete { code, msg } => {
                        plan::end_job_incomplete(&mut node, code, msg);
                        out.push(node);
                    }
                    JobEnd::Complete => {
                        let (cases, outcomes) = plan::job_tests(dice, run, job, &key);
                        let tests: Vec<TestResult<'_>> = cases
                            .iter()
                            .zip(&outcomes)
                            .map(|(path, outcome)| TestResult {
                                path,
                                outcome: *outcome,
                            })
                            .collect();
                        let mut hierarchy = nodes::results_hierarchy(&node, "pass", &tests);
                        set_treeid(&mut hierarchy, &checkout["treeid"]);
                        flatten(&hierarchy, None, next_id, &at(25), &at(360), &mut out);
                    }
                }
            }
        }
        if build_done {
            out[kbuild_index]["state"] = json!("done");
        } else {
            all_done = false;
        }
    }
    if !all_done {
        out[checkout_index]["state"] = json!("available");
    }
    out
}

/// Sets `treeid` on a hierarchy's nodes, as the server copies the root's.
fn set_treeid(h: &mut Value, treeid: &Value) {
    h["node"]["treeid"] = treeid.clone();
    if let Some(children) = h["child_nodes"].as_array_mut() {
        for c in children {
            set_treeid(c, treeid);
        }
    }
}

/// Sets what the server would have: the id, the owner, the times.
fn finish(node: &mut Value, id: &str, created: String, updated: String, timeout: &str) {
    node["id"] = json!(id);
    node["owner"] = json!("kernelci-pipeline");
    node["timeout"] = json!(timeout);
    node["created"] = json!(created);
    node["updated"] = json!(updated);
    node["state"] = json!("done");
    node["result"] = json!("pass");
}

/// The nodes of a submitted hierarchy, each with its parent's id.
fn flatten(
    h: &Value,
    parent: Option<&str>,
    next_id: &mut dyn FnMut() -> String,
    at: &str,
    timeout: &str,
    out: &mut Vec<Value>,
) {
    let mut node = h["node"].clone();
    let id = match node["id"].as_str() {
        Some(id) => id.to_owned(),
        None => {
            let id = next_id();
            let (state, result) = (node["state"].clone(), node["result"].clone());
            finish(&mut node, &id, at.to_owned(), at.to_owned(), timeout);
            node["state"] = state;
            node["result"] = result;
            if let Some(p) = parent {
                node["parent"] = json!(p);
            }
            id
        }
    };
    out.push(node);
    for child in h["child_nodes"].as_array().into_iter().flatten() {
        flatten(child, Some(&id), next_id, at, timeout, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::catalog::TREES;

    #[test]
    fn an_offline_tree_is_whole_and_done() {
        let dice = Dice::new(1);
        let o = Offline {
            dice: &dice,
            size: Size::Typical,
            start: Timestamp::now(),
            artifacts: "http://127.0.0.1:1/",
            reported: 1.0,
        };
        let mut n = 0u32;
        let mut next_id = || {
            n += 1;
            format!("{n:024x}")
        };
        let nodes = revision_tree(&o, &Revision::new(&dice, TREES[0], 1), &mut next_id);
        let ids: std::collections::HashSet<_> = nodes
            .iter()
            .map(|n| n["id"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(ids.len(), nodes.len(), "unique ids");
        for node in &nodes[1..] {
            assert!(
                ids.contains(node["parent"].as_str().unwrap_or("-")),
                "{node}"
            );
        }
        assert!(nodes.iter().all(|n| n["state"] == "done"));
        assert!(nodes.len() > 1_500, "{}", nodes.len());
    }
}
