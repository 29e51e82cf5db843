//! The node purge of the MongoDB store: one batch of old nodes found through the
//! `created` index, then deleted by id.
use async_trait::async_trait;
use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use maestro_common::Timestamp;

use super::{MongoStore, backend, convert};
use crate::store::StoreResult;
use crate::store::purge::{KEPT_KIND, PurgeRange, PurgeStore, PurgedBatch};

/// The selection of `range`: old and not a checkout.
fn selection(range: PurgeRange) -> Document {
    let mut created = doc! {"$lt": convert::date(range.before)};
    if let Some(from) = range.from {
        created.insert("$gte", convert::date(from));
    }
    doc! {"created": created, "kind": {"$ne": KEPT_KIND}}
}

#[async_trait]
impl PurgeStore for MongoStore {
    async fn purge_nodes(&self, range: PurgeRange, limit: u64) -> StoreResult<PurgedBatch> {
        if limit == 0 {
            return Ok(PurgedBatch::default());
        }
        // By `created`, not by `_id` as the Python server does: with the hint the range is
        // one walk of the `created` index that stops after `limit` matches, while an `_id`
        // order reads every node (recent ones too) to test its `created`. The hint keeps
        // the planner off `{kind, created}`, which serves `$ne` but needs a sort of the
        // whole range.
        let found: Vec<Document> = self
            .nodes
            .find(selection(range))
            .projection(doc! {"_id": 1, "created": 1})
            .sort(doc! {"created": 1})
            .hint(mongodb::options::Hint::Keys(doc! {"created": 1}))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .max_time(self.max_time)
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let mut batch = PurgedBatch {
            matched: found.len() as u64,
            ..PurgedBatch::default()
        };
        let ids: Vec<Bson> = found.iter().filter_map(|d| d.get("_id").cloned()).collect();
        if ids.is_empty() {
            return Ok(batch);
        }
        batch.last_created = found
            .iter()
            .filter_map(|d| d.get_datetime("created").ok())
            .map(|d| d.timestamp_millis())
            .max()
            .and_then(Timestamp::from_millis);
        // The selection again: a node made a checkout since it was read stays. One
        // `delete_many`, not a transaction: each deletion is atomic on its own, and no
        // event goes with them, so there is nothing to keep together.
        let mut delete = selection(range);
        delete.insert("_id", doc! {"$in": ids});
        let deleted = self.nodes.delete_many(delete).await.map_err(backend)?;
        batch.deleted = deleted.deleted_count;
        Ok(batch)
    }
}
