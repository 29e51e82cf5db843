//! The nodes the simulated pipeline sends, in the JSON KernelCI's services send: checkouts,
//! kbuilds, jobs, and a job's results as the hierarchy `APIHelper.submit_results` PUTs.
use std::collections::BTreeMap;

use maestro_common::Timestamp;
use serde_json::{Map, Value, json};

use super::results::Outcome;
use super::suites::CasePath;

/// An ISO timestamp `secs` from now (the API's datetime format).
pub fn in_secs(secs: f64) -> String {
    Timestamp::now()
        .plus_seconds(secs.round() as i64)
        .to_string()
}

/// A new checkout of `kernel_revision`, `running`.
pub fn checkout(kernel_revision: &Value, treeid: &str, timeout_secs: f64) -> Value {
    json!({
        "kind": "checkout",
        "name": "checkout",
        "path": ["checkout"],
        "group": null,
        "state": "running",
        "result": null,
        "data": {"kernel_revision": kernel_revision},
        "artifacts": {},
        "treeid": treeid,
        "submitter": "service:pipeline",
        "timeout": in_secs(timeout_secs),
    })
}

/// A new child of `parent` (a kbuild of a checkout, a job of a kbuild), `running`, with
/// the parent's `data` and `extra` over it.
pub fn child(
    parent: &Value,
    kind: &str,
    name: &str,
    extra: Map<String, Value>,
    retry: u64,
    retry_by: Option<&str>,
    timeout_secs: f64,
) -> Value {
    let mut path: Vec<Value> = parent["path"].as_array().cloned().unwrap_or_default();
    path.push(json!(name));
    let mut data = parent["data"].as_object().cloned().unwrap_or_default();
    data.remove("error_code");
    data.remove("error_msg");
    data.extend(extra);
    let mut node = json!({
        "kind": kind,
        "name": name,
        "path": path,
        "parent": parent["id"],
        "group": if kind == "job" { json!(name) } else { Value::Null },
        "state": "running",
        "result": null,
        "data": data,
        "artifacts": {},
        "treeid": parent["treeid"],
        "submitter": parent["submitter"],
        "timeout": in_secs(timeout_secs),
        "retry_counter": retry,
    });
    if let Some(by) = retry_by {
        node["debug"] = json!({"retry_by": by});
    }
    node
}

/// A test result below a job.
pub struct TestResult<'a> {
    /// Its path below the job.
    pub path: &'a CasePath,
    /// What it reported.
    pub outcome: Outcome,
}

/// The hierarchy a finished job PUTs to `/nodes/{job id}`: the job itself (`done`, with
/// `result`), and its tests nested in their groups. A group fails when a test in it fails,
/// is skipped when all its tests were, and passes otherwise.
pub fn results_hierarchy(job: &Value, result: &str, tests: &[TestResult<'_>]) -> Value {
    let mut root = job.clone();
    root["state"] = json!("done");
    root["result"] = json!(result);
    let mut groups = Group::default();
    for t in tests {
        groups.insert(t.path, t.outcome);
    }
    let job_path: Vec<String> = job["path"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let test_data = job["data"].clone();
    let group_name = job["name"].clone();
    json!({
        "node": root,
        "child_nodes": groups.children_json(&job_path, &test_data, &group_name),
    })
}

/// A group of tests being assembled: its tests and subgroups by name, in report order.
#[derive(Default)]
struct Group {
    order: Vec<String>,
    entries: BTreeMap<String, Entry>,
}

enum Entry {
    Test(Outcome),
    Group(Group),
}

impl Group {
    fn insert(&mut self, path: &[String], outcome: Outcome) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if !self.entries.contains_key(first) {
            self.order.push(first.clone());
            let entry = if rest.is_empty() {
                Entry::Test(outcome)
            } else {
                Entry::Group(Group::default())
            };
            self.entries.insert(first.clone(), entry);
        }
        if let Some(Entry::Group(g)) = self.entries.get_mut(first) {
            g.insert(rest, outcome);
        }
    }

    fn outcome(&self) -> Outcome {
        let outcomes: Vec<Outcome> = self
            .entries
            .values()
            .map(|e| match e {
                Entry::Test(o) => *o,
                Entry::Group(g) => g.outcome(),
            })
            .collect();
        if outcomes.contains(&Outcome::Fail) {
            Outcome::Fail
        } else if !outcomes.is_empty() && outcomes.iter().all(|o| *o == Outcome::Skip) {
            Outcome::Skip
        } else {
            Outcome::Pass
        }
    }

    fn children_json(&self, path: &[String], data: &Value, group: &Value) -> Vec<Value> {
        self.order
            .iter()
            .filter_map(|name| self.entries.get(name).map(|e| (name, e)))
            .map(|(name, entry)| {
                let mut node_path = path.to_vec();
                node_path.push(name.clone());
                let (outcome, children) = match entry {
                    Entry::Test(o) => (*o, Vec::new()),
                    Entry::Group(g) => (g.outcome(), g.children_json(&node_path, data, group)),
                };
                json!({
                    "node": {
                        "kind": "test",
                        "name": name,
                        "path": node_path,
                        "group": group,
                        "state": "done",
                        "result": outcome.as_str(),
                        "data": data,
                    },
                    "child_nodes": children,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_nest_in_their_groups_with_their_results() {
        let job = json!({"id": "j", "name": "kunit", "path": ["checkout", "kb", "kunit"],
            "data": {"platform": "kubernetes"}, "state": "running"});
        let paths: Vec<CasePath> = [
            ["exec", "list", "a"],
            ["exec", "list", "b"],
            ["exec", "hash", "c"],
        ]
        .iter()
        .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
        .collect();
        let tests = [
            TestResult {
                path: &paths[0],
                outcome: Outcome::Pass,
            },
            TestResult {
                path: &paths[1],
                outcome: Outcome::Fail,
            },
            TestResult {
                path: &paths[2],
                outcome: Outcome::Skip,
            },
        ];
        let h = results_hierarchy(&job, "pass", &tests);
        assert_eq!(h["node"]["state"], "done");
        let exec = &h["child_nodes"][0];
        assert_eq!(exec["node"]["name"], "exec");
        assert_eq!(exec["node"]["result"], "fail");
        assert_eq!(
            exec["node"]["path"],
            json!(["checkout", "kb", "kunit", "exec"])
        );
        let list = &exec["child_nodes"][0];
        assert_eq!(list["node"]["result"], "fail");
        assert_eq!(list["child_nodes"][1]["node"]["name"], "b");
        assert_eq!(
            list["child_nodes"][1]["node"]["path"],
            json!(["checkout", "kb", "kunit", "exec", "list", "b"])
        );
        assert_eq!(
            exec["child_nodes"][1]["node"]["result"], "skip",
            "all skipped"
        );
        assert_eq!(exec["child_nodes"][1]["node"]["group"], "kunit");
    }
}
