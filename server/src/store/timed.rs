//! `TimedStore`: any store with a bound on each call's time. A call that does not finish
//! in time fails with `Unavailable` (answered 503 with `Retry-After`), so an outage of the
//! database is a quick, clear answer instead of a hang.
//!
//! A write that times out may still be applied afterwards (the database had it and
//! answered late): the 503 means "outcome unknown", as a lost connection would.
//!
//! Being the one place every call passes, it also records each call's latency and the
//! database's failures, and the events stored, in the server's [`Metrics`].
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node, Timestamp};

use super::{
    DueCursor, DueNodes, GroupDeletion, NodeWrite, SerialisedWrite, Store, StoreError, StoreResult,
    StoredUser, SubscriberState, UserCache, UserFilter, UserGroup,
};
use crate::events::{EventLog, NewEvent, SharedEvent, StoredEvent};
use crate::metrics::{Metrics, StoreFailure};

mod surface;

/// The default bound of one store call.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// A store whose every call is bounded in time.
pub struct TimedStore {
    inner: Arc<dyn Store>,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Authenticated users, for a backend without a cache of its own (MongoDB): cleared
    /// after each user write made through this store.
    users: UserCache,
}

impl TimedStore {
    /// A node write (either entry point), bounded as one `write_nodes_with_event` call, and
    /// the event it published counted by channel.
    async fn node_write(
        &self,
        write: impl Future<Output = StoreResult<Option<SharedEvent>>> + Send,
    ) -> StoreResult<Option<SharedEvent>> {
        let written = self.bound("write_nodes_with_event", write).await;
        if let Ok(Some(event)) = &written {
            self.metrics.events.published(&event.record.channel);
        }
        written
    }

    /// `inner`, with each call bounded by `timeout` (and recorded in metrics of its own).
    pub fn new(inner: Arc<dyn Store>, timeout: Duration) -> Self {
        Self::with_metrics(inner, timeout, Arc::default())
    }

    /// `inner`, with each call bounded by `timeout` and recorded in `metrics`.
    pub fn with_metrics(inner: Arc<dyn Store>, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        metrics.register_store(inner.backend_name());
        Self {
            inner,
            timeout,
            metrics,
            users: UserCache::default(),
        }
    }

    async fn bound<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = StoreResult<T>> + Send,
    ) -> StoreResult<T> {
        let started = Instant::now();
        let (result, failure) = match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => {
                let failure = match &result {
                    Err(StoreError::Unavailable(_)) => Some(StoreFailure::Unavailable),
                    Err(StoreError::Backend(_)) => Some(StoreFailure::Other),
                    // Answers about the data (not found, conflict, ...), not failures.
                    _ => None,
                };
                (result, failure)
            }
            Err(_) => {
                tracing::warn!(
                    call = what,
                    timeout_ms = self.timeout.as_millis() as u64,
                    store = self.inner.backend_name(),
                    "store call timed out; answering 503"
                );
                let e = StoreError::Unavailable(format!(
                    "The database did not answer within {} s",
                    self.timeout.as_secs_f64()
                ));
                (Err(e), Some(StoreFailure::Timeout))
            }
        };
        self.metrics
            .store_call(self.backend_name(), what, started.elapsed(), failure);
        result
    }
}

#[async_trait]
impl Store for TimedStore {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    async fn get_node(&self, id: &ObjectIdHex) -> StoreResult<Option<Node>> {
        self.bound("get_node", self.inner.get_node(id)).await
    }

    async fn get_node_json(&self, id: &ObjectIdHex) -> StoreResult<Option<String>> {
        self.bound("get_node", self.inner.get_node_json(id)).await
    }

    async fn get_nodes(&self, ids: &[ObjectIdHex]) -> StoreResult<HashMap<ObjectIdHex, Node>> {
        self.bound("get_nodes", self.inner.get_nodes(ids)).await
    }

    async fn find_nodes_json(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<String> {
        self.bound(
            "find_nodes",
            self.inner.find_nodes_json(filter, offset, limit),
        )
        .await
    }

    fn user_cache(&self) -> Option<&UserCache> {
        // The backend's own cache when it has one: it is cleared when the write commits,
        // even if this call gave up waiting for it.
        self.inner.user_cache().or(Some(&self.users))
    }

    async fn find_nodes(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<Node>> {
        self.bound("find_nodes", self.inner.find_nodes(filter, offset, limit))
            .await
    }

    async fn count_nodes(&self, filter: &Filter) -> StoreResult<u64> {
        self.bound("count_nodes", self.inner.count_nodes(filter))
            .await
    }

    async fn due_nodes(
        &self,
        due: DueNodes,
        after: Option<&DueCursor>,
        limit: u64,
    ) -> StoreResult<Vec<Node>> {
        self.bound("due_nodes", self.inner.due_nodes(due, after, limit))
            .await
    }

    async fn has_pending_descendant(&self, id: &ObjectIdHex) -> StoreResult<bool> {
        self.bound(
            "has_pending_descendant",
            self.inner.has_pending_descendant(id),
        )
        .await
    }

    async fn write_nodes_with_event(
        &self,
        writes: Vec<NodeWrite>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<SharedEvent>> {
        self.node_write(self.inner.write_nodes_with_event(writes, event))
            .await
    }

    async fn write_serialised_with_event(
        &self,
        writes: Vec<SerialisedWrite>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<SharedEvent>> {
        self.node_write(self.inner.write_serialised_with_event(writes, event))
            .await
    }

    fn event_log(&self) -> &Arc<EventLog> {
        self.inner.event_log()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.bound("ping", self.inner.ping()).await
    }

    async fn events_after(&self, after: u64, limit: u64) -> StoreResult<Vec<StoredEvent>> {
        self.bound("events_after", self.inner.events_after(after, limit))
            .await
    }

    async fn find_events(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.bound("find_events", self.inner.find_events(filter, offset, limit))
            .await
    }

    async fn find_subscriber(&self, subscriber_id: &str) -> StoreResult<Option<SubscriberState>> {
        self.bound("find_subscriber", self.inner.find_subscriber(subscriber_id))
            .await
    }

    async fn insert_subscriber(&self, state: &SubscriberState) -> StoreResult<()> {
        self.bound("insert_subscriber", self.inner.insert_subscriber(state))
            .await
    }

    async fn ack_subscriber(
        &self,
        subscriber_id: &str,
        last_event_id: u64,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.bound(
            "ack_subscriber",
            self.inner.ack_subscriber(subscriber_id, last_event_id, at),
        )
        .await
    }

    async fn insert_user(&self, user: &StoredUser) -> StoreResult<()> {
        let done = self
            .bound("insert_user", self.inner.insert_user(user))
            .await;
        self.users.clear();
        done
    }

    async fn update_user(&self, user: &StoredUser, expected: &StoredUser) -> StoreResult<()> {
        let done = self
            .bound("update_user", self.inner.update_user(user, expected))
            .await;
        self.users.clear();
        done
    }

    async fn find_user_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<StoredUser>> {
        self.bound("find_user_by_id", self.inner.find_user_by_id(id))
            .await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<StoredUser>> {
        self.bound(
            "find_user_by_username",
            self.inner.find_user_by_username(username),
        )
        .await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<StoredUser>> {
        self.bound("find_user_by_email", self.inner.find_user_by_email(email))
            .await
    }

    async fn list_users(
        &self,
        filters: &[UserFilter],
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<StoredUser>, u64)> {
        self.bound("list_users", self.inner.list_users(filters, offset, limit))
            .await
    }

    async fn delete_user(&self, id: &ObjectIdHex) -> StoreResult<bool> {
        let done = self.bound("delete_user", self.inner.delete_user(id)).await;
        self.users.clear();
        done
    }

    async fn insert_group(&self, group: &UserGroup) -> StoreResult<()> {
        self.bound("insert_group", self.inner.insert_group(group))
            .await
    }

    async fn find_group_by_name(&self, name: &str) -> StoreResult<Option<UserGroup>> {
        self.bound("find_group_by_name", self.inner.find_group_by_name(name))
            .await
    }

    async fn find_group_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<UserGroup>> {
        self.bound("find_group_by_id", self.inner.find_group_by_id(id))
            .await
    }

    async fn list_groups(
        &self,
        name: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<UserGroup>, u64)> {
        self.bound("list_groups", self.inner.list_groups(name, offset, limit))
            .await
    }

    async fn delete_group_if_unused(&self, id: &ObjectIdHex) -> StoreResult<GroupDeletion> {
        self.bound(
            "delete_group_if_unused",
            self.inner.delete_group_if_unused(id),
        )
        .await
    }
}
