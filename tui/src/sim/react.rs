//! The simulator's ears: durable subscriptions to channels `node` and `retry`, each read
//! with `/listen` as KernelCI's services read theirs, and what each event sets off. Node
//! events are edge-triggered on `previous_state`, as the scheduler's are: a checkout or a
//! kbuild that has just become `available` gets its kbuilds or jobs.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::pipeline;
use super::{Progress, Sim};

/// One durable subscription (`subscriber_id`): reopened where it left off if the server
/// forgets it (a restart).
#[derive(Clone)]
pub(super) struct Subscription {
    channel: &'static str,
    subscriber_id: String,
    id: Arc<AtomicU64>,
}

impl Subscription {
    pub(super) async fn open(sim: &Sim, channel: &'static str) -> anyhow::Result<Self> {
        let subscriber_id = format!("maestro-sim:{}:{channel}", sim.owner);
        let id = sim.api.subscribe(channel, &subscriber_id).await?;
        Ok(Self {
            channel,
            subscriber_id,
            id: Arc::new(AtomicU64::new(id)),
        })
    }

    async fn reopen(&self, sim: &Sim) -> anyhow::Result<()> {
        let id = sim.api.subscribe(self.channel, &self.subscriber_id).await?;
        self.id.store(id, Ordering::Relaxed);
        Ok(())
    }

    pub(super) async fn close(&self, sim: &Sim) {
        if let Err(e) = sim.api.unsubscribe(self.id.load(Ordering::Relaxed)).await {
            tracing::debug!(error = %e, "unsubscribe");
        }
    }
}

/// Reads `sub` until the simulator stops, handing each event on.
pub(super) async fn listen(sim: Arc<Sim>, sub: Subscription) {
    loop {
        let id = sub.id.load(Ordering::Relaxed);
        let next = tokio::select! {
            next = sim.api.listen(id) => next,
            () = sim.stop.cancelled() => return,
        };
        match next {
            Ok(Some(event)) => match sub.channel {
                "retry" => retry(&sim, &event),
                _ => node_event(&sim, &event),
            },
            Ok(None) => {}
            Err(e) => {
                let gone = e
                    .downcast_ref::<super::api::Refused>()
                    .is_some_and(|r| r.status == reqwest::StatusCode::NOT_FOUND);
                sim.warn(format!("listening on {}: {e:#}", sub.channel));
                if gone && let Err(e) = sub.reopen(&sim).await {
                    sim.warn(format!("cannot subscribe again to {}: {e:#}", sub.channel));
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = sim.stop.cancelled() => return,
                }
            }
        }
    }
}

fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key].as_str().unwrap_or_default()
}

/// A node event: schedule what it unblocks, report what it ends.
fn node_event(sim: &Arc<Sim>, event: &Value) {
    if text(event, "owner") != sim.owner {
        return;
    }
    let id = text(event, "id").to_owned();
    let state = text(event, "state");
    let became = |s: &str| state == s && event["previous_state"].as_str().is_some_and(|p| p != s);
    match text(event, "kind") {
        "checkout" if became("available") => {
            let ctx = sim.checkouts.lock().ok().and_then(|m| m.get(&id).cloned());
            match ctx {
                Some(ctx) => pipeline::schedule_builds(sim, &ctx, &id),
                None => tracing::debug!(%id, "a checkout made before this run"),
            }
        }
        "checkout" if became("done") => {
            if let Some(ctx) = sim.checkouts.lock().ok().and_then(|m| m.get(&id).cloned()) {
                sim.tell(Progress::RevisionDone {
                    id,
                    label: pipeline::label(&ctx.revision),
                });
            }
        }
        "kbuild" if became("available") && text(event, "result") == "pass" => {
            let ctx = sim.builds.lock().ok().and_then(|m| m.get(&id).cloned());
            if let Some(ctx) = ctx {
                pipeline::schedule_jobs(sim, &ctx, &id, None);
            }
        }
        "job" if became("done") => {
            let done = sim.jobs.lock().ok().and_then(|m| {
                m.get(&id).map(|j| {
                    (
                        j.checkout.node["id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        format!("{} on {} ({})", text(event, "name"), j.platform, j.arch),
                        j.tests,
                    )
                })
            });
            if let Some((checkout, label, tests)) = done {
                sim.tell(Progress::JobDone {
                    id,
                    checkout,
                    label,
                    result: event["result"].as_str().unwrap_or("none").to_owned(),
                    error_code: event["data"]["error_code"].as_str().map(str::to_owned),
                    tests,
                });
            }
        }
        _ => {}
    }
}

/// A retry request, as KernelCI's job-retry service publishes it: the parent node, with
/// `jobfilter` naming the jobs (or kbuilds) to run again and `platform_filter` the boards.
fn retry(sim: &Arc<Sim>, event: &Value) {
    let parent = text(event, "id").to_owned();
    let names: Vec<&str> = event["jobfilter"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let platforms: Vec<&str> = event["platform_filter"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let retry = event["retry_counter"].as_u64().unwrap_or(1);
    let retry_by = event["debug"]["retry_by"].as_str().map(str::to_owned);
    let asked = pipeline::Retry {
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        platforms: platforms.iter().map(|s| (*s).to_owned()).collect(),
        counter: retry,
        by: retry_by,
    };
    match text(event, "kind") {
        "kbuild" => {
            let ctx = sim.builds.lock().ok().and_then(|m| m.get(&parent).cloned());
            match ctx {
                Some(ctx) => pipeline::schedule_jobs(sim, &ctx, &parent, Some(&asked)),
                None => sim.warn(format!("retry of jobs of kbuild {parent}: not one of ours")),
            }
        }
        "checkout" => {
            let ctx = sim
                .checkouts
                .lock()
                .ok()
                .and_then(|m| m.get(&parent).cloned());
            match ctx {
                Some(ctx) => pipeline::retry_builds(sim, &ctx, &asked),
                None => sim.warn(format!(
                    "retry of kbuilds of checkout {parent}: not one of ours"
                )),
            }
        }
        other => sim.warn(format!(
            "retry of a {other:?} node: only kbuilds and checkouts have re-runnable children"
        )),
    }
}
