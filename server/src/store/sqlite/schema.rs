//! SQLite connection set-up and the schema, indexes included.
use std::path::Path;

use regex::Regex;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// Version of the schema, kept in `PRAGMA user_version`: 1 is [`SCHEMA`]; 2 adds the tables
/// of the key/value store and of telemetry.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS node (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    grp TEXT,
    parent TEXT,
    state TEXT NOT NULL,
    result TEXT,
    owner TEXT,
    submitter TEXT,
    treeid TEXT,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    timeout INTEGER NOT NULL,
    holdoff INTEGER,
    processed_by_kcidb_bridge INTEGER NOT NULL,
    retry_counter INTEGER NOT NULL,
    -- data.kernel_revision.{tree,branch,commit} when they are strings, copied on write so
    -- that indexing them needs no JSON parsing.
    rev_tree TEXT,
    rev_branch TEXT,
    rev_commit TEXT,
    doc TEXT NOT NULL
);
-- What the clients filter on (kernelci-api.md section 13, workloads.md W3). Indexes end in
-- `id` where a filter is usually paged, so `ORDER BY id LIMIT n` stops early. Each index
-- costs every insert a page write, so there is none for rarely used filters.
CREATE INDEX IF NOT EXISTS node_parent ON node (parent, id);
CREATE INDEX IF NOT EXISTS node_kind_created ON node (kind, created);
CREATE INDEX IF NOT EXISTS node_kind_id ON node (kind, id);
CREATE INDEX IF NOT EXISTS node_kind_state ON node (kind, state);
-- The timeout service's query (`state=running&timeout__lt=`), and the timeout and closing
-- rules of the life-cycle sweep (lifecycle.rs), paged by (timeout, id): with `id` in the
-- index a page is read in order, with no sort of the nodes sharing one timeout. It
-- replaces the `(state, timeout)` index of older files (built once when such a file opens).
CREATE INDEX IF NOT EXISTS node_state_timeout_id ON node (state, timeout, id);
DROP INDEX IF EXISTS node_state_timeout;
-- The holdoff rule of the life-cycle sweep, paged by (holdoff, id). Partial: most nodes
-- (tests) have no holdoff, and an index left out saves every such insert a page written
-- to the WAL; the rule's `holdoff < ?` implies `holdoff IS NOT NULL`, so SQLite uses it.
-- It replaces the full `node_state_holdoff` of older files (built once when one opens).
CREATE INDEX IF NOT EXISTS node_state_holdoff_set ON node (state, holdoff, id)
    WHERE holdoff IS NOT NULL;
DROP INDEX IF EXISTS node_state_holdoff;
CREATE INDEX IF NOT EXISTS node_treeid ON node (treeid, id);
CREATE INDEX IF NOT EXISTS node_owner ON node (owner, id);
CREATE INDEX IF NOT EXISTS node_name ON node (name, id);
CREATE INDEX IF NOT EXISTS node_revision ON node (rev_tree, rev_branch, rev_commit);
-- `id` last so that a page of one commit's nodes (`data.kernel_revision.commit=X`, by id)
-- is read in order: with `(rev_commit)` alone SQLite sorted every node of the commit first
-- (1.4 s at 100,000 nodes of one commit). It replaces `node_commit` of older files.
CREATE INDEX IF NOT EXISTS node_commit_id ON node (rev_commit, id);
DROP INDEX IF EXISTS node_commit;
-- The node purge (purge.rs): a range of `created`, oldest first, with `kind` in the index
-- so that the kept checkouts are passed over without reading their rows. `created` only
-- grows, so an insert adds to the index's last page, which is in the cache. Built once when
-- an older file opens.
CREATE INDEX IF NOT EXISTS node_created_kind ON node (created, kind);
-- The event history: `seq` is the sequence number (AUTOINCREMENT: never reused, even after
-- the oldest events are purged); `doc` is the record as `GET /events` shows it.
CREATE TABLE IF NOT EXISTS event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    timestamp INTEGER NOT NULL,
    channel TEXT NOT NULL,
    owner TEXT,
    treeid TEXT,
    attributes TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_channel_seq ON event (channel, seq);
CREATE INDEX IF NOT EXISTS event_timestamp ON event (timestamp);
CREATE TABLE IF NOT EXISTS subscriber (
    subscriber_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    user TEXT NOT NULL,
    promiscuous INTEGER NOT NULL,
    last_event_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_poll INTEGER
);
CREATE TABLE IF NOT EXISTS user (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS usergroup (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
";

/// Opens a connection with the settings every connection needs: WAL, full fsync on
/// commit (an answered write survives a crash or power loss), and the `regexp` function.
pub(super) fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    register_regexp(&conn)?;
    super::json_match::register(&conn)?;
    Ok(conn)
}

/// Settings of the writer connection alone: its automatic checkpoint only as a backstop
/// (the checkpointer thread does it, `checkpoint.rs`), and no spilling of a transaction's
/// changed pages to the log before its commit below 16 MiB of them (with the default
/// 2 MiB cache, a hierarchy of 1,000 nodes spilled: 6% of its write). The cache of clean
/// pages keeps its default size, so the resident memory does not grow by it. The log file
/// is cut back to 32 MiB when it restarts.
pub(super) fn tune_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        super::checkpoint::WRITER_BACKSTOP_PAGES,
    )?;
    // Under sustained writes the log only restarts at the backstop, so it grows to about
    // 80 MiB; the first commit after a restart cuts the file back to this.
    conn.pragma_update(None, "journal_size_limit", 32 * 1024 * 1024)?;
    // Pages of 4 KiB.
    conn.pragma_update(None, "cache_spill", 4_096)
}

/// What SQLite's `PRAGMA quick_check` (`full: false`: page structure, no index content) or
/// `PRAGMA integrity_check` finds wrong, at most `limit` lines; empty when the database is
/// sound.
pub(super) fn check(conn: &Connection, full: bool, limit: u32) -> rusqlite::Result<Vec<String>> {
    let pragma = if full {
        "integrity_check"
    } else {
        "quick_check"
    };
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}({limit})"))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(if rows == ["ok"] { Vec::new() } else { rows })
}

/// Creates or upgrades the schema.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    conn.execute_batch(SCHEMA)?;
    // Version 2. `IF NOT EXISTS` as above: run on every open, so an older file gains them.
    conn.execute_batch(super::kv::SCHEMA)?;
    conn.execute_batch(super::telemetry::SCHEMA)?;
    if version < SCHEMA_VERSION {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

/// `X REGEXP P` for the `__re` operator: unanchored and case-sensitive, like MongoDB's
/// `$regex` without options. The compiled pattern is cached per statement.
fn register_regexp(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let re = ctx.get_or_create_aux(
                0,
                |pattern| -> Result<Regex, Box<dyn std::error::Error + Send + Sync>> {
                    Ok(Regex::new(pattern.as_str()?)?)
                },
            )?;
            let matched = match ctx.get_raw(1) {
                rusqlite::types::ValueRef::Text(t) => {
                    std::str::from_utf8(t).is_ok_and(|s| re.is_match(s))
                }
                _ => false,
            };
            Ok(matched)
        },
    )
}
