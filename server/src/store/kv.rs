//! The key/value part of the [`Store`](super::Store): the values of `/kv/{namespace}/{key}`
//! (kernelci-api.md section 10), plain strings under one string key, kept until deleted.
use async_trait::async_trait;

use super::StoreResult;

/// Strings under string keys. Every call is durable on `Ok`, as node writes are.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value stored under `key`, if any.
    async fn kv_get(&self, key: &str) -> StoreResult<Option<String>>;

    /// Stores `value` under `key`, replacing what was there.
    async fn kv_set(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Deletes `key`; `false` when there was nothing under it.
    async fn kv_delete(&self, key: &str) -> StoreResult<bool>;
}
