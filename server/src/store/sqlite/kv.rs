//! The key/value table of the SQLite store.
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, backend};
use crate::store::StoreResult;
use crate::store::kv::KvStore;

/// `kv`: one row per key (schema version 2). `WITHOUT ROWID`: the key is the only lookup, so
/// the table is its primary-key index and nothing else.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

#[async_trait]
impl KvStore for SqliteStore {
    async fn kv_get(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT value FROM kv WHERE key = ?")
                .and_then(|mut s| s.query_row([&key], |r| r.get(0)).optional())
                .map_err(backend)
        })
        .await
    }

    async fn kv_set(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute(params![key, value]))
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn kv_delete(&self, key: &str) -> StoreResult<bool> {
        let key = key.to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM kv WHERE key = ?")
                .and_then(|mut s| s.execute([&key]))
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }
}
