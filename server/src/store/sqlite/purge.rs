//! The node purge of the SQLite store: one batch of old nodes deleted per write, found
//! through the `(created, kind)` index.
use async_trait::async_trait;
use maestro_common::Timestamp;
use rusqlite::Connection;

use super::{SqliteStore, backend};
use crate::store::StoreResult;
use crate::store::purge::{KEPT_KIND, PurgeRange, PurgeStore, PurgedBatch};

/// One batch: `?1` from (inclusive), `?2` before, `?3` the kept kind, `?4` the limit.
/// Ordered by `created`, not by id as the Python server does: the range and the order are
/// then one walk of `node_created_kind`, which stops after `limit` matches, while an id
/// order would read the id index from the start and each node's row to test `created`
/// (every recent node too, once the old ones are gone). The rows' other indexes are
/// updated by SQLite as they go.
const PURGE_SQL: &str = "DELETE FROM node WHERE rid IN ( \
        SELECT rid FROM node WHERE created >= ?1 AND created < ?2 AND kind <> ?3 \
        ORDER BY created LIMIT ?4 \
    ) RETURNING created";

fn purge(conn: &Connection, range: PurgeRange, limit: u64) -> StoreResult<PurgedBatch> {
    let from = range.from.map_or(i64::MIN, Timestamp::millis);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(PURGE_SQL).map_err(backend)?;
    let mut rows = stmt
        .query(rusqlite::params![
            from,
            range.before.millis(),
            KEPT_KIND,
            limit
        ])
        .map_err(backend)?;
    let mut batch = PurgedBatch::default();
    let mut newest: Option<i64> = None;
    // Every row must be stepped through: each step deletes one.
    while let Some(row) = rows.next().map_err(backend)? {
        let created: i64 = row.get(0).map_err(backend)?;
        batch.matched += 1;
        batch.deleted += 1;
        newest = Some(newest.map_or(created, |n| n.max(created)));
    }
    batch.last_created = newest.and_then(Timestamp::from_millis);
    Ok(batch)
}

#[async_trait]
impl PurgeStore for SqliteStore {
    async fn purge_nodes(&self, range: PurgeRange, limit: u64) -> StoreResult<PurgedBatch> {
        if limit == 0 {
            return Ok(PurgedBatch::default());
        }
        // A transaction per batch (shared with the writes queued meanwhile, as every write
        // is): the writer is held for one batch, never for the whole purge.
        self.write(move |tx| purge(tx, range, limit)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At millions of nodes a batch must cost its own rows, not a scan: the selection is a
    /// range of `node_created_kind`, read in its order (no sort), without the table.
    #[test]
    fn a_batch_is_a_range_of_the_created_index() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let conn = super::super::schema::open_connection(&dir.path().join("n.db"))
            .unwrap_or_else(|e| panic!("{e}"));
        super::super::schema::migrate(&conn).unwrap_or_else(|e| panic!("{e}"));
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {PURGE_SQL}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params![0, 1, KEPT_KIND, 10], |r| r.get(3))
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|r| r.unwrap_or_default())
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("USING COVERING INDEX node_created_kind (created>? AND created<?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN node"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    /// A purge leaves the file sound: every index of `node` lost the deleted rows too.
    #[tokio::test]
    async fn the_database_is_sound_after_a_purge() {
        use crate::store::{NodeWrite, Store};
        use maestro_common::Node;
        use maestro_common::node::ObjectIdHex;

        let oid = |i: u32| {
            let hex = format!("65000000000000000000{i:04x}");
            ObjectIdHex::parse(&hex).unwrap_or_else(|_| panic!("{hex}"))
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let writes = (0..50u32)
            .map(|i| {
                let kind = if i % 10 == 0 { "checkout" } else { "test" };
                let mut n = Node::new(kind, &format!("n{i}"), vec![format!("n{i}")]);
                n.id = Some(oid(i));
                n.created =
                    Timestamp::from_millis(i64::from(i) * 1_000).unwrap_or_else(|| panic!());
                n.owner = Some("bob".into());
                n.parent = (i > 0).then(|| oid(0));
                NodeWrite::Insert(n)
            })
            .collect();
        store
            .write_nodes(writes)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let range = PurgeRange {
            before: Timestamp::from_millis(40_000).unwrap_or_else(|| panic!()),
            from: None,
        };
        let batch = store
            .purge_nodes(range, 1_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // 40 old nodes, 4 of them checkouts.
        assert_eq!(batch.deleted, 36);
        let problems = SqliteStore::integrity_check(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "{problems:?}");
    }
}
