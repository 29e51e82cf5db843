//! Event sequence numbers shared by every server on one database: the allocation counter,
//! the claims that say which numbers are resolved (committed, or given up as holes), and the
//! watermark below which every number is resolved.
//!
//! A number is taken with an atomic `$inc` outside any transaction, so that no transaction
//! ever holds the counter (a server killed mid-transaction would otherwise stall every
//! writer of every server until MongoDB aborted it). The writer's transaction then stores
//! the event and its claim `{_id: N}` in `event_claims`: the `_id` makes each number
//! claimable once. A reader that waited too long for a number inserts the claim itself,
//! marked as a hole: if the writer had not claimed it yet, the writer's transaction now
//! fails and it takes another number; if it had, the reader's insert waits for that
//! transaction and then finds the claim taken. Either way the reader learns for certain
//! whether an event will ever have the number, so skipping a hole never drops an event.
use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use mongodb::error::Error as DriverError;
use mongodb::options::{ReadConcern, ReturnDocument};
use mongodb::{Collection, Database};

use super::feed::FeedHandle;
use super::{backend, events, is_duplicate_key};
use crate::events::StoredEvent;
use crate::store::StoreResult;

/// Collection of claims, `{_id: <sequence>, at: <date>[, hole: true]}`; ours alone.
pub(super) const CLAIMS: &str = "event_claims";
/// The allocation counter in `counters` (the name it always had).
const ALLOCATED: &str = "eventhistory";
/// The watermark in `counters`: every number up to it is resolved.
const RESOLVED: &str = "eventhistory_resolved";
/// Numbers read beyond the watermark at start, at most.
const START_SCAN: i64 = 10_000;
/// A counter untouched for this long has no writer left at work: no transaction outlives
/// MongoDB's `transactionLifetimeLimitSeconds` (60 s by default).
const IDLE_COUNTER: std::time::Duration = std::time::Duration::from_secs(120);

/// Takes the next sequence number, outside any transaction.
pub(super) async fn allocate(counters: &Collection<Document>) -> Result<u64, DriverError> {
    let counter = counters
        .find_one_and_update(
            doc! {"_id": ALLOCATED},
            // `at`: when a number was last taken (see `start`).
            doc! {"$inc": {"seq": 1_i64}, "$set": {"at": bson::DateTime::now()}},
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await?;
    Ok(counter
        .as_ref()
        .and_then(|d| d.get("seq"))
        .and_then(events::number)
        .unwrap_or(1))
}

/// The claim a writer stores with its event, in its transaction.
pub(super) fn claim(seq: u64) -> Document {
    doc! {"_id": events::to_i64(seq), "at": bson::DateTime::now()}
}

/// The claim that makes `seq` a hole.
fn hole(seq: u64) -> Document {
    doc! {"_id": events::to_i64(seq), "at": bson::DateTime::now(), "hole": true}
}

/// What the claims say of a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// Nobody claimed it yet: its writer is still at work, or gone.
    Unclaimed,
    /// Its event is committed.
    Committed,
    /// No event will have it.
    Hole,
}

/// What the claims say of `seq` now.
pub(super) async fn claim_of(
    claims: &Collection<Document>,
    seq: u64,
) -> Result<Claim, DriverError> {
    let found = claims
        .find_one(doc! {"_id": events::to_i64(seq)})
        .read_concern(ReadConcern::majority())
        .await?;
    Ok(match found {
        None => Claim::Unclaimed,
        Some(d) if d.get_bool("hole").unwrap_or(false) => Claim::Hole,
        Some(_) => Claim::Committed,
    })
}

/// Makes `seq` a hole unless it is claimed: `true` when it is a hole now (by this call or an
/// earlier one), `false` when its event is committed. Waits for a transaction that claimed
/// it to end.
pub(super) async fn fence(claims: &Collection<Document>, seq: u64) -> Result<bool, DriverError> {
    match claims.insert_one(hole(seq)).await {
        Ok(_) => Ok(true),
        Err(e) if is_duplicate_key(&e) => Ok(claim_of(claims, seq).await? == Claim::Hole),
        Err(e) => Err(e),
    }
}

/// Publishes that every number up to `seq` is resolved (never lowers the watermark).
pub(super) async fn publish_watermark(
    counters: &Collection<Document>,
    seq: u64,
) -> Result<(), DriverError> {
    counters
        .update_one(
            doc! {"_id": RESOLVED},
            doc! {"$max": {"seq": events::to_i64(seq)}},
        )
        .upsert(true)
        .await
        .map(drop)
}

/// Where a server's feed starts: the watermark, and what is known beyond it.
#[derive(Debug, Default)]
pub(super) struct Start {
    /// Every number up to here is resolved.
    pub(super) watermark: u64,
    /// Committed events above the watermark, in number order.
    pub(super) events: Vec<StoredEvent>,
    /// Holes above the watermark.
    pub(super) holes: Vec<u64>,
}

/// Reads where the feed starts. On a database no server of this version has used, the
/// watermark is created at `seed`, the newest number given before (numbers were then
/// taken one at a time, so all of them are resolved).
pub(super) async fn start(db: &Database, seed: u64) -> StoreResult<Start> {
    let counters = db.collection::<Document>(events::COUNTERS);
    let create = || {
        counters
            .find_one_and_update(
                doc! {"_id": RESOLVED},
                doc! {"$setOnInsert": {"seq": events::to_i64(seed)}},
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
    };
    let doc = match create().await {
        // Two servers starting at once both tried to create it; the loser reads it.
        Err(e) if is_duplicate_key(&e) => create().await,
        other => other,
    }
    .map_err(backend)?;
    let mut watermark = doc
        .as_ref()
        .and_then(|d| d.get("seq"))
        .and_then(events::number)
        .unwrap_or(seed);
    // When nobody took a number for long (every server was stopped), every number taken is
    // resolved, even those of writers that died: no need to wait for them one by one (or
    // to read a long history that expired meanwhile).
    if let Some(counter) = counters
        .find_one(doc! {"_id": ALLOCATED})
        .await
        .map_err(backend)?
    {
        let allocated = counter.get("seq").and_then(events::number).unwrap_or(0);
        let idle = match counter.get("at") {
            Some(Bson::DateTime(at)) => {
                let age = bson::DateTime::now().timestamp_millis() - at.timestamp_millis();
                age > IDLE_COUNTER.as_millis() as i64
            }
            // Written by an earlier version, which numbered one event at a time.
            _ => true,
        };
        if idle && allocated > watermark {
            watermark = allocated;
            publish_watermark(&counters, watermark)
                .await
                .map_err(backend)?;
        }
    }
    let after = events::to_i64(watermark);
    let docs: Vec<Document> = db
        .collection::<Document>(events::EVENTS)
        .find(doc! {"sequence_id": {"$gt": after}})
        .sort(doc! {"sequence_id": 1})
        .limit(START_SCAN)
        .read_concern(ReadConcern::majority())
        .await
        .map_err(backend)?
        .try_collect()
        .await
        .map_err(backend)?;
    let events = docs
        .into_iter()
        .map(events::doc_to_event)
        .collect::<StoreResult<Vec<_>>>()?;
    let holes: Vec<Document> = db
        .collection::<Document>(CLAIMS)
        .find(doc! {"_id": {"$gt": after}, "hole": true})
        .sort(doc! {"_id": 1})
        .limit(START_SCAN)
        .projection(doc! {"_id": 1})
        .read_concern(ReadConcern::majority())
        .await
        .map_err(backend)?
        .try_collect()
        .await
        .map_err(backend)?;
    let holes = holes
        .iter()
        .filter_map(|d| d.get("_id").and_then(events::number))
        .collect();
    Ok(Start {
        watermark,
        events,
        holes,
    })
}

/// Events with a number of at least `from`, in number order, at most `limit`.
pub(super) async fn events_from(
    events_coll: &Collection<Document>,
    from: u64,
    limit: i64,
) -> Result<Vec<Document>, DriverError> {
    events_coll
        .find(doc! {"sequence_id": {"$gte": events::to_i64(from)}})
        .sort(doc! {"sequence_id": 1})
        .limit(limit)
        .read_concern(ReadConcern::majority())
        .await?
        .try_collect()
        .await
}

/// The committed event numbered `seq` (the first, should an old history repeat a number).
pub(super) async fn event_at(
    events_coll: &Collection<Document>,
    seq: u64,
) -> Result<Option<Document>, DriverError> {
    events_coll
        .find_one(doc! {"sequence_id": events::to_i64(seq)})
        .read_concern(ReadConcern::majority())
        .await
}

/// The number of a stored event document, when it has one.
pub(super) fn number_of(doc: &Document) -> Option<u64> {
    doc.get("sequence_id").and_then(events::number)
}

/// A number a writer took and has not committed yet. Given up ([`Taken::give_up`]) it is
/// made a hole at once, so that readers need not wait for it; dropped unresolved (the
/// write was cancelled half-way) it is made a hole in the background.
pub(super) struct Taken {
    seq: u64,
    claims: Collection<Document>,
    feed: FeedHandle,
    resolved: bool,
}

impl Taken {
    /// `seq`, just taken.
    pub(super) fn new(seq: u64, claims: &Collection<Document>, feed: &FeedHandle) -> Self {
        Self {
            seq,
            claims: claims.clone(),
            feed: feed.clone(),
            resolved: false,
        }
    }

    /// The number.
    pub(super) fn seq(&self) -> u64 {
        self.seq
    }

    /// Its event is committed.
    pub(super) fn committed(mut self) {
        self.resolved = true;
    }

    /// Its write failed (and its transaction, if any, was aborted): no event will have it.
    pub(super) async fn give_up(mut self) {
        self.resolved = true;
        give_up(&self.claims, &self.feed, self.seq).await;
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if self.resolved {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (claims, feed, seq) = (self.claims.clone(), self.feed.clone(), self.seq);
            // Safe whenever it runs: it waits for a transaction that claimed the number.
            rt.spawn(async move { give_up(&claims, &feed, seq).await });
        }
    }
}

async fn give_up(claims: &Collection<Document>, feed: &FeedHandle, seq: u64) {
    match fence(claims, seq).await {
        Ok(true) => feed.offer_hole(seq),
        // Committed after all (a commit whose answer was lost): the feed reads it.
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, sequence = seq,
            "could not mark a given-up event number; readers fence it after waiting for it"),
    }
}
