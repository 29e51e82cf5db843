//! The key/value collection of the MongoDB store.
//!
//! The Python server keeps these values in Redis (database 0, key `<namespace>:<key>`), not
//! in MongoDB, so no document shape is shared with it. Ours: collection `kv`, one document
//! per key, `{_id: "<namespace>:<key>", value: "<string>"}`. The key as `_id` makes every call
//! one primary-key operation (no extra index), and a set one atomic upsert; the name clashes
//! with no collection of the Python server's database.
use async_trait::async_trait;
use bson::{Document, doc};
use mongodb::Collection;

use super::{MongoStore, backend};
use crate::store::StoreResult;
use crate::store::kv::KvStore;

/// The collection of the key/value store.
const KV: &str = "kv";

impl MongoStore {
    fn kv(&self) -> Collection<Document> {
        self.db.collection(KV)
    }
}

#[async_trait]
impl KvStore for MongoStore {
    async fn kv_get(&self, key: &str) -> StoreResult<Option<String>> {
        let found = self
            .kv()
            .find_one(doc! {"_id": key})
            .await
            .map_err(backend)?;
        // A value some other writer stored as a non-string is shown as nothing.
        Ok(found.and_then(|d| d.get_str("value").ok().map(str::to_owned)))
    }

    async fn kv_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.kv()
            .replace_one(doc! {"_id": key}, doc! {"_id": key, "value": value})
            .upsert(true)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn kv_delete(&self, key: &str) -> StoreResult<bool> {
        let result = self
            .kv()
            .delete_one(doc! {"_id": key})
            .await
            .map_err(backend)?;
        Ok(result.deleted_count > 0)
    }
}
