//! MongoDB store: the [`Store`] trait over the official driver, with documents shaped as the
//! Python KernelCI server stores them, so both servers can share one database.
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use bson::{Document, doc};
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node, Timestamp};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{Acknowledgment, ClientOptions};
use mongodb::{Client, Collection, Database};

use crate::events::{EventLog, NewEvent, SharedEvent, StoredEvent};
use crate::store::{
    DueCursor, DueNodes, GroupDeletion, NodeWrite, Store, StoreError, StoreResult, StoredUser,
    SubscriberState, UserFilter, UserGroup,
};

mod convert;
mod errors;
mod events;
mod feed;
mod filter;
mod indexes;
mod kv;
mod lifecycle;
mod purge;
mod query;
mod raw;
mod registry;
mod sequence;
mod shared;
mod telemetry;
#[cfg(test)]
mod tests;
mod write;

use errors::{backend, backend_msg, error_code, is_duplicate_key, user_conflict};
pub(super) use query::find_sorted;
use query::{case_insensitive, page};

/// The MongoDB store: collections `node`, `user`, `usergroup`, `eventhistory`,
/// `subscriber_state` and `counters` of one database (shaped as the Python server's), and
/// ours: `event_claims`, `kv`, `lists`. Several servers may share one database.
#[derive(Debug)]
pub struct MongoStore {
    client: Client,
    db: Database,
    nodes: Collection<Document>,
    users: Collection<Document>,
    groups: Collection<Document>,
    events: Collection<Document>,
    counters: Collection<Document>,
    claims: Collection<Document>,
    subscribers: Collection<Document>,
    event_log: Arc<EventLog>,
    /// Fills `event_log` with the events of every server on the database, in order.
    feed: feed::Feed,
    /// This server among those on the database, and its write sessions.
    registry: Arc<registry::Registry>,
    /// Set once the server said it cannot run transactions (a standalone `mongod`), so
    /// later batches go straight to the undo-based fallback.
    no_transactions: AtomicBool,
    /// `maxTimeMS` of the queries that take a client's filter.
    max_time: Duration,
    /// Event-producing write transactions this server runs at once (the others wait
    /// their turn here): concurrent transactions that insert into the same collections
    /// conflict on some MongoDB-wire servers, and a storm of conflict retries then starves
    /// every writer (`--mongodb-write-transactions`).
    write_permits: tokio::sync::Semaphore,
}

/// Write transactions a store runs at once unless told otherwise (the server's option has
/// the same default, `config::defaults`).
pub const DEFAULT_WRITE_TRANSACTIONS: usize = 1;

/// How long the MongoDB store waits for the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MongoTimeouts {
    /// Server selection and connection timeouts, unless the URI sets them: how long a
    /// request (and the start-up) waits for an unreachable server before failing.
    pub connect: Duration,
    /// `maxTimeMS` of every query that takes a client's filter: the server stops such a
    /// query (a costly regex, say) itself, rather than running on after we answered.
    pub max_time: Duration,
}

impl Default for MongoTimeouts {
    /// 5 s to reach the server, 4 s per query: under the default store time bound of
    /// `crate::store::timed`, so the server gives up before the request does.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            max_time: Duration::from_secs(4),
        }
    }
}

impl MongoStore {
    /// Connects to `uri`, checks the server answers, and creates the indexes of `database`,
    /// with the default timeouts.
    pub async fn connect(uri: &str, database: &str) -> Result<Self, StoreError> {
        Self::connect_with(uri, database, MongoTimeouts::default()).await
    }

    /// As [`MongoStore::connect`], with these timeouts.
    pub async fn connect_with(
        uri: &str,
        database: &str,
        timeouts: MongoTimeouts,
    ) -> Result<Self, StoreError> {
        Self::connect_counting(uri, database, timeouts, None).await
    }

    /// As [`MongoStore::connect_with`], counting every command sent in `commands` (by
    /// command name) when given.
    pub async fn connect_counting(
        uri: &str,
        database: &str,
        timeouts: MongoTimeouts,
        commands: Option<prometheus::IntCounterVec>,
    ) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri).await.map_err(backend)?;
        if let Some(counter) = commands {
            // Started events only: one per command on the wire, retries and the driver's
            // own (commit, abort, getMore, endSessions) included.
            options.command_event_handler = Some(EventHandler::callback(move |e| {
                if let CommandEvent::Started(s) = e {
                    counter.with_label_values(&[s.command_name.as_str()]).inc();
                }
            }));
        }
        // The driver's default is 30 s of server selection: every request (and the start-up)
        // hung that long in an outage.
        options
            .server_selection_timeout
            .get_or_insert(timeouts.connect);
        options.connect_timeout.get_or_insert(timeouts.connect);
        // `j: true`: the server acknowledges a write only once it is in the on-disk journal,
        // so a crash right after `Ok` cannot lose it (the trait promises durable writes).
        // `w: majority` unless the URI picks `w`: on a replica set the write then also
        // survives a failover; on a single node it is the same as `w: 1`.
        let mut concern = options.write_concern.take().unwrap_or_default();
        concern.w.get_or_insert(Acknowledgment::Majority);
        concern.journal = Some(true);
        // No `wtimeout`: the request's store time is bounded by `TimedStore` already, and
        // a `wtimeout` made conflicting writes much slower on the MongoDB-wire test server.
        options.write_concern = Some(concern);
        options
            .app_name
            .get_or_insert_with(|| "maestro-server".to_owned());
        let client = Client::with_options(options).map_err(backend)?;
        let db = client.database(database);
        db.run_command(doc! {"ping": 1}).await.map_err(|e| {
            StoreError::Unavailable(format!(
                "MongoDB did not answer within {} s: {e}",
                timeouts.connect.as_secs_f64()
            ))
        })?;
        indexes::ensure(&db).await?;
        let seed = events::seed_sequence(&db).await?;
        let start = sequence::start(&db, seed).await?;
        let registry = registry::Registry::start(&client, &db).await?;
        let (feed, event_log) = feed::Feed::start(
            &db,
            Arc::clone(&registry),
            start,
            crate::events::log::DEFAULT_CAPACITY,
        );
        shared::seed_subscription_ids(&db.collection(events::COUNTERS)).await?;
        Ok(Self {
            nodes: db.collection("node"),
            users: db.collection("user"),
            groups: db.collection("usergroup"),
            events: db.collection(events::EVENTS),
            counters: db.collection(events::COUNTERS),
            claims: db.collection(sequence::CLAIMS),
            subscribers: db.collection(events::SUBSCRIBERS),
            event_log,
            feed,
            registry,
            client,
            db,
            no_transactions: AtomicBool::new(false),
            max_time: timeouts.max_time,
            write_permits: tokio::sync::Semaphore::new(DEFAULT_WRITE_TRANSACTIONS),
        })
    }

    /// Other servers' events read by sequence every `every` instead of from a change
    /// stream (`None`, the default: the change stream); see `feed::FeedHandle::set_poll`.
    #[must_use]
    pub fn with_event_feed_poll(self, every: Option<Duration>) -> Self {
        self.feed.handle().set_poll(every);
        self
    }

    /// At most `n` (at least one) event-producing write transactions of this server at once.
    #[must_use]
    pub fn with_write_transactions(mut self, n: usize) -> Self {
        self.write_permits = tokio::sync::Semaphore::new(n.max(1));
        self
    }

    /// The `node` collection read as raw BSON (`raw.rs`).
    fn raw_nodes(&self) -> Collection<bson::RawDocumentBuf> {
        self.nodes.clone_with_type()
    }

    /// Name of the database, so that tests can connect to it again.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    /// Drops the whole database; for tests, which each use a database of their own.
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        // First, or their next write would make the database again.
        self.feed.stop();
        self.registry.stop().await;
        self.db.drop().await.map_err(backend)
    }
}

#[async_trait]
impl Store for MongoStore {
    fn backend_name(&self) -> &'static str {
        "mongodb"
    }

    async fn close(&self) {
        self.feed.stop();
        self.registry.stop().await;
        // Ends the driver's sessions and pool now, while the runtime still runs: left to
        // the client's drop at runtime shutdown, the driver can panic on its way out.
        self.client.clone().shutdown().await;
    }

    async fn get_node(&self, id: &ObjectIdHex) -> StoreResult<Option<Node>> {
        let found = self
            .nodes
            .find_one(doc! {"_id": convert::oid(id)?})
            .await
            .map_err(backend)?;
        found.map(convert::doc_to_node).transpose()
    }

    async fn get_node_json(&self, id: &ObjectIdHex) -> StoreResult<Option<String>> {
        raw::get_node_json(self, id).await
    }

    async fn get_nodes(
        &self,
        ids: &[ObjectIdHex],
    ) -> StoreResult<std::collections::HashMap<ObjectIdHex, Node>> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(crate::store::GET_NODES_CHUNK) {
            let oids = chunk
                .iter()
                .map(convert::oid)
                .collect::<StoreResult<Vec<_>>>()?;
            let docs = find_sorted(
                &self.nodes,
                doc! {"_id": {"$in": oids}},
                doc! {"_id": 1},
                (0, None),
                self.max_time,
            )
            .await?;
            for d in docs {
                let node = convert::doc_to_node(d)?;
                if let Some(id) = node.id.clone() {
                    found.insert(id, node);
                }
            }
        }
        Ok(found)
    }

    async fn find_nodes_json(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<String> {
        raw::find_nodes_json(self, filter, offset, limit).await
    }

    async fn find_nodes(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<Node>> {
        let docs = find_sorted(
            &self.nodes,
            filter::to_query(filter)?,
            doc! {"_id": 1},
            (offset, limit),
            self.max_time,
        )
        .await?;
        docs.into_iter().map(convert::doc_to_node).collect()
    }

    async fn count_nodes(&self, filter: &Filter) -> StoreResult<u64> {
        self.nodes
            .count_documents(filter::to_query(filter)?)
            .max_time(self.max_time)
            .await
            .map_err(backend)
    }

    async fn due_nodes(
        &self,
        due: DueNodes,
        after: Option<&DueCursor>,
        limit: u64,
    ) -> StoreResult<Vec<Node>> {
        lifecycle::due_nodes(self, due, after, limit).await
    }

    async fn has_pending_descendant(&self, id: &ObjectIdHex) -> StoreResult<bool> {
        lifecycle::has_pending_descendant(self, id).await
    }

    async fn write_nodes_with_event(
        &self,
        writes: Vec<NodeWrite>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<SharedEvent>> {
        if let Some(e) = &event {
            self.event_log.admit(e)?;
        }
        write::write_nodes(self, &writes, event).await
    }

    fn event_log(&self) -> &Arc<EventLog> {
        &self.event_log
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn events_after(&self, after: u64, limit: u64) -> StoreResult<Vec<StoredEvent>> {
        events::after(self, after, limit).await
    }

    async fn find_events(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<StoredEvent>> {
        events::find(self, filter, offset, limit).await
    }

    async fn find_subscriber(&self, subscriber_id: &str) -> StoreResult<Option<SubscriberState>> {
        events::find_subscriber(self, subscriber_id).await
    }

    async fn insert_subscriber(&self, state: &SubscriberState) -> StoreResult<()> {
        events::insert_subscriber(self, state).await
    }

    async fn ack_subscriber(
        &self,
        subscriber_id: &str,
        last_event_id: u64,
        at: Timestamp,
    ) -> StoreResult<()> {
        events::ack_subscriber(self, subscriber_id, last_event_id, at).await
    }

    async fn insert_user(&self, user: &StoredUser) -> StoreResult<()> {
        let doc = convert::user_to_doc(user)?;
        self.users
            .insert_one(doc)
            .await
            .map_err(|e| user_conflict(e, user))?;
        Ok(())
    }

    async fn update_user(&self, user: &StoredUser, expected: &StoredUser) -> StoreResult<()> {
        let doc = convert::user_to_doc(user)?;
        let result = self
            .users
            .replace_one(convert::user_version_filter(expected)?, doc)
            .await
            .map_err(|e| user_conflict(e, user))?;
        if result.matched_count == 0 {
            return Err(if self.find_user_by_id(&user.id).await?.is_some() {
                StoreError::Stale(format!("user {}", user.id))
            } else {
                StoreError::NotFound(format!("user {}", user.id))
            });
        }
        if user.username != expected.username {
            // After the rename, not in its transaction: a failure here leaves the nodes with
            // the old name, which no other account can then take (names that own nodes are
            // refused), and the error tells the caller to retry.
            self.nodes
                .update_many(
                    doc! {"owner": &expected.username},
                    doc! {"$set": {"owner": &user.username}},
                )
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn find_user_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<StoredUser>> {
        let found = self
            .users
            .find_one(doc! {"_id": convert::oid(id)?})
            .await
            .map_err(backend)?;
        found.as_ref().map(convert::doc_to_user).transpose()
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<StoredUser>> {
        let found = self
            .users
            .find_one(doc! {"username": username})
            .await
            .map_err(backend)?;
        found.as_ref().map(convert::doc_to_user).transpose()
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<StoredUser>> {
        let found = self
            .users
            .find_one(doc! {"email": email})
            .collation(case_insensitive())
            .await
            .map_err(backend)?;
        found.as_ref().map(convert::doc_to_user).transpose()
    }

    async fn list_users(
        &self,
        filters: &[UserFilter],
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<StoredUser>, u64)> {
        let mut query = Document::new();
        for f in filters {
            match f {
                UserFilter::Username(u) => query.insert("username", u),
                UserFilter::Email(e) => query.insert("email", e),
                UserFilter::IsActive(b) => query.insert("is_active", b),
                UserFilter::IsSuperuser(b) => query.insert("is_superuser", b),
                UserFilter::IsVerified(b) => query.insert("is_verified", b),
                UserFilter::Group(g) => query.insert("groups.name", g),
            };
        }
        let (docs, total) = page(&self.users, query, offset, limit, self.max_time).await?;
        let users = docs
            .iter()
            .map(convert::doc_to_user)
            .collect::<StoreResult<_>>()?;
        Ok((users, total))
    }

    async fn delete_user(&self, id: &ObjectIdHex) -> StoreResult<bool> {
        let result = self
            .users
            .delete_one(doc! {"_id": convert::oid(id)?})
            .await
            .map_err(backend)?;
        Ok(result.deleted_count > 0)
    }

    async fn insert_group(&self, group: &UserGroup) -> StoreResult<()> {
        let doc = convert::group_to_doc(group)?;
        self.groups.insert_one(doc).await.map_err(|e| {
            if is_duplicate_key(&e) {
                StoreError::Conflict(format!("user group '{}' already exists", group.name))
            } else {
                backend(e)
            }
        })?;
        Ok(())
    }

    async fn find_group_by_name(&self, name: &str) -> StoreResult<Option<UserGroup>> {
        let found = self
            .groups
            .find_one(doc! {"name": name})
            .await
            .map_err(backend)?;
        found.as_ref().map(convert::doc_to_group).transpose()
    }

    async fn find_group_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<UserGroup>> {
        let found = self
            .groups
            .find_one(doc! {"_id": convert::oid(id)?})
            .await
            .map_err(backend)?;
        found.as_ref().map(convert::doc_to_group).transpose()
    }

    async fn list_groups(
        &self,
        name: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<UserGroup>, u64)> {
        let query = match name {
            Some(n) => doc! {"name": n},
            None => Document::new(),
        };
        let (docs, total) = page(&self.groups, query, offset, limit, self.max_time).await?;
        let groups = docs
            .iter()
            .map(convert::doc_to_group)
            .collect::<StoreResult<_>>()?;
        Ok((groups, total))
    }

    async fn delete_group_if_unused(&self, id: &ObjectIdHex) -> StoreResult<GroupDeletion> {
        let Some(group) = self.find_group_by_id(id).await? else {
            return Ok(GroupDeletion::NotFound);
        };
        // Check then delete, as the Python server does (with its race: a user given the
        // group in between keeps the name in their record).
        let holders = self
            .users
            .count_documents(doc! {"groups.name": &group.name})
            .limit(1)
            .await
            .map_err(backend)?;
        if holders > 0 {
            return Ok(GroupDeletion::InUse);
        }
        let naming_nodes = self
            .nodes
            .count_documents(doc! {"user_groups": &group.name})
            .limit(1)
            .await
            .map_err(backend)?;
        if naming_nodes > 0 {
            return Ok(GroupDeletion::NamedByNodes);
        }
        let result = self
            .groups
            .delete_one(doc! {"_id": convert::oid(id)?})
            .await
            .map_err(backend)?;
        Ok(if result.deleted_count > 0 {
            GroupDeletion::Deleted
        } else {
            GroupDeletion::NotFound
        })
    }
}
