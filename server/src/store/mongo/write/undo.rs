//! The node batch without transactions (a standalone server): each write applied in
//! turn, with the write that puts it back should a later one fail.
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};

use super::{Prepared, insert_failure, missing_or_stale};
use crate::events::{NewEvent, StoredEvent};
use crate::store::StoreError;
use crate::store::StoreResult;
use crate::store::mongo::sequence::{self, Taken};
use crate::store::mongo::{MongoStore, backend, events, is_duplicate_key};

/// What puts the database back as it was before one applied write.
enum Undo {
    Delete(ObjectId),
    /// Put back the previous document, unless another write replaced ours (whose
    /// `updated` is the middle field) since: that one is newer and is kept.
    Restore(ObjectId, Bson, Document),
}

/// The fallback without transactions: writes in order, then the event with its number and
/// the number's claim, and on a failure the applied writes are undone newest first. Readers
/// may see a partial batch (or a change before its event) meanwhile, and a crash in the
/// middle leaves it applied in part: the best a standalone server allows.
pub(super) async fn with_undo(
    store: &MongoStore,
    writes: &[Prepared],
    event: Option<&NewEvent>,
) -> StoreResult<Option<StoredEvent>> {
    let mut done = Vec::with_capacity(writes.len());
    for w in writes {
        match apply_undoable(store, w).await {
            Ok(undo) => done.push(undo),
            Err(e) => {
                undo_all(store, done).await;
                return Err(e);
            }
        }
    }
    let Some(event) = event else {
        return Ok(None);
    };
    let seq = match sequence::allocate(&store.counters).await {
        Ok(seq) => seq,
        Err(e) => {
            undo_all(store, done).await;
            return Err(backend(e));
        }
    };
    let taken = Taken::new(seq, &store.claims, store.feed.handle());
    match insert_event(store, event, seq).await {
        Ok(stored) => {
            taken.committed();
            Ok(Some(stored))
        }
        Err(e) => {
            undo_all(store, done).await;
            taken.give_up().await;
            Err(e)
        }
    }
}

/// Stores `event` with its number and then the number's claim, outside any transaction; a
/// claim found taken (a reader gave the number up meanwhile) takes the event back.
async fn insert_event(
    store: &MongoStore,
    event: &NewEvent,
    sequence: u64,
) -> StoreResult<StoredEvent> {
    let (stored, doc) = events::new_event(event, sequence);
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    store.events.insert_one(doc).await.map_err(backend)?;
    if let Err(e) = store.claims.insert_one(sequence::claim(sequence)).await {
        // Readers skip the number, so the event must go (or it would be in the history
        // without ever being delivered).
        if let Err(undo) = store.events.delete_one(doc! {"_id": id}).await {
            tracing::error!(error = %undo, sequence, "could not take back an unclaimed event");
        }
        return Err(if is_duplicate_key(&e) {
            StoreError::Unavailable("The event's number was given up meanwhile; retry".into())
        } else {
            backend(e)
        });
    }
    Ok(stored)
}

async fn apply_undoable(store: &MongoStore, w: &Prepared) -> StoreResult<Undo> {
    let by_id = doc! {"_id": w.id};
    if w.insert {
        store
            .nodes
            .insert_one(&w.doc)
            .await
            .map_err(|e| StoreError::from(insert_failure(e, w.id)))?;
        return Ok(Undo::Delete(w.id));
    }
    let previous = store
        .nodes
        .find_one(w.filter.clone())
        .await
        .map_err(backend)?;
    let Some(previous) = previous else {
        let exists = store.nodes.find_one(by_id).await.map_err(backend)?;
        return Err(missing_or_stale(w.id, exists.is_some()));
    };
    let result = store
        .nodes
        .replace_one(w.filter.clone(), &w.doc)
        .await
        .map_err(backend)?;
    if result.matched_count == 0 {
        // Changed or deleted between the read and the replace.
        let exists = store.nodes.find_one(by_id).await.map_err(backend)?;
        return Err(missing_or_stale(w.id, exists.is_some()));
    }
    let ours = w.doc.get("updated").cloned().unwrap_or(Bson::Null);
    Ok(Undo::Restore(w.id, ours, previous))
}

async fn undo_all(store: &MongoStore, done: Vec<Undo>) {
    for undo in done.into_iter().rev() {
        let (id, result) = match undo {
            Undo::Delete(id) => (id, store.nodes.delete_one(doc! {"_id": id}).await.map(drop)),
            Undo::Restore(id, ours, previous) => (
                id,
                store
                    .nodes
                    .replace_one(doc! {"_id": id, "updated": ours}, previous)
                    .await
                    .map(drop),
            ),
        };
        if let Err(e) = result {
            tracing::error!(node = %id, error = %e, "could not undo a write of a failed node batch");
        }
    }
}
