//! What the servers on one MongoDB share besides nodes and events: the `/push` and `/pop`
//! lists (collection `lists`, ours: the Python server keeps them in Redis) and the
//! subscription ids (a counter in `counters`).
//!
//! An item is `{list, seq, item, created}`: `seq` from a counter, so that a list is taken
//! in the order it was pushed whichever server pushed; `item` the CloudEvent as JSON text,
//! since its attribute names are the client's (a `$` or a `.` in them would not make a
//! field name). A pop is one `findOneAndDelete` of the oldest item: each item goes to one
//! consumer.
use async_trait::async_trait;
use bson::{Document, doc};
use mongodb::Collection;
use mongodb::options::ReturnDocument;
use serde_json::{Map, Value};

use super::{MongoStore, backend, backend_msg, events};
use crate::store::StoreResult;
use crate::store::shared::SharedStore;

/// The collection of list items.
pub(super) const LISTS: &str = "lists";
/// The counters of item order and of subscription ids, in `counters`.
const ITEM_SEQ: &str = "lists";
const SUBSCRIPTION_ID: &str = "subscription";

/// Raises the subscription-id counter to the clock in milliseconds, so that ids keep
/// growing from those a server gave by the clock (and from an earlier version's).
pub(super) async fn seed_subscription_ids(counters: &Collection<Document>) -> StoreResult<()> {
    let now = bson::DateTime::now().timestamp_millis();
    let raise = || {
        counters
            .update_one(doc! {"_id": SUBSCRIPTION_ID}, doc! {"$max": {"seq": now}})
            .upsert(true)
    };
    match raise().await {
        // Two servers starting at once both tried to create it; the loser updates.
        Err(e) if super::is_duplicate_key(&e) => raise().await.map(drop),
        other => other.map(drop),
    }
    .map_err(backend)
}

/// The next value of the counter `name`.
async fn next(counters: &Collection<Document>, name: &str) -> StoreResult<u64> {
    let counter = counters
        .find_one_and_update(doc! {"_id": name}, doc! {"$inc": {"seq": 1_i64}})
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
        .map_err(backend)?;
    counter
        .as_ref()
        .and_then(|d| d.get("seq"))
        .and_then(events::number)
        .ok_or_else(|| backend_msg(format!("counter {name} without a number")))
}

#[async_trait]
impl SharedStore for MongoStore {
    fn is_shared(&self) -> bool {
        true
    }

    async fn list_push(&self, name: &str, item: &Map<String, Value>) -> StoreResult<()> {
        let text = serde_json::to_string(item).map_err(|e| backend_msg(e.to_string()))?;
        let seq = next(&self.counters, ITEM_SEQ).await?;
        self.db
            .collection::<Document>(LISTS)
            .insert_one(doc! {
                "list": name,
                "seq": events::to_i64(seq),
                "item": text,
                "created": bson::DateTime::now(),
            })
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn list_pop(&self, name: &str) -> StoreResult<Option<Map<String, Value>>> {
        let lists = self.db.collection::<Document>(LISTS);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let name = name.to_owned();
        // In a task of its own: a caller that goes away (the client left, or the time bound
        // passed) while the item is being taken must not lose it. It is put back as it was.
        tokio::spawn(async move {
            let taken = lists
                .find_one_and_delete(doc! {"list": &name})
                .sort(doc! {"seq": 1})
                .await;
            if let Err(Ok(Some(doc))) = tx.send(taken)
                && let Err(e) = lists.insert_one(doc).await
            {
                tracing::error!(error = %e, list = %name, "could not put back an item whose consumer left");
            }
        });
        let taken = rx
            .await
            .map_err(|_| backend_msg("the pop of a list item failed".into()))?
            .map_err(backend)?;
        let Some(doc) = taken else {
            return Ok(None);
        };
        let text = doc.get_str("item").unwrap_or("{}");
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(item)) => Ok(Some(item)),
            _ => Err(backend_msg(format!(
                "an unreadable item of list {}",
                doc.get_str("list").unwrap_or("?")
            ))),
        }
    }

    async fn new_subscription_id(&self) -> StoreResult<Option<u64>> {
        next(&self.counters, SUBSCRIPTION_ID).await.map(Some)
    }
}
