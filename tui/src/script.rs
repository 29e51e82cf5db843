//! The non-interactive commands: `maestro watch NODE_ID` (follow a node's subtree until it
//! is done, exit with its outcome) and `maestro events` (the live feed on stdout).
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use maestro_common::ws::StreamFilter;
use maestro_common::{NodeResult, NodeState};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::action::Action;
use crate::client::{Client, ClientError};
use crate::model::{Counts, NodeSummary};

/// Exit codes of `maestro watch`.
pub mod exit {
    /// Everything passed.
    pub const PASS: i32 = 0;
    /// Something failed.
    pub const FAIL: i32 = 1;
    /// Something was incomplete (or an infrastructure error), or `--timeout` passed.
    pub const INCOMPLETE: i32 = 2;
    /// The server could not be reached, or refused the token.
    pub const UNREACHABLE: i32 = 3;
}

/// The nodes of a watched subtree.
#[derive(Debug, Default)]
struct Subtree {
    nodes: HashMap<String, NodeSummary>,
}

impl Subtree {
    fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for n in self.nodes.values() {
            c.add(n.status(), 1);
        }
        c
    }

    fn done(&self) -> bool {
        !self.nodes.is_empty() && self.nodes.values().all(|n| n.state == NodeState::Done)
    }

    fn outcome(&self) -> i32 {
        let any = |r: NodeResult| self.nodes.values().any(|n| n.result == Some(r));
        if any(NodeResult::Fail) {
            exit::FAIL
        } else if any(NodeResult::Incomplete) {
            exit::INCOMPLETE
        } else {
            exit::PASS
        }
    }
}

/// Loads `root` and every descendant, level by level (`parent=` queries).
async fn load_subtree(c: &Client, root: &str, into: &mut Subtree) -> Result<bool, ClientError> {
    let Some(node) = c.node(root).await? else {
        return Ok(false);
    };
    into.nodes.insert(root.to_owned(), NodeSummary::of(&node));
    let mut level = vec![root.to_owned()];
    while let Some(parent) = level.pop() {
        let q = vec![("parent".to_owned(), parent)];
        let mut offset = 0;
        loop {
            let (page, _) = c.nodes(&q, offset, 1_000).await?;
            let n = page.len() as u64;
            for child in page {
                let s = NodeSummary::of(&child);
                level.push(s.id.clone());
                into.nodes.insert(s.id.clone(), s);
            }
            if n < 1_000 {
                break;
            }
            offset += n;
        }
    }
    Ok(true)
}

fn summary_text(root: &str, t: &Subtree) -> String {
    let c = t.counts();
    format!(
        "{root}: {} nodes, {} pass, {} fail, {} incomplete, {} skip, {} not done",
        t.nodes.len(),
        c.pass,
        c.fail,
        c.incomplete,
        c.skip,
        c.running
    )
}

fn summary_json(root: &str, t: &Subtree, outcome: &str) -> Value {
    let c = t.counts();
    json!({"node": root, "outcome": outcome, "nodes": t.nodes.len(), "pass": c.pass,
           "fail": c.fail, "incomplete": c.incomplete, "skip": c.skip, "not_done": c.running})
}

/// `maestro watch`: answers the exit code.
pub async fn watch(c: Client, root: String, as_json: bool, timeout: Option<Duration>) -> i32 {
    let mut out = std::io::stdout();
    let mut tree = Subtree::default();
    match load_subtree(&c, &root, &mut tree).await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("maestro watch: no node {root}");
            return exit::UNREACHABLE;
        }
        Err(e) => {
            eprintln!("maestro watch: {e}");
            return exit::UNREACHABLE;
        }
    }
    let (tx, mut rx) = mpsc::channel(1_024);
    let stream = tokio::spawn(crate::stream::run(
        c.clone(),
        None,
        StreamFilter::default(),
        tx,
    ));
    // Changes between the snapshot and the subscription: one reload after it is live.
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut reloaded = false;
    let code = loop {
        if tree.done() {
            break tree.outcome();
        }
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                Ok(a) => a,
                Err(_) => {
                    let _ = writeln!(out, "timed out: {}", summary_text(&root, &tree));
                    break exit::INCOMPLETE;
                }
            },
            None => rx.recv().await,
        };
        let Some(action) = next else {
            break exit::UNREACHABLE;
        };
        match action {
            Action::Connection(
                crate::state::ConnState::Live
                | crate::state::ConnState::LongPoll
                | crate::state::ConnState::Polling,
            ) if !reloaded => {
                reloaded = true;
                if let Err(e) = load_subtree(&c, &root, &mut tree).await {
                    eprintln!("maestro watch: {e}");
                }
            }
            Action::NodeChanged { event, .. } => {
                let known = tree.nodes.contains_key(&event.id);
                if !known && event.op != "created" {
                    continue;
                }
                // A node the subtree does not have yet: in it if its parent is.
                let Ok(Some(node)) = c.node(&event.id).await else {
                    continue;
                };
                let s = NodeSummary::of(&node);
                let inside = known
                    || s.parent
                        .as_ref()
                        .is_some_and(|p| tree.nodes.contains_key(p));
                if !inside {
                    continue;
                }
                if event.is_hierarchy {
                    let _ = load_subtree(&c, &event.id, &mut tree).await;
                }
                let line = if as_json {
                    json!({"id": s.id, "kind": s.kind, "name": s.name, "state": s.state.as_str(),
                           "result": s.result.map(NodeResult::as_str)})
                    .to_string()
                } else {
                    format!(
                        "{} {} {} {}",
                        s.status().glyph(),
                        s.kind,
                        s.name,
                        s.result.map_or(s.state.as_str(), NodeResult::as_str)
                    )
                };
                let _ = writeln!(out, "{line}");
                tree.nodes.insert(s.id.clone(), s);
            }
            _ => {}
        }
    };
    stream.abort();
    let outcome = match code {
        exit::PASS => "pass",
        exit::FAIL => "fail",
        exit::INCOMPLETE => "incomplete",
        _ => "unreachable",
    };
    if as_json {
        let _ = writeln!(out, "{}", summary_json(&root, &tree, outcome));
    } else {
        let _ = writeln!(out, "{outcome}: {}", summary_text(&root, &tree));
    }
    code
}

/// Parses `--filter k=v` into the stream's server-side filter.
pub fn parse_filters(pairs: &[String]) -> Result<StreamFilter, String> {
    let mut f = StreamFilter::default();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--filter {p}: use key=value"))?;
        let v = v.to_owned();
        match k {
            "kind" => f.kind = Some(v),
            "state" => f.state = Some(v),
            "result" => f.result = Some(v),
            "owner" => f.owner = Some(v),
            "name" => f.name = Some(v),
            "treeid" => f.treeid = Some(v),
            other => match other.strip_prefix("data.") {
                Some(path) => {
                    f.data.insert(path.to_owned(), Value::String(v));
                }
                None => {
                    return Err(format!(
                        "--filter {p}: the keys are kind, state, result, owner, name, treeid \
                         and data.<path>"
                    ));
                }
            },
        }
    }
    Ok(f)
}

/// `maestro events`: prints the feed until interrupted; answers the exit code.
pub async fn events(c: Client, filter: StreamFilter, since: Option<u64>, as_json: bool) -> i32 {
    if let Err(e) = c.count(&[("kind".into(), "checkout".into())]).await {
        eprintln!("maestro events: {e}");
        return exit::UNREACHABLE;
    }
    let (tx, mut rx) = mpsc::channel(1_024);
    let stream = tokio::spawn(crate::stream::run(c, since, filter, tx));
    let mut out = std::io::stdout();
    while let Some(a) = rx.recv().await {
        let line = match a {
            Action::NodeChanged {
                sequence,
                time,
                event,
            } => {
                if as_json {
                    json!({"sequence": sequence, "time": time.to_string(), "op": event.op,
                        "id": event.id, "kind": event.kind, "name": event.name,
                        "state": event.state, "result": event.result,
                        "previous_state": event.previous_state,
                        "previous_result": event.previous_result, "data": event.data})
                    .to_string()
                } else {
                    format!(
                        "{} {} {} {} {} {} {}",
                        sequence.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                        time,
                        event.op,
                        event.kind,
                        event.id,
                        event.name,
                        match (&event.previous_state, &event.previous_result) {
                            (Some(ps), Some(pr)) => format!(
                                "{ps}/{} -> {}/{}",
                                pr.as_deref().unwrap_or("-"),
                                event.state,
                                event.result.as_deref().unwrap_or("-")
                            ),
                            _ => format!(
                                "{}/{}",
                                event.state,
                                event.result.as_deref().unwrap_or("-")
                            ),
                        }
                    )
                }
            }
            Action::Connection(conn) => {
                eprintln!("[{}]", conn.label());
                continue;
            }
            Action::Resync => {
                eprintln!("[resync: events were missed; continuing from the server's head]");
                continue;
            }
            _ => continue,
        };
        if writeln!(out, "{line}").is_err() {
            break; // the reader went away (a closed pipe)
        }
        let _ = out.flush();
    }
    stream.abort();
    exit::PASS
}
