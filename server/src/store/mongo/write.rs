//! `write_nodes_with_event`: an all-or-nothing batch of node writes and its event, in a
//! transaction where the server has them and applied in order with compensating undo
//! writes where it does not.
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use mongodb::ClientSession;
use mongodb::error::{
    Error as DriverError, ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};

use super::sequence::{self, Taken};
use super::{MongoStore, backend, convert, error_code, events, is_duplicate_key};
use crate::events::{NewEvent, SharedEvent, StoredEvent};
use crate::store::{NodeWrite, StoreError, StoreResult};

mod bulk;
mod undo;

/// How long a transaction that fails with a transient error is retried before the error is
/// returned. MongoDB fails a conflicting transactional write at once instead of waiting for
/// the other writer, so concurrent updates of one node (a parent and its children finishing
/// together) need several rounds; the driver's own `with_transaction` allows 120 s.
const TRANSACTION_RETRY_BUDGET: Duration = Duration::from_secs(10);
/// Upper bound of the randomised pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// Mongo's `IllegalOperation`, which a standalone server answers to a transaction.
const ILLEGAL_OPERATION: i32 = 20;

/// One write, converted before anything touches the database.
struct Prepared {
    insert: bool,
    id: ObjectId,
    doc: Document,
    /// What the stored document must still match to be replaced: `_id` alone for an
    /// unconditional replace, plus `updated` and `owner` for a conditional one.
    filter: Document,
}

/// The filter a replace of `write` matches on.
fn replace_filter(id: ObjectId, write: &NodeWrite) -> Document {
    match write {
        NodeWrite::Update { expected, .. } => doc! {
            "_id": id,
            "updated": convert::date(expected.updated),
            "owner": expected.owner.as_deref().map_or(Bson::Null, |o| Bson::String(o.to_owned())),
        },
        _ => doc! {"_id": id},
    }
}

/// Why a transaction attempt stopped.
enum Failure {
    /// A verdict on the batch (`Conflict`, `NotFound`); retrying cannot help.
    Store(StoreError),
    /// The attempt's number was made a hole by a reader before the attempt claimed it.
    Fenced,
    /// The driver or server failed; maybe transient, maybe "no transactions here".
    Driver(DriverError),
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Store(e) => e,
            Failure::Fenced => {
                StoreError::Unavailable("The event could not get a number in time".into())
            }
            Failure::Driver(e) => backend(e),
        }
    }
}

/// Applies every write and stores the event, or does nothing (see
/// [`crate::store::Store::write_nodes_with_event`]).
pub(super) async fn write_nodes(
    store: &MongoStore,
    writes: &[NodeWrite],
    event: Option<NewEvent>,
) -> StoreResult<Option<SharedEvent>> {
    let prepared = writes
        .iter()
        .map(|w| {
            let doc = convert::node_to_doc(w.node())?;
            let id = doc
                .get_object_id("_id")
                .map_err(|e| StoreError::Backend(e.into()))?;
            Ok(Prepared {
                insert: matches!(w, NodeWrite::Insert(_)),
                id,
                filter: replace_filter(id, w),
                doc,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    if event.is_none() && prepared.is_empty() {
        return Ok(None);
    }
    // No lock between writers, of this server or another: each takes its number from the
    // shared counter once its node writes are in, and the feed puts the events back in
    // number order (`feed.rs`, `sequence.rs`).
    let stored = write_batch(store, &prepared, event.as_ref())
        .await?
        .map(Arc::new);
    if let Some(e) = &stored {
        store.feed.handle().offer(Arc::clone(e));
    }
    Ok(stored)
}

/// The batch and its event (when given), all or nothing; the event as stored.
async fn write_batch(
    store: &MongoStore,
    prepared: &[Prepared],
    event: Option<&NewEvent>,
) -> StoreResult<Option<StoredEvent>> {
    // Held to the end, retries included: a conflicting attempt must not let another in.
    let _permit = store
        .write_permits
        .acquire()
        .await
        .map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
    if !store.no_transactions.load(Ordering::Relaxed) {
        match in_transaction(store, prepared, event).await {
            Err(Failure::Driver(e)) if transactions_unsupported(&e) => {
                tracing::warn!(error = %e, "MongoDB server has no transactions; \
                    node batches are undone on failure instead, without isolation");
                store.no_transactions.store(true, Ordering::Relaxed);
            }
            other => return other.map_err(StoreError::from),
        }
    }
    undo::with_undo(store, prepared, event).await
}

/// Whether the server (or the driver, from the topology) refuses transactions outright.
fn transactions_unsupported(e: &DriverError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::SessionsNotSupported => true,
        ErrorKind::Transaction { message, .. } => message.contains("not supported"),
        _ => {
            error_code(e) == Some(ILLEGAL_OPERATION)
                || e.to_string()
                    .contains("Transaction numbers are only allowed")
        }
    }
}

async fn in_transaction(
    store: &MongoStore,
    writes: &[Prepared],
    event: Option<&NewEvent>,
) -> Result<Option<StoredEvent>, Failure> {
    let mut session = store
        .client
        .start_session()
        .await
        .map_err(Failure::Driver)?;
    // Before any claim is held in it: should this server die with the transaction open,
    // another one can abort it (`registry.rs`).
    store.registry.track(&session).await;
    let guard = store.registry.abandon_guard(&session);
    let result = attempts(store, &mut session, writes, event).await;
    guard.disarm();
    result
}

/// The attempts of one transaction in `session`, retried while the failures are transient.
async fn attempts(
    store: &MongoStore,
    session: &mut ClientSession,
    writes: &[Prepared],
    event: Option<&NewEvent>,
) -> Result<Option<StoredEvent>, Failure> {
    let deadline = Instant::now() + TRANSACTION_RETRY_BUDGET;
    let mut attempt = 0;
    'attempts: loop {
        session.start_transaction().await.map_err(Failure::Driver)?;
        // Each attempt takes a number of its own (a failed one gives its number up), so a
        // number is never used twice, whatever a retried attempt meets.
        let mut taken = None;
        let stored = match apply_in_session(store, session, writes, event, &mut taken).await {
            Ok(stored) => stored,
            Err(failure) => {
                // The server has usually aborted already; a second abort is harmless, and
                // its own error would only hide the one that matters.
                let _ = session.abort_transaction().await;
                release(taken).await;
                match failure {
                    // A reader gave the number up before we claimed it: take another.
                    Failure::Fenced if Instant::now() < deadline => continue 'attempts,
                    Failure::Driver(e)
                        if e.contains_label(TRANSIENT_TRANSACTION_ERROR)
                            && Instant::now() < deadline =>
                    {
                        backoff(&mut attempt).await;
                        continue 'attempts;
                    }
                    other => return Err(other),
                }
            }
        };
        loop {
            match session.commit_transaction().await {
                Ok(()) => {
                    if let Some(t) = taken {
                        t.committed();
                    }
                    return Ok(stored);
                }
                // Committing again is safe: the server commits a transaction only once.
                Err(e)
                    if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                        && Instant::now() < deadline =>
                {
                    backoff(&mut attempt).await;
                }
                Err(e)
                    if e.contains_label(TRANSIENT_TRANSACTION_ERROR)
                        && Instant::now() < deadline =>
                {
                    release(taken).await;
                    backoff(&mut attempt).await;
                    continue 'attempts;
                }
                Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                    // Out of retries without knowing: the event, if any, tells.
                    if let Some(s) = &stored
                        && event_exists(store, &s.record.id).await
                    {
                        if let Some(t) = taken {
                            t.committed();
                        }
                        return Ok(stored);
                    }
                    release(taken).await;
                    return Err(Failure::Driver(e));
                }
                Err(e) => {
                    release(taken).await;
                    return Err(Failure::Driver(e));
                }
            }
        }
    }
}

/// Gives up the number of a failed attempt, if it took one.
async fn release(taken: Option<Taken>) {
    if let Some(t) = taken {
        t.give_up().await;
    }
}

/// Whether the event with this id is stored (`false` when that cannot be found out).
async fn event_exists(store: &MongoStore, id: &str) -> bool {
    let Ok(id) = ObjectId::parse_str(id) else {
        return false;
    };
    matches!(
        store.events.count_documents(doc! {"_id": id}).limit(1).await,
        Ok(n) if n > 0
    )
}

/// Sleeps a random time below an exponentially growing cap, so that writers which
/// conflicted once do not collide again in lockstep.
async fn backoff(attempt: &mut u32) {
    let cap = Duration::from_millis(2 << (*attempt).min(6)).min(MAX_BACKOFF);
    let pause = cap.mul_f64(rand::random::<f64>());
    *attempt += 1;
    tokio::time::sleep(pause).await;
}

/// The node writes of one attempt (a command per run of one kind, `bulk.rs`), then (for
/// an event) its number, the event and the number's claim, last: the claim is what a
/// transaction holds the shortest.
async fn apply_in_session(
    store: &MongoStore,
    session: &mut ClientSession,
    writes: &[Prepared],
    event: Option<&NewEvent>,
    taken: &mut Option<Taken>,
) -> Result<Option<StoredEvent>, Failure> {
    bulk::apply(store, session, writes).await?;
    let Some(event) = event else {
        return Ok(None);
    };
    // Outside the transaction: it holds no lock on the counter.
    let seq = sequence::allocate(&store.counters)
        .await
        .map_err(Failure::Driver)?;
    let number = taken.insert(Taken::new(seq, &store.claims, store.feed.handle()));
    let (stored, doc) = events::new_event(event, number.seq());
    store
        .events
        .insert_one(doc)
        .session(&mut *session)
        .await
        .map_err(Failure::Driver)?;
    store
        .claims
        .insert_one(sequence::claim(seq))
        .session(&mut *session)
        .await
        .map_err(|e| {
            if is_duplicate_key(&e) {
                Failure::Fenced
            } else {
                Failure::Driver(e)
            }
        })?;
    Ok(Some(stored))
}

fn insert_failure(e: DriverError, id: ObjectId) -> Failure {
    if is_duplicate_key(&e) {
        Failure::Store(StoreError::Conflict(format!(
            "node {} already exists",
            id.to_hex()
        )))
    } else {
        Failure::Driver(e)
    }
}

fn not_found(id: ObjectId) -> StoreError {
    StoreError::NotFound(format!("node {}", id.to_hex()))
}

/// Why a replace matched nothing: the node is gone, or it is no longer the version read.
fn missing_or_stale(id: ObjectId, exists: bool) -> StoreError {
    if exists {
        StoreError::Stale(format!("node {}", id.to_hex()))
    } else {
        not_found(id)
    }
}

#[cfg(test)]
impl MongoStore {
    /// Makes `write_nodes` use the fallback, as on a standalone server.
    pub(super) fn disable_transactions(&self) {
        self.no_transactions.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use mongodb::error::CommandError;

    use super::*;

    fn command_error(code: i32, message: &str) -> DriverError {
        let error: CommandError =
            bson::from_document(doc! {"code": code, "codeName": "X", "errmsg": message}).unwrap();
        DriverError::from(ErrorKind::Command(error))
    }

    #[test]
    fn recognises_servers_without_transactions() {
        let standalone = command_error(
            20,
            "Transaction numbers are only allowed on a replica set member or mongos",
        );
        assert!(transactions_unsupported(&standalone));
        assert!(transactions_unsupported(&command_error(
            263,
            "Transaction numbers are only allowed on a replica set member or mongos"
        )));
        assert!(transactions_unsupported(&DriverError::from(
            ErrorKind::SessionsNotSupported
        )));
        assert!(!transactions_unsupported(&command_error(
            11000,
            "E11000 duplicate key"
        )));
        assert!(!transactions_unsupported(&command_error(
            112,
            "WriteConflict"
        )));
    }
}
