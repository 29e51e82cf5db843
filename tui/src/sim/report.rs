//! What `maestro sim` and `maestro demo --headless` print: a line per new revision and per
//! finished job, then a summary per revision when its tree is done (counts from `/count`,
//! regressions from the server's compare extension when it has one).
use std::collections::HashMap;
use std::io::Write;

use tokio::sync::mpsc;

use super::Progress;
use super::api::Api;

/// Prints `progress` to `out` until the channel closes or `until` revisions are done;
/// answers how many revisions were done.
pub async fn print<W: Write>(
    api: &Api,
    mut progress: mpsc::UnboundedReceiver<Progress>,
    out: &mut W,
    until: Option<u64>,
) -> u64 {
    let mut done = 0;
    let mut treeids: HashMap<String, String> = HashMap::new();
    while let Some(p) = progress.recv().await {
        let line = match p {
            Progress::Serving { url } => format!("artifacts served at {url}"),
            Progress::Revision { id, label } => format!("revision {label}: checkout {id}"),
            Progress::JobDone {
                label,
                result,
                error_code,
                tests,
                ..
            } => {
                let detail = match (tests, error_code) {
                    (Some([pass, fail, skip]), _) => {
                        format!(", tests: {pass} pass, {fail} fail, {skip} skip")
                    }
                    (None, Some(code)) => format!(" ({code})"),
                    (None, None) => String::new(),
                };
                format!("  job {label}: {result}{detail}")
            }
            Progress::RevisionDone { id, label } => {
                done += 1;
                let summary = summary(api, &id, &mut treeids).await;
                format!("done {label}: {summary}")
            }
            Progress::Warning(w) => format!("warning: {w}"),
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        if until.is_some_and(|n| done >= n) {
            break;
        }
    }
    done
}

/// `N nodes; tests: … pass, … fail, … skip, … incomplete; jobs: …; R regressions, F fixes`.
async fn summary(api: &Api, checkout: &str, treeids: &mut HashMap<String, String>) -> String {
    let treeid = match treeids.get(checkout) {
        Some(t) => t.clone(),
        None => match api.node(checkout).await {
            Ok(node) => {
                let t = node["treeid"].as_str().unwrap_or_default().to_owned();
                treeids.insert(checkout.to_owned(), t.clone());
                t
            }
            Err(e) => return format!("(cannot read the checkout: {e:#})"),
        },
    };
    let count = |extra: Vec<(&'static str, &'static str)>| {
        let treeid = treeid.clone();
        async move {
            let mut filters = vec![("treeid", treeid.as_str())];
            filters.extend(extra);
            api.count(&filters).await.ok()
        }
    };
    let mut parts = Vec::new();
    if let Some(all) = count(vec![]).await {
        parts.push(format!("{all} nodes"));
    }
    let mut tests = Vec::new();
    for result in ["pass", "fail", "skip", "incomplete"] {
        if let Some(n) = count(vec![("kind", "test"), ("result", result)]).await {
            tests.push(format!("{n} {result}"));
        }
    }
    parts.push(format!("tests: {}", tests.join(", ")));
    let mut jobs = Vec::new();
    for result in ["pass", "fail", "incomplete"] {
        if let Some(n) = count(vec![("kind", "job"), ("result", result)]).await {
            jobs.push(format!("{n} {result}"));
        }
    }
    parts.push(format!("jobs: {}", jobs.join(", ")));
    if let Ok(cmp) = api
        .call(
            reqwest::Method::GET,
            &format!("maestro/node/{checkout}/compare"),
            None,
        )
        .await
    {
        let n = |k: &str| cmp[k].as_array().map_or(0, Vec::len);
        if cmp["previous"].is_string() {
            parts.push(format!(
                "{} regressions, {} fixes",
                n("regressions"),
                n("fixes")
            ));
        } else {
            parts.push("first revision of its tree".to_owned());
        }
    }
    parts.join("; ")
}
