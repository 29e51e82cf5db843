//! The node-retention part of the [`Store`](super::Store): deleting one batch of old nodes
//! (those the purge of `crate::nodes::purge` selects), each batch its own short write.
use async_trait::async_trait;
use maestro_common::Timestamp;

use super::StoreResult;

/// The node kind the purge never deletes, as the Python server's `maintenance.py` keeps it:
/// checkouts are the roots users come back to (a revision's summary), and few.
pub const KEPT_KIND: &str = "checkout";

/// Which nodes one batch looks at: `created` in `[from, before)`, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurgeRange {
    /// Nodes created at or after this are kept (the cut-off: now less the retention).
    pub before: Timestamp,
    /// Where the batch starts: the `created` of the newest node the previous batch deleted
    /// (`None` for the first). Without it every batch would read again, through the index,
    /// the kept checkouts older than the previous batch's end.
    pub from: Option<Timestamp>,
}

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgedBatch {
    /// Nodes the batch selected: fewer than its limit means none is left in the range.
    pub matched: u64,
    /// Nodes deleted: fewer than `matched` when another server on the same database deleted
    /// some of them first (each counts only its own).
    pub deleted: u64,
    /// `created` of the newest node deleted: the next batch's [`PurgeRange::from`].
    pub last_created: Option<Timestamp>,
}

/// Deleting old nodes. Deletes are durable on `Ok`.
#[async_trait]
pub trait PurgeStore: Send + Sync {
    /// Deletes up to `limit` nodes of `range` whose kind is not [`KEPT_KIND`], the oldest
    /// (by `created`) first, in one write of its own; emits no event (as the Python server).
    async fn purge_nodes(&self, range: PurgeRange, limit: u64) -> StoreResult<PurgedBatch>;
}
