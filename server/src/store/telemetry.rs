//! The telemetry part of the [`Store`](super::Store): events kept for 14 days, listed with a
//! [`Filter`] and counted by group for the stats and anomaly reports.
use async_trait::async_trait;
use maestro_common::{Filter, Timestamp};

use super::StoreResult;
use crate::telemetry::{TelemetryEvent, TelemetryField};

/// What [`TelemetryStore::group_telemetry`] counts.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryGrouping {
    /// Which events (fields as stored: `ts`, `kind`, `runtime`, ...).
    pub filter: Filter,
    /// The group key, in order; no field twice.
    pub keys: Vec<TelemetryField>,
    /// Whether to report each group's newest event (`last_seen`, `latest_error_*`).
    pub latest: bool,
}

/// The counts of one group of events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TelemetryGroup {
    /// The key's values, in [`TelemetryGrouping::keys`] order; `None` for null or missing.
    pub key: Vec<Option<String>>,
    /// Events in the group.
    pub total: u64,
    /// Events with `result` `pass`.
    pub pass: u64,
    /// Events with `result` `fail`.
    pub fail: u64,
    /// Events with `result` `incomplete`.
    pub incomplete: u64,
    /// Events with `result` `skip`.
    pub skip: u64,
    /// Events with `is_infra_error`.
    pub infra_error: u64,
    /// `ts` of the newest event (when `latest` was asked for).
    pub last_seen: Option<Timestamp>,
    /// `error_type` of the newest event (when `latest` was asked for).
    pub latest_error_type: Option<String>,
    /// `error_msg` of the newest event (when `latest` was asked for).
    pub latest_error_msg: Option<String>,
}

/// Telemetry events. Writes are durable on `Ok`.
#[async_trait]
pub trait TelemetryStore: Send + Sync {
    /// Stores every event (each with its new, unique `id`) or, on failure, none.
    async fn insert_telemetry(&self, events: &[TelemetryEvent]) -> StoreResult<()>;

    /// The events matching `filter` in the order they were stored, skipping `offset`, at
    /// most `limit`, with the number of all matches.
    async fn find_telemetry(
        &self,
        filter: &Filter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<TelemetryEvent>, u64)>;

    /// The groups of the events `grouping` selects, in no particular order.
    async fn group_telemetry(
        &self,
        grouping: &TelemetryGrouping,
    ) -> StoreResult<Vec<TelemetryGroup>>;

    /// Deletes at most `limit` events older than `before` (`ts < before`); how many.
    async fn purge_telemetry(&self, before: Timestamp, limit: u64) -> StoreResult<u64>;

    /// Whether the database expires old events itself (a TTL index), so that the retention
    /// job need not run.
    fn expires_telemetry_itself(&self) -> bool {
        false
    }
}
