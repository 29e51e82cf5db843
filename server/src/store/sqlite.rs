//! The embedded default store: one SQLite database (WAL, `synchronous=FULL`) in the data
//! directory. Nodes keep their full JSON in `doc`, with the fields that queries filter on
//! copied into indexed columns.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{
    DueCursor, DueNodes, GroupDeletion, NodeWrite, SerialisedWrite, Store, StoreError, StoreResult,
    StoredUser, SubscriberState, UserCache, UserFilter, UserGroup,
};
use crate::events::{EventLog, NewEvent, SharedEvent, StoredEvent};

mod checkpoint;
mod events;
mod filter_sql;
mod group_commit;
mod json_match;
mod kv;
mod lifecycle;
mod node_write;
mod purge;
mod schema;
mod telemetry;
mod users;

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "maestro.sqlite3";

/// Reader connections kept open; more are opened on demand and dropped after use.
const READER_POOL: usize = 4;

/// SQLite-backed [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// SQLite allows one writer at a time: one thread owns the write connection.
    writer: group_commit::Writer,
    /// Held for its drop, after the writer's (field order: the writer's drop waits for its
    /// last commits), which copies them into the database file before the store is gone.
    _checkpointer: checkpoint::Checkpointer,
    readers: Mutex<Vec<Connection>>,
    log: Arc<EventLog>,
    /// Authenticated users; cleared on the writer thread as each user write commits.
    users: UserCache,
}

/// One server per database: lists and subscription ids stay in the server's memory.
impl super::SharedStore for SqliteStore {}

fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`, which is created too.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        Self::open_with_event_capacity(data_dir, crate::events::log::DEFAULT_CAPACITY)
    }

    /// As [`SqliteStore::open`], keeping the `capacity` most recent events in memory
    /// (slow-consumer tests use a small window).
    pub fn open_with_event_capacity(data_dir: &Path, capacity: usize) -> StoreResult<Self> {
        Self::open_with(data_dir, capacity, true)
    }

    /// As [`SqliteStore::open_with_event_capacity`]; `check` runs SQLite's quick check
    /// first (it reads the whole file: about 6 s for a cold 460 MB database, 0.4 s warm) and
    /// refuses a damaged database.
    pub fn open_with(data_dir: &Path, capacity: usize, check: bool) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(backend)?;
        let path = data_dir.join(DB_FILE);
        let writer = schema::open_connection(&path).map_err(backend)?;
        // A damaged page would otherwise surface as 500s on the queries that touch it.
        if check {
            let damage =
                schema::check(&writer, false, 10).map_err(|e| damaged(&path, &e.to_string()))?;
            if !damage.is_empty() {
                return Err(damaged(&path, &damage.join("; ")));
            }
        }
        schema::migrate(&writer).map_err(backend)?;
        let head = events::head(&writer).map_err(backend)?;
        schema::tune_writer(&writer).map_err(backend)?;
        let checkpointer = checkpoint::Checkpointer::start(&path).map_err(backend)?;
        let log = Arc::new(EventLog::new(head, capacity));
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: group_commit::Writer::start(writer, Some(checkpointer.nudge()))
                    .map_err(backend)?,
                _checkpointer: checkpointer,
                readers: Mutex::new(Vec::new()),
                log,
                users: UserCache::default(),
            }),
        })
    }

    /// The full `PRAGMA integrity_check` of the database in `data_dir`, without opening the
    /// store (so a damaged database can be examined): the problems found, none when sound.
    pub fn integrity_check(data_dir: &Path) -> StoreResult<Vec<String>> {
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(backend)?;
        // An error while checking (a page too damaged to read) is itself a finding.
        Ok(schema::check(&conn, true, 100).unwrap_or_else(|e| vec![e.to_string()]))
    }

    /// Runs `f` on a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().map_err(|_| poisoned())?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => schema::open_connection(&inner.path).map_err(backend)?,
            };
            let out = f(&conn);
            let mut pool = inner.readers.lock().map_err(|_| poisoned())?;
            if pool.len() < READER_POOL {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(backend)?
    }

    /// Runs `f`, a point read by key (a few microseconds from the page cache), on a pooled
    /// reader connection on the calling thread: handing it to the blocking pool and back
    /// costs more than the read. Without an idle pooled connection it goes to
    /// [`SqliteStore::read`] (opening one is slow).
    async fn read_by_key<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let pooled = self.inner.readers.lock().map_err(|_| poisoned())?.pop();
        let Some(conn) = pooled else {
            return self.read(f).await;
        };
        let out = f(&conn);
        let mut pool = self.inner.readers.lock().map_err(|_| poisoned())?;
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` in a transaction of the writer; its changes are kept only on `Ok`, and
    /// `Ok` is answered after the commit.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }

    /// As [`SqliteStore::write`] for a user write: the user cache is cleared as it commits,
    /// before the answer, so that no request after it sees the record it replaced.
    async fn write_user<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        self.inner
            .writer
            .write_then(f, move |_| inner.users.clear())
            .await
    }
}

/// The start-up refusal of a damaged database.
fn damaged(path: &Path, what: &str) -> StoreError {
    StoreError::Backend(
        format!(
            "the SQLite database {} is damaged ({what}); run `maestro-server check` for a \
             full report, and restore it from a backup",
            path.display()
        )
        .into(),
    )
}

fn poisoned() -> StoreError {
    StoreError::Backend("sqlite connection lock poisoned by an earlier panic".into())
}

fn node_from_doc(doc: &str) -> StoreResult<Node> {
    serde_json::from_str(doc).map_err(backend)
}

/// The query of a page of `find_nodes`: the documents matching `filter`, by id.
fn find_sql(
    filter: &Filter,
    offset: u64,
    limit: Option<u64>,
) -> (String, Vec<rusqlite::types::Value>) {
    let (clause, mut args) = filter_sql::where_clause(filter);
    let sql = format!("SELECT doc FROM node WHERE {clause} ORDER BY id LIMIT ? OFFSET ?");
    args.push(
        limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))
            .into(),
    );
    args.push(i64::try_from(offset).unwrap_or(i64::MAX).into());
    (sql, args)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn get_node(&self, id: &ObjectIdHex) -> StoreResult<Option<Node>> {
        let id = id.to_string();
        self.read_by_key(move |c| {
            let doc: Option<String> = c
                .prepare_cached("SELECT doc FROM node WHERE id = ?")
                .and_then(|mut s| s.query_row([&id], |r| r.get(0)).optional())
                .map_err(backend)?;
            doc.as_deref().map(node_from_doc).transpose()
        })
        .await
    }

    async fn get_node_json(&self, id: &ObjectIdHex) -> StoreResult<Option<String>> {
        // `doc` is the node serialised as the API answers it (`node_write.rs`), so it is served
        // as it is: no parse and no second serialisation.
        let id = id.to_string();
        self.read_by_key(move |c| {
            c.prepare_cached("SELECT doc FROM node WHERE id = ?")
                .and_then(|mut s| s.query_row([&id], |r| r.get(0)).optional())
                .map_err(backend)
        })
        .await
    }

    async fn find_nodes_json(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<String> {
        let (sql, args) = find_sql(filter, offset, limit);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(args))
                .map_err(backend)?;
            let mut out = String::from("[");
            while let Some(row) = rows.next().map_err(backend)? {
                if out.len() > 1 {
                    out.push(',');
                }
                // Borrowed from SQLite's buffer: one copy, into the answer.
                out.push_str(
                    row.get_ref(0)
                        .and_then(|v| Ok(v.as_str()?))
                        .map_err(backend)?,
                );
            }
            out.push(']');
            Ok(out)
        })
        .await
    }

    fn user_cache(&self) -> Option<&UserCache> {
        Some(&self.inner.users)
    }

    async fn find_nodes(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<Node>> {
        let (sql, args) = find_sql(filter, offset, limit);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))
                .map_err(backend)?;
            rows.map(|doc| node_from_doc(&doc.map_err(backend)?))
                .collect()
        })
        .await
    }

    async fn count_nodes(&self, filter: &Filter) -> StoreResult<u64> {
        let (clause, args) = filter_sql::where_clause(filter);
        let sql = format!("SELECT count(*) FROM node WHERE {clause}");
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row(rusqlite::params_from_iter(args), |r| r.get(0)))
                .map_err(backend)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn due_nodes(
        &self,
        due: DueNodes,
        after: Option<&DueCursor>,
        limit: u64,
    ) -> StoreResult<Vec<Node>> {
        let after = after.cloned();
        self.read(move |c| lifecycle::due_nodes(c, due, after.as_ref(), limit))
            .await
    }

    async fn has_pending_descendant(&self, id: &ObjectIdHex) -> StoreResult<bool> {
        let id = id.clone();
        self.read(move |c| lifecycle::has_pending_descendant(c, &id))
            .await
    }

    async fn write_nodes_with_event(
        &self,
        writes: Vec<NodeWrite>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<SharedEvent>> {
        // Serialised here, not on the writer thread that every write waits for.
        let writes = writes
            .into_iter()
            .map(SerialisedWrite::new)
            .collect::<StoreResult<_>>()?;
        self.write_serialised_with_event(writes, event).await
    }

    async fn write_serialised_with_event(
        &self,
        writes: Vec<SerialisedWrite>,
        event: Option<NewEvent>,
    ) -> StoreResult<Option<SharedEvent>> {
        // The event's data serialised here, once, not on the writer thread.
        let event = match event {
            Some(e) => Some((self.inner.log.admit_serialised(&e)?, e)),
            None => None,
        };
        let log = self.inner.log.clone();
        let written = self
            .inner
            .writer
            .write_then(
                move |tx| {
                    writes
                        .iter()
                        .try_for_each(|w| node_write::apply_write(tx, w))?;
                    event
                        .map(|(data, e)| {
                            let (stored, text) = events::insert(tx, e, &data)?;
                            Ok((Arc::new(stored), text))
                        })
                        .transpose()
                },
                // On the writer thread, in commit order: the log stays in sequence order.
                move |stored: &Option<(SharedEvent, Box<[u8]>)>| {
                    if let Some((event, text)) = stored {
                        log.push_serialised(event.clone(), text.clone());
                    }
                },
            )
            .await?;
        Ok(written.map(|(event, _)| event))
    }

    fn event_log(&self) -> &Arc<EventLog> {
        &self.inner.log
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }

    async fn events_after(&self, after: u64, limit: u64) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |c| events::after(c, after, limit)).await
    }

    async fn find_events(
        &self,
        filter: &Filter,
        offset: u64,
        limit: Option<u64>,
    ) -> StoreResult<Vec<StoredEvent>> {
        let filter = filter.clone();
        self.read(move |c| events::find(c, &filter, offset, limit))
            .await
    }

    async fn find_subscriber(&self, subscriber_id: &str) -> StoreResult<Option<SubscriberState>> {
        let id = subscriber_id.to_owned();
        self.read(move |c| events::find_subscriber(c, &id)).await
    }

    async fn insert_subscriber(&self, state: &SubscriberState) -> StoreResult<()> {
        let state = state.clone();
        self.write(move |tx| events::insert_subscriber(tx, &state))
            .await
    }

    async fn ack_subscriber(
        &self,
        subscriber_id: &str,
        last_event_id: u64,
        at: maestro_common::Timestamp,
    ) -> StoreResult<()> {
        let id = subscriber_id.to_owned();
        // Relaxed: a lost acknowledgement only delivers its events again.
        self.inner
            .writer
            .write_relaxed(move |tx| events::ack_subscriber(tx, &id, last_event_id, at))
            .await
    }

    async fn insert_user(&self, user: &StoredUser) -> StoreResult<()> {
        let u = user.clone();
        self.write_user(move |tx| users::insert_user(tx, &u)).await
    }

    async fn update_user(&self, user: &StoredUser, expected: &StoredUser) -> StoreResult<()> {
        let (u, expected) = (user.clone(), expected.clone());
        self.write_user(move |tx| users::update_user(tx, &u, &expected))
            .await
    }

    async fn find_user_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<StoredUser>> {
        self.find_user("id", id.to_string()).await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<StoredUser>> {
        self.find_user("username", username.to_owned()).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<StoredUser>> {
        // The column is declared COLLATE NOCASE, so `=` ignores case here.
        self.find_user("email", email.to_owned()).await
    }

    async fn list_users(
        &self,
        filters: &[UserFilter],
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<StoredUser>, u64)> {
        let query = users::ListQuery::new(filters, offset, limit);
        self.read(move |c| query.run(c)).await
    }

    async fn delete_user(&self, id: &ObjectIdHex) -> StoreResult<bool> {
        let id = id.to_string();
        self.write_user(move |tx| {
            Ok(tx
                .execute("DELETE FROM user WHERE id = ?", [&id])
                .map_err(backend)?
                > 0)
        })
        .await
    }

    async fn insert_group(&self, group: &UserGroup) -> StoreResult<()> {
        let g = group.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO usergroup (id, name) VALUES (?, ?)",
                params![g.id.as_str(), g.name],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("group '{}' exists", g.name))
                } else {
                    backend(e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn find_group_by_name(&self, name: &str) -> StoreResult<Option<UserGroup>> {
        self.find_group("name", name.to_owned()).await
    }

    async fn find_group_by_id(&self, id: &ObjectIdHex) -> StoreResult<Option<UserGroup>> {
        self.find_group("id", id.to_string()).await
    }

    async fn list_groups(
        &self,
        name: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<UserGroup>, u64)> {
        let name = name.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.read(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM usergroup WHERE ?1 IS NULL OR name = ?1")
                .and_then(|mut s| s.query_row([&name], |r| r.get(0)))
                .map_err(backend)?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, name FROM usergroup WHERE ?1 IS NULL OR name = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![name, limit, offset], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(backend)?;
            let groups = rows
                .map(|row| {
                    let (id, name) = row.map_err(backend)?;
                    users::group_from_row(&id, name)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok((groups, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn delete_group_if_unused(&self, id: &ObjectIdHex) -> StoreResult<GroupDeletion> {
        let id = id.to_string();
        // One writer transaction: no user can be given the group between check and delete.
        self.write(move |tx| users::delete_group_if_unused(tx, &id))
            .await
    }
}

impl SqliteStore {
    /// The two text columns of the row of `table` where `column = value`, if any.
    async fn find_row(
        &self,
        columns: &'static str,
        table: &'static str,
        column: &'static str,
        value: String,
    ) -> StoreResult<Option<(String, String)>> {
        let sql = format!("SELECT {columns} FROM {table} WHERE {column} = ?");
        self.read_by_key(move |c| {
            c.prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_row([&value], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(backend)
        })
        .await
    }

    async fn find_group(
        &self,
        column: &'static str,
        value: String,
    ) -> StoreResult<Option<UserGroup>> {
        let row = self
            .find_row("id, name", "usergroup", column, value)
            .await?;
        row.map(|(id, name)| users::group_from_row(&id, name))
            .transpose()
    }

    async fn find_user(
        &self,
        column: &'static str,
        value: String,
    ) -> StoreResult<Option<StoredUser>> {
        let row = self.find_row("id, doc", "user", column, value).await?;
        row.map(|(id, doc)| users::user_from_row(&id, &doc))
            .transpose()
    }
}
