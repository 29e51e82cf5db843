//! The node purge (kernelci-api.md section 13.3): every node older than the retention
//! (`NODE_PURGE_AGE_DAYS`, 180 days) is deleted, except checkouts, in batches with a pause
//! between them; the first run 10 minutes after start, then every 24 hours, an hour after a
//! failed one. As in the Python server no event is sent, and children of kept checkouts
//! go while parents of kept nodes may go (orphans are possible). The same purge runs once
//! from `maestro-server purge-nodes` (`crate::cli`).
use std::sync::Arc;
use std::time::{Duration, Instant};

use maestro_common::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::purge::{PurgeRange, PurgedBatch};
use crate::store::{Store, StoreResult};

/// How often a long purge reports its progress (the Python server's 30 s).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// How each purge deletes: batch size and pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurgeBatches {
    /// Nodes per batch, each batch one short write: the database's writer (SQLite's only
    /// one) is never held for a whole purge.
    pub size: u64,
    /// Pause between two batches, so the writes of clients get the writer in between.
    pub pause: Duration,
}

/// The background purge's settings (`Config::node_purge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePurgeConfig {
    /// Nodes created more than this many days ago are deleted (at least 1).
    pub age_days: u64,
    /// From start to the first purge.
    pub first_delay: Duration,
    /// Between two purges.
    pub period: Duration,
    /// From a failed purge to the next try.
    pub retry: Duration,
    /// How each purge deletes.
    pub batches: PurgeBatches,
}

/// Where a purge stands, or what it did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PurgeReport {
    /// Nodes created before this were purged.
    pub before: Timestamp,
    /// Nodes deleted so far.
    pub deleted: u64,
    /// Batches run so far.
    pub batches: u64,
    /// Since the purge began.
    pub elapsed: Duration,
}

impl PurgeReport {
    /// Deleted nodes per second of the purge (pauses included).
    pub fn rate(&self) -> f64 {
        self.deleted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The cut-off of a purge at `now`: `age_days` days earlier. In UTC, as `created` is
/// stored; the Python server subtracts from its local time, which differs by its offset.
pub fn cutoff(now: Timestamp, age_days: u64) -> Timestamp {
    let secs = age_days.saturating_mul(86_400);
    now.plus_seconds(-i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Deletes every node created before `before` except checkouts, `batches.size` at a time
/// with `batches.pause` between; counts the deleted nodes in `metrics` batch by batch (so a
/// purge that fails half-way still counts what it did), and calls `progress` every
/// [`PROGRESS_EVERY`]. Ends at the first failed batch.
pub async fn purge_before<F: FnMut(&PurgeReport)>(
    store: &dyn Store,
    before: Timestamp,
    batches: PurgeBatches,
    metrics: Option<&Metrics>,
    mut progress: F,
) -> StoreResult<PurgeReport> {
    let started = Instant::now();
    let mut report = PurgeReport {
        before,
        deleted: 0,
        batches: 0,
        elapsed: Duration::ZERO,
    };
    let size = batches.size.max(1);
    let mut range = PurgeRange { before, from: None };
    let mut reported = Instant::now();
    loop {
        let PurgedBatch {
            matched,
            deleted,
            last_created,
        } = store.purge_nodes(range, size).await?;
        report.deleted += deleted;
        report.batches += 1;
        report.elapsed = started.elapsed();
        if let Some(m) = metrics {
            m.nodes_purged(deleted);
        }
        if matched < size {
            return Ok(report);
        }
        range.from = last_created.or(range.from);
        if reported.elapsed() >= PROGRESS_EVERY {
            progress(&report);
            reported = Instant::now();
        }
        tokio::time::sleep(batches.pause).await;
    }
}

/// Starts the background purge of `state.node_purge` on `state.tasks` (nothing when it is
/// `None`); it ends when `state.shutdown` is cancelled, at once: a batch already sent to
/// the database completes there, as one write, and the rest waits for the next start.
/// Returns whether it was started.
pub fn spawn(state: &AppState) -> bool {
    let Some(cfg) = state.node_purge else {
        tracing::info!("node purge is off");
        return false;
    };
    tracing::info!(
        age_days = cfg.age_days,
        first_in_secs = cfg.first_delay.as_secs(),
        every_secs = cfg.period.as_secs(),
        batch = cfg.batches.size,
        pause_ms = cfg.batches.pause.as_millis() as u64,
        "node purge on"
    );
    let (store, stop, metrics) = (
        state.store.clone(),
        CancellationToken::clone(&state.shutdown),
        state.metrics.clone(),
    );
    state.tasks.spawn(run(store, cfg, stop, metrics));
    true
}

/// The purge every `cfg.period`, the first after `cfg.first_delay`, until `stop`.
async fn run(
    store: Arc<dyn Store>,
    cfg: NodePurgeConfig,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let mut wait = cfg.first_delay;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let before = cutoff(Timestamp::now(), cfg.age_days);
        tracing::info!(%before, "purging nodes created before the cut-off, checkouts excepted");
        let log_progress = |r: &PurgeReport| {
            tracing::info!(
                deleted = r.deleted,
                batches = r.batches,
                nodes_per_sec = r.rate().round(),
                "node purge in progress"
            );
        };
        let purge = purge_before(&*store, before, cfg.batches, Some(&metrics), log_progress);
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = purge => outcome,
        };
        wait = match outcome {
            Ok(r) => {
                tracing::info!(
                    deleted = r.deleted,
                    batches = r.batches,
                    secs = r.elapsed.as_secs_f64(),
                    nodes_per_sec = r.rate().round(),
                    "node purge done"
                );
                cfg.period
            }
            Err(e) => {
                metrics.node_purge_failed();
                tracing::warn!(error = %e, retry_in_secs = cfg.retry.as_secs(), "node purge failed");
                cfg.retry.min(cfg.period)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use maestro_common::Node;
    use maestro_common::node::ObjectIdHex;

    use super::*;
    use crate::store::NodeWrite;
    use crate::store::sqlite::SqliteStore;

    fn state_on(store: Arc<dyn Store>, purge: Option<NodePurgeConfig>) -> AppState {
        let keys = crate::auth::TokenKeys::new("k".into(), None, 60);
        let mut state = AppState::new(store, Arc::new(keys), Arc::default());
        state.node_purge = purge;
        state
    }

    #[test]
    fn the_cutoff_is_whole_days_before_now() {
        let now = Timestamp::parse_iso("2025-07-01T12:00:00").unwrap_or_else(|| panic!());
        let want = Timestamp::parse_iso("2025-01-02T12:00:00").unwrap_or_else(|| panic!());
        assert_eq!(cutoff(now, 180), want);
        assert_eq!(cutoff(now, 0), now);
    }

    #[tokio::test]
    async fn no_purge_starts_nothing() {
        let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
        let state = state_on(store, None);
        assert!(!spawn(&state));
        assert!(state.tasks.is_empty());
    }

    #[tokio::test]
    async fn the_task_purges_after_its_delay_counts_and_stops_at_shutdown() {
        let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
        let now = Timestamp::now();
        let writes = (0..7u32)
            .map(|i| {
                let mut n = Node::new("test", &format!("n{i}"), vec![]);
                let id = format!("65000000000000000000{i:04x}");
                n.id = Some(ObjectIdHex::parse(&id).unwrap_or_else(|_| panic!("{id}")));
                // Five a year old, two from today.
                n.created = now.plus_seconds(if i < 5 { -365 * 86_400 } else { 0 });
                NodeWrite::Insert(n)
            })
            .collect();
        store
            .write_nodes(writes)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let cfg = NodePurgeConfig {
            age_days: 180,
            first_delay: Duration::from_millis(50),
            period: Duration::from_secs(3_600),
            retry: Duration::from_secs(3_600),
            batches: PurgeBatches {
                size: 2,
                pause: Duration::ZERO,
            },
        };
        let state = state_on(store.clone(), Some(cfg));
        assert!(spawn(&state));
        // The counter is bumped after each batch's write: once it shows all five, the
        // purge is over.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = state
                .metrics
                .render(&state.pubsub, store.event_log())
                .unwrap_or_else(|e| panic!("{e}"));
            if text.contains("maestro_nodes_purged_total 5") {
                break;
            }
            assert!(Instant::now() < deadline, "the purge did not run: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all = maestro_common::Filter::default();
        let left = store
            .count_nodes(&all)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(left, 2, "the two recent nodes stay");
        state.shutdown.cancel();
        state.tasks.close();
        tokio::time::timeout(Duration::from_secs(5), state.tasks.wait())
            .await
            .unwrap_or_else(|_| panic!("the purge task did not stop"));
    }
}
