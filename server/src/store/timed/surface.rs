//! The key/value and telemetry calls of [`TimedStore`], bounded as every other call.
use async_trait::async_trait;

use super::TimedStore;
use crate::store::StoreResult;
use crate::store::kv::KvStore;

#[async_trait]
impl KvStore for TimedStore {
    async fn kv_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.bound("kv_get", self.inner.kv_get(key)).await
    }

    async fn kv_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.bound("kv_set", self.inner.kv_set(key, value)).await
    }

    async fn kv_delete(&self, key: &str) -> StoreResult<bool> {
        self.bound("kv_delete", self.inner.kv_delete(key)).await
    }
}
