//! The key/value, shared, telemetry and purge calls of [`TimedStore`], bounded as every other
//! call.
use async_trait::async_trait;
use maestro_common::{Filter, Timestamp};

use super::TimedStore;
use crate::store::StoreResult;
use crate::store::kv::KvStore;
use crate::store::purge::{PurgeRange, PurgeStore, PurgedBatch};
use crate::store::shared::SharedStore;
use crate::store::telemetry::{TelemetryGroup, TelemetryGrouping, TelemetryStore};
use crate::telemetry::TelemetryEvent;

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

#[async_trait]
impl SharedStore for TimedStore {
    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    async fn list_push(
        &self,
        name: &str,
        item: &serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()> {
        self.bound("list_push", self.inner.list_push(name, item))
            .await
    }

    async fn list_pop(
        &self,
        name: &str,
    ) -> StoreResult<Option<serde_json::Map<String, serde_json::Value>>> {
        self.bound("list_pop", self.inner.list_pop(name)).await
    }

    async fn new_subscription_id(&self) -> StoreResult<Option<u64>> {
        self.bound("new_subscription_id", self.inner.new_subscription_id())
            .await
    }
}

#[async_trait]
impl TelemetryStore for TimedStore {
    async fn insert_telemetry(&self, events: &[TelemetryEvent]) -> StoreResult<()> {
        self.bound("insert_telemetry", self.inner.insert_telemetry(events))
            .await
    }

    async fn find_telemetry(
        &self,
        filter: &Filter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<TelemetryEvent>, u64)> {
        self.bound(
            "find_telemetry",
            self.inner.find_telemetry(filter, offset, limit),
        )
        .await
    }

    async fn group_telemetry(
        &self,
        grouping: &TelemetryGrouping,
    ) -> StoreResult<Vec<TelemetryGroup>> {
        self.bound("group_telemetry", self.inner.group_telemetry(grouping))
            .await
    }

    async fn purge_telemetry(&self, before: Timestamp, limit: u64) -> StoreResult<u64> {
        self.bound("purge_telemetry", self.inner.purge_telemetry(before, limit))
            .await
    }

    fn expires_telemetry_itself(&self) -> bool {
        self.inner.expires_telemetry_itself()
    }
}

#[async_trait]
impl PurgeStore for TimedStore {
    async fn purge_nodes(&self, range: PurgeRange, limit: u64) -> StoreResult<PurgedBatch> {
        self.bound("purge_nodes", self.inner.purge_nodes(range, limit))
            .await
    }
}
