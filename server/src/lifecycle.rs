//! The node life-cycle rules built into the server: what KernelCI runs as a separate
//! "timeout service" (kernelci-pipeline `src/timeout.py`, kernelci-api.md §4.4), which polls
//! `/nodes` and PUTs nodes.
//!
//! * **timeout**: a `running`, `available` or `closing` node past its `timeout` becomes
//!   `done`; without a result it also gets `result = incomplete` and
//!   `data.error_code = node_timeout`, `data.error_msg = "Node timed-out"`.
//! * **holdoff**: an `available` node past its `holdoff` becomes `closing` while a
//!   descendant is still pending (not `done`), else `done`.
//! * **closing**: a `closing` node becomes `done` once no descendant is pending.
//!
//! [`sweep`] applies them at a given `now` (tests choose it); [`task`] runs each rule on
//! its own interval with the real clock. Every change is a compare-and-set update of the
//! version read, with the `updated` event a `PUT /node` publishes, so a client's concurrent
//! edit is never overwritten and several servers on one database move a node only once.
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, stream};
use maestro_common::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError, StoreResult};

mod rules;
pub mod task;
#[cfg(test)]
mod tests;

pub use rules::{Outcome, Rule, apply};
pub use task::LifecycleConfig;

/// Nodes read per query: a large backlog is worked through in pages of this many, never
/// loaded whole.
pub const BATCH: u64 = 200;

/// Nodes of a page applied at once: their writes then share commits (SQLite's group
/// commit) and round trips, so a backlog goes faster than one fsync per node.
const PARALLEL: usize = 16;

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Nodes looked at.
    pub examined: u64,
    /// Nodes the timeout rule moved to `done`.
    pub timed_out: u64,
    /// `available` nodes past their holdoff moved to `closing` (a descendant is pending).
    pub closing: u64,
    /// Nodes the holdoff or closing rule moved to `done` (no descendant is pending).
    pub done: u64,
    /// Nodes that changed between their read and the write (another server or a client
    /// wrote them), after which the rule no longer applied; or that were deleted meanwhile.
    pub skipped: u64,
    /// Nodes whose write failed (logged); they are looked at again next round.
    pub failed: u64,
}

impl SweepReport {
    /// Nodes changed.
    pub fn changed(&self) -> u64 {
        self.timed_out + self.closing + self.done
    }

    fn add(&mut self, other: Self) {
        self.examined += other.examined;
        self.timed_out += other.timed_out;
        self.closing += other.closing;
        self.done += other.done;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }
}

/// Applies every rule at `now`: timeout, then holdoff, then closing (a node that the
/// holdoff rule closes is checked by the closing rule in the same sweep).
pub async fn sweep(store: &dyn Store, now: Timestamp) -> StoreResult<SweepReport> {
    let never = CancellationToken::new();
    let mut report = SweepReport::default();
    for rule in Rule::ALL {
        report.add(sweep_rule(store, rule, now, &never).await?);
    }
    Ok(report)
}

/// Applies `rule` at `now` to every node it may concern, a page of [`BATCH`] at a time,
/// until none is left or `stop` is cancelled. A store that fails or does not answer ends
/// the round with the error; a node whose write is refused (an event over the size cap,
/// say) is counted as failed and the round goes on.
pub async fn sweep_rule(
    store: &dyn Store,
    rule: Rule,
    now: Timestamp,
    stop: &CancellationToken,
) -> StoreResult<SweepReport> {
    let mut report = SweepReport::default();
    for due in rule.due(now) {
        let mut after = None;
        loop {
            let page = store.due_nodes(due, after.as_ref(), BATCH).await?;
            let full = page.len() as u64 == BATCH;
            // The next page starts after the last node of this one, whatever the rule did to
            // it: nodes it leaves as they are (closing with a pending child) are not read
            // again this round.
            after = page
                .last()
                .and_then(|last| Some((due.key(last)?, last.id.clone()?)));
            apply_page(store, rule, page, now, stop, &mut report).await?;
            if stop.is_cancelled() || !full || after.is_none() {
                break;
            }
        }
    }
    Ok(report)
}

/// Applies `rule` to the nodes of one page, [`PARALLEL`] at a time. Once the store fails
/// or `stop` is cancelled no further node is started, but the writes under way finish:
/// a write is never cut off halfway (without transactions, the MongoDB store writes the
/// node and then its event).
async fn apply_page(
    store: &dyn Store,
    rule: Rule,
    page: Vec<maestro_common::Node>,
    now: Timestamp,
    stop: &CancellationToken,
    report: &mut SweepReport,
) -> StoreResult<()> {
    let halted = AtomicBool::new(false);
    let mut applied = stream::iter(page)
        .map(|node| {
            let halted = &halted;
            async move {
                if halted.load(Ordering::Relaxed) || stop.is_cancelled() {
                    return None;
                }
                let id = node.id_str().to_owned();
                Some((id, apply(store, rule, node, now).await))
            }
        })
        .buffer_unordered(PARALLEL);
    let mut outage = None;
    while let Some(done) = applied.next().await {
        let Some((id, result)) = done else { continue };
        report.examined += 1;
        match result {
            Ok(outcome) => count(report, rule, outcome),
            Err(e @ (StoreError::Unavailable(_) | StoreError::Backend(_))) => {
                halted.store(true, Ordering::Relaxed);
                outage.get_or_insert(e);
            }
            Err(e) => {
                tracing::warn!(node = %id, rule = rule.name(), error = %e,
                    "life-cycle rule could not update the node; trying again next round");
                report.failed += 1;
            }
        }
    }
    outage.map_or(Ok(()), Err)
}

fn count(report: &mut SweepReport, rule: Rule, outcome: Outcome) {
    use maestro_common::NodeState::{Closing, Done};
    match (rule, outcome) {
        (Rule::Timeout, Outcome::Moved(_)) => report.timed_out += 1,
        (_, Outcome::Moved(Closing)) => report.closing += 1,
        (_, Outcome::Moved(Done)) => report.done += 1,
        (_, Outcome::Moved(_)) => {}
        (_, Outcome::Untouched { raced: true } | Outcome::Gone) => report.skipped += 1,
        (_, Outcome::Untouched { raced: false }) => {}
    }
}
