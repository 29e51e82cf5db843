//! The storage boundary: the [`Store`] trait that both backends implement, and its errors.
//!
//! Handlers never talk to a database directly. Everything the API needs from storage is a
//! method here, with the same semantics on SQLite and MongoDB (checked by
//! `tests/store_conformance.rs`).
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node, NodeState, Timestamp, UserGroupRef};

use crate::events::{EventLog, NewEvent, SharedEvent, StoredEvent};

pub mod kv;
pub mod mongo;
pub mod purge;
pub mod serialised;
pub mod shared;
pub mod sqlite;
pub mod telemetry;
pub mod timed;
pub mod user_cache;

pub use kv::KvStore;
pub use purge::PurgeStore;
pub use serialised::SerialisedWrite;
pub use shared::SharedStore;
pub use telemetry::TelemetryStore;
pub use user_cache::UserCache;

/// A boxed error from a storage driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed record does not exist (a replace of a missing node, ...).
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique key is taken (an insert of an existing id, a duplicate username, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A conditional write found the record changed since it was read (another request
    /// wrote it first); nothing was written. The caller re-reads and tries again.
    #[error("changed concurrently: {0}")]
    Stale(String),
    /// The event of the write is over the size cap ([`EventLog::admit`]); nothing was
    /// written.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The database refused the request as malformed (a pattern or value it cannot take).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database is unreachable, or did not answer in time; the request may be retried
    /// shortly.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The database failed; the request may be retried.
    #[error("storage backend error: {0}")]
    Backend(#[source] BoxError),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Ids per query of [`Store::get_nodes`] where a store asks the database for many at once.
pub const GET_NODES_CHUNK: usize = 1_000;

/// One node write of an atomic batch.
#[derive(Clone, Debug)]
pub enum NodeWrite {
    /// Create a node; its `id` must be set and must not exist yet.
    Insert(Node),
    /// Replace the whole stored node that has this node's `id`; it must exist. Only for
    /// writers that own the record outright (tests, migrations): request paths use
    /// [`NodeWrite::Update`].
    Replace(Node),
    /// Replace the stored node only while it is still the version the caller read and
    /// checked: its `updated` and `owner` are still `expected`. Otherwise the whole batch
    /// fails with [`StoreError::Stale`] (or `NotFound` when the node is gone).
    Update {
        /// The new version; its `updated` must differ from `expected.updated` (see
        /// [`Timestamp::next_after`]), so that every version of a node is told apart.
        node: Node,
        /// What identifies the version that was read.
        expected: NodeVersion,
    },
}

/// What identifies one stored version of a node: its `updated` time, unique per version
/// because every write sets it strictly later than the version it replaces, and its owner,
/// which a rename changes without touching `updated`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeVersion {
    /// `updated` of the version read.
    pub updated: Timestamp,
    /// `owner` of the version read.
    pub owner: Option<String>,
}

impl NodeVersion {
    /// The version of `node` as read from the store.
    pub fn of(node: &Node) -> Self {
        Self {
            updated: node.updated,
            owner: node.owner.clone(),
        }
    }
}

impl NodeWrite {
    /// A conditional replace of `read` (the version that was checked) by `node`.
    pub fn update(node: Node, read: &Node) -> Self {
        Self::Update {
            node,
            expected: NodeVersion::of(read),
        }
    }

    /// The node being written.
    pub fn node(&self) -> &Node {
        match self {
            Self::Insert(n) | Self::Replace(n) | Self::Update { node: n, .. } => n,
        }
    }
}

/// The nodes one life-cycle rule looks at (`crate::lifecycle`), each set served by an index
/// and paged in the order of its sort key, then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueNodes {
    /// In this state with `timeout` before the instant; by `timeout` (index state, timeout).
    TimedOut(NodeState, Timestamp),
    /// `available` with a `holdoff` before the instant; by `holdoff` (index state, holdoff).
    HoldoffPassed(Timestamp),
    /// `closing`; by `timeout` (index state, timeout).
    Closing,
}

impl DueNodes {
    /// The sort key of `node` in this set: what a page cursor holds.
    pub fn key(self, node: &Node) -> Option<Timestamp> {
        match self {
            Self::TimedOut(..) | Self::Closing => Some(node.timeout),
            Self::HoldoffPassed(_) => node.holdoff,
        }
    }
}

/// Where a page of [`Store::due_nodes`] starts: after the node with this sort key and id.
pub type DueCursor = (Timestamp, ObjectIdHex);

/// A user account as stored, secrets included. Never serialised to clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUser {
    /// 24-hex ObjectId.
    pub id: ObjectIdHex,
    /// Email address; unique, case-insensitively.
    pub email: String,
    /// argon2id (or, for migrated users, bcrypt) hash in PHC/modular-crypt form.
    pub hashed_password: String,
    /// Whether the account may log in.
    pub is_active: bool,
    /// Whether the user may do everything.
    pub is_superuser: bool,
    /// Whether the email was verified.
    pub is_verified: bool,
    /// Unique login name.
    pub username: String,
    /// Groups, matched by name.
    pub groups: Vec<UserGroupRef>,
}

/// A user group (`usergroup` collection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserGroup {
    /// 24-hex ObjectId.
    pub id: ObjectIdHex,
    /// Unique name.
    pub name: String,
}

/// An exact-match test on a user field, for `GET /users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserFilter {
    /// `username=...`
    Username(String),
    /// `email=...` (exact, as the Python server's filters are)
    Email(String),
    /// `is_active=true|false`
    IsActive(bool),
    /// `is_superuser=true|false`
    IsSuperuser(bool),
    /// `is_verified=true|false`
    IsVerified(bool),
    /// `groups.name=...`: members of the group.
    Group(String),
}

/// What `delete_group_if_unused` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupDeletion {
    /// The group was deleted.
    Deleted,
    /// No group has that id.
    NotFound,
    /// Some user holds the group; nothing was deleted.
    InUse,
    /// Some node names the group in `user_groups`; nothing was deleted.
    NamedByNodes,
}

/// The stored position of a durable subscriber (`subscriber_state`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberState {
    /// The client's name for the subscription, e.g. `scheduler:node`.
    pub subscriber_id: String,
    /// Channel it subscribed to first.
    pub channel: String,
    /// Username that owns it.
    pub user: String,
    /// Whether it first subscribed promiscuously.
    pub promiscuous: bool,
    /// Sequence of the last acknowledged event.
    pub last_event_id: u64,
    /// When it was first created.
    pub created_at: Timestamp,
    /// When it last listened.
    pub last_poll: Option<Timestamp>,
}

/// Everything the API stores. Implementations must be safe to share between requests.
/// The key/value values are in [`KvStore`], telemetry in [`TelemetryStore`], what several
/// servers share in [`SharedStore`], the deletion of old nodes in [`PurgeStore`].
#[async_trait]
pub trait Store:
    KvStore + TelemetryStore + SharedStore + PurgeStore + Send + Sync + 'static
{
    /// Short name of the backend for logs (`sqlite`, `mongodb`).
    fn backend_name(&self) -> &'static str;

    /// Closes the backend's connections before the process ends (a short-lived command
    /// whose runtime stops right after). Nothing to do for most backends.
    async fn close(&self) {}

    /// The node with this id, if any.
    async fn get_node(&self, id: &ObjectIdHex) -> StoreResult<Option<Node>>;

    /// The nodes of `ids` that exist, by id: what a batch write checks before it writes.
    /// The default reads them one by one (cheap in-process); MongoDB asks once per
    /// [`GET_NODES_CHUNK`] ids instead of a round trip per node.
    async fn get_nodes(&self, ids: &[ObjectIdHex]) -> StoreResult<HashMap<ObjectIdHex, Node>> {
        let mut found = HashMap::with_capacity(ids.len());
        for id in ids {
            if let Some(node) = self.get_node(id).await? {
                found.insert(id.clone(), node);
            }
        }
        Ok(found)
    }

    /// The node with this id as the JSON text the API answers (the serialised [`Node`]),
    /// if any. A store that keeps that text serves it as it is, without parsing it.
    async fn get_node_json(&self, id: &ObjectIdHex) -> StoreResult<Option<String>> {
        self.get_node(id)
            .await?
            .map(|n| serde_json::to_string(&n).map_err(|e| StoreError::Backend(e.into())))
            .transpose()
    }

    /// As [`Store::find_nodes`], as the JSON text of the array the API answers.
    async fn find_nodes_json(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<String> {
        let nodes = self.find_nodes(filter, offset, limit).await?;
        serde_json::to_string(&nodes).map_err(|e| StoreError::Backend(e.into()))
    }

    /// The cache of users that authentication reads through ([`UserCache`]): a store that
    /// has one clears it after each of its user writes. `None`: users are read every time.
    fn user_cache(&self) -> Option<&UserCache> {
        None
    }

    /// Nodes matching `filter`, ordered by id ascending, skipping `offset` and returning at
    /// most `limit` (all when `None`).
    async fn find_nodes(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<Node>>;

    /// How many nodes match `filter`.
    async fn count_nodes(&self, filter: &Filter) -> StoreResult<u64>;

    /// Up to `limit` nodes of the set `due`, ordered by its sort key ([`DueNodes::key`])
    /// then id, starting after `after`: one page of a life-cycle rule, read through an index
    /// however large the set.
    async fn due_nodes(
        &self,
        due: DueNodes,
        after: Option<&DueCursor>,
        limit: u64,
    ) -> StoreResult<Vec<Node>>;

    /// Whether some descendant of the node (a child, grandchild, ... through `parent`) is not
    /// `done`. Stops at the first one found; a cycle of parents ends the walk, and the node
    /// itself never counts.
    async fn has_pending_descendant(&self, id: &ObjectIdHex) -> StoreResult<bool>;

    /// Applies every write or none of them. An insert of an existing id fails with
    /// `Conflict`, a replace of a missing id with `NotFound`; either way nothing is written.
    /// When this returns `Ok`, the writes are durable.
    async fn write_nodes(&self, writes: Vec<NodeWrite>) -> StoreResult<()> {
        self.write_nodes_with_event(writes, None).await.map(|_| ())
    }

    /// As [`Store::write_nodes`], and stores `event` in the same transaction with the next
    /// sequence number: a change is never stored without its event, nor an event without its
    /// change. After the commit, and before answering, the event is pushed to
    /// [`Store::event_log`], in sequence order.
    async fn write_nodes_with_event(
        &self,
        writes: Vec<NodeWrite>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<SharedEvent>>;

    /// As [`Store::write_nodes_with_event`], for a caller that serialised the nodes already
    /// (for its answer): a store that keeps each node's JSON text stores that text instead
    /// of serialising the node again.
    async fn write_serialised_with_event(
        &self,
        writes: Vec<SerialisedWrite>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<SharedEvent>> {
        let writes = writes
            .into_iter()
            .map(SerialisedWrite::into_write)
            .collect();
        self.write_nodes_with_event(writes, event).await
    }

    /// The recent events in memory, and the head sequence.
    fn event_log(&self) -> &Arc<EventLog>;

    /// `Ok` when the database answers a trivial request (the health endpoint).
    async fn ping(&self) -> StoreResult<()>;

    /// Up to `limit` stored events with a sequence above `after`, in sequence order.
    async fn events_after(&self, after: u64, limit: u64) -> StoreResult<Vec<StoredEvent>>;

    /// Stored events matching `filter` (fields `id`, `sequence_id`, `timestamp`, `channel`,
    /// `owner`, `data.*`), in sequence order, skipping `offset`, at most `limit`.
    async fn find_events(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The durable subscriber with this id.
    async fn find_subscriber(&self, subscriber_id: &str) -> StoreResult<Option<SubscriberState>>;

    /// Records a new durable subscriber; `Conflict` if the id exists.
    async fn insert_subscriber(&self, state: &SubscriberState) -> StoreResult<()>;

    /// Moves a subscriber's acknowledged position forward to `last_event_id` (never back)
    /// and records the poll time.
    async fn ack_subscriber(
        &self,
        subscriber_id: &str,
        last_event_id: u64,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// Creates a user; `Conflict` if the username or (case-insensitively) the email is taken.
    async fn insert_user(&self, user: &StoredUser) -> StoreResult<()>;

    /// Replaces the stored user `expected` (the record as the caller read it) by `user`;
    /// `NotFound` if missing, `Stale` if the stored record is no longer `expected`,
    /// `Conflict` on a taken username or email. A changed username carries the account's
    /// nodes with it: every node owned by the old name is owned by the new one afterwards.
    async fn update_user(&self, user: &StoredUser, expected: &StoredUser) -> StoreResult<()>;

    /// The user with this id.
    async fn find_user_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<StoredUser>>;

    /// The user with this username (exact match).
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<StoredUser>>;

    /// The user whose email equals `email`, ignoring case.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<StoredUser>>;

    /// Users matching every filter, ordered by id, with the total number of matches.
    async fn list_users(
        &self,
        filters: &[UserFilter],
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<StoredUser>, u64)>;

    /// Deletes a user; `false` when there was none with that id.
    async fn delete_user(&self, id: &ObjectIdHex) -> StoreResult<bool>;

    /// Creates a group; `Conflict` if the name is taken.
    async fn insert_group(&self, group: &UserGroup) -> StoreResult<()>;

    /// The group with this name.
    async fn find_group_by_name(&self, name: &str) -> StoreResult<Option<UserGroup>>;

    /// The group with this id.
    async fn find_group_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<UserGroup>>;

    /// Groups (optionally only the one named `name`), ordered by id, with the total.
    async fn list_groups(
        &self,
        name: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<UserGroup>, u64)>;

    /// Deletes a group unless a user holds it or a node names it in `user_groups` (matched
    /// by name), atomically with respect to other writes of the store.
    async fn delete_group_if_unused(&self, id: &ObjectIdHex) -> StoreResult<GroupDeletion>;
}
