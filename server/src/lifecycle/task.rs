//! The background task of the life-cycle rules: each rule swept on its own interval with
//! the real clock, logged, until the server shuts down.
use std::sync::Arc;
use std::time::Duration;

use maestro_common::Timestamp;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{Rule, sweep_rule};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::Store;

/// Seconds between two sweeps of a rule by default.
pub const DEFAULT_INTERVAL_SECS: u64 = 5;

/// How often each rule is swept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// Between two sweeps of the timeout rule.
    pub timeout_every: Duration,
    /// Between two sweeps of the holdoff rule.
    pub holdoff_every: Duration,
    /// Between two sweeps of the closing rule.
    pub closing_every: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        let every = Duration::from_secs(DEFAULT_INTERVAL_SECS);
        Self {
            timeout_every: every,
            holdoff_every: every,
            closing_every: every,
        }
    }
}

impl LifecycleConfig {
    /// The interval of `rule`.
    pub fn every(&self, rule: Rule) -> Duration {
        match rule {
            Rule::Timeout => self.timeout_every,
            Rule::Holdoff => self.holdoff_every,
            Rule::Closing => self.closing_every,
        }
    }
}

/// Starts the sweeps of `state.lifecycle` (nothing when it is `None`), one task per rule on
/// `state.tasks`, which end once `state.shutdown` is cancelled (after the node being
/// written, if any). Returns whether they were started.
pub fn spawn(state: &AppState) -> bool {
    let Some(cfg) = state.lifecycle else {
        tracing::info!("node life-cycle rules are off");
        return false;
    };
    tracing::info!(
        timeout_every_secs = cfg.timeout_every.as_secs(),
        holdoff_every_secs = cfg.holdoff_every.as_secs(),
        closing_every_secs = cfg.closing_every.as_secs(),
        "node life-cycle rules on"
    );
    for rule in Rule::ALL {
        let (store, stop, every) = (
            state.store.clone(),
            CancellationToken::clone(&state.shutdown),
            cfg.every(rule),
        );
        let metrics = state.metrics.clone();
        state.tasks.spawn(run(store, rule, every, stop, metrics));
    }
    true
}

/// Sweeps `rule` every `every` (the first at once) until `stop` is cancelled. An error ends
/// only that round: a store outage skips sweeps until the store answers again.
async fn run(
    store: Arc<dyn Store>,
    rule: Rule,
    every: Duration,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let mut tick = tokio::time::interval(every);
    // After a long sweep, wait a whole interval rather than running the missed ones at once.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let swept = sweep_rule(&*store, rule, Timestamp::now(), &stop).await;
        metrics.lifecycle_sweep(rule, &swept);
        match swept {
            Ok(report) if report.changed() + report.failed > 0 => tracing::info!(
                rule = rule.name(),
                examined = report.examined,
                timed_out = report.timed_out,
                closing = report.closing,
                done = report.done,
                skipped = report.skipped,
                failed = report.failed,
                "life-cycle sweep"
            ),
            Ok(report) => tracing::debug!(
                rule = rule.name(),
                examined = report.examined,
                skipped = report.skipped,
                "life-cycle sweep changed nothing"
            ),
            Err(e) => tracing::warn!(
                rule = rule.name(),
                error = %e,
                "life-cycle sweep stopped by a store error; trying again next round"
            ),
        }
    }
    tracing::debug!(rule = rule.name(), "life-cycle sweeps stopped");
}
