//! The 14-day retention of telemetry on stores without a TTL index (SQLite): a background
//! task that deletes older events every hour, stopped when its handle is dropped (at the end
//! of `crate::run`). MongoDB's TTL index does the same there, so no task runs for it.
use std::sync::Arc;
use std::time::Duration;

use maestro_common::Timestamp;

use super::TELEMETRY_TTL_SECONDS;
use crate::store::{Store, StoreResult};

/// How often the retention task runs (the first time at once).
pub const RETENTION_PERIOD: Duration = Duration::from_secs(3600);

/// Events deleted per store call: one short write transaction each, so that a large purge
/// (the first after a long stop) never holds the database's writer for long.
const PURGE_BATCH: u64 = 5_000;

/// Deletes every event older than the retention at `now` (`ts` before `now` less 14 days);
/// returns how many.
pub async fn purge_expired(store: &dyn Store, now: Timestamp) -> StoreResult<u64> {
    let ttl = i64::try_from(TELEMETRY_TTL_SECONDS).unwrap_or(i64::MAX);
    let before = now.plus_seconds(-ttl);
    let mut deleted = 0;
    loop {
        let n = store.purge_telemetry(before, PURGE_BATCH).await?;
        deleted += n;
        if n < PURGE_BATCH {
            return Ok(deleted);
        }
    }
}

/// The retention task for `store`, every [`RETENTION_PERIOD`]; `None` when the store
/// expires events itself.
pub fn spawn(store: Arc<dyn Store>) -> Option<RetentionTask> {
    (!store.expires_telemetry_itself()).then(|| spawn_every(store, RETENTION_PERIOD))
}

/// Runs [`purge_expired`] on `store` now and then every `period`, until the returned handle
/// is dropped. A failed run is logged and retried at the next one.
pub fn spawn_every(store: Arc<dyn Store>, period: Duration) -> RetentionTask {
    RetentionTask(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match purge_expired(&*store, Timestamp::now()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "deleted expired telemetry"),
                Err(e) => tracing::warn!(error = %e, "telemetry retention failed; retrying later"),
            }
        }
    }))
}

/// The background task of [`spawn`]; aborted when dropped.
pub struct RetentionTask(tokio::task::JoinHandle<()>);

impl Drop for RetentionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
