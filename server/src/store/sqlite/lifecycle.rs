//! The SQLite queries of the life-cycle rules: pages of due nodes through the
//! `(state, timeout)` and `(state, holdoff, id)` indexes, and the pending-descendant walk
//! over the `parent` index.
use maestro_common::node::ObjectIdHex;
use maestro_common::{Node, NodeState};
use rusqlite::Connection;
use rusqlite::types::Value as V;

use super::{backend, node_from_doc};
use crate::store::{DueCursor, DueNodes, StoreResult};

/// One page of `due`, ordered by its key column then id, after `after`.
pub(super) fn due_nodes(
    conn: &Connection,
    due: DueNodes,
    after: Option<&DueCursor>,
    limit: u64,
) -> StoreResult<Vec<Node>> {
    let (sql, args) = due_query(due, after, limit);
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))
        .map_err(backend)?;
    rows.map(|doc| node_from_doc(&doc.map_err(backend)?))
        .collect()
}

/// The SQL and arguments of one page of `due`.
fn due_query(due: DueNodes, after: Option<&DueCursor>, limit: u64) -> (String, Vec<V>) {
    let (state, column, before) = match due {
        DueNodes::TimedOut(state, before) => (state, "timeout", Some(before)),
        DueNodes::HoldoffPassed(before) => (NodeState::Available, "holdoff", Some(before)),
        DueNodes::Closing => (NodeState::Closing, "timeout", None),
    };
    // Bounds on the key column keep the index range tight: the cursor's lower bound means a
    // page never rescans the nodes of earlier pages (some of which a rule leaves as they
    // are), and ties on the key are broken by id.
    let mut sql = String::from("SELECT doc FROM node WHERE state = ?1");
    let mut args = vec![V::Text(state.as_str().to_owned())];
    if let Some(before) = before {
        args.push(V::Integer(before.millis()));
        sql.push_str(&format!(" AND {column} < ?{}", args.len()));
    }
    if let Some((key, id)) = after {
        args.push(V::Integer(key.millis()));
        let k = args.len();
        args.push(V::Text(id.to_string()));
        let i = args.len();
        sql.push_str(&format!(
            " AND {column} >= ?{k} AND ({column} > ?{k} OR id > ?{i})"
        ));
    }
    args.push(V::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" ORDER BY {column}, id LIMIT ?{}", args.len()));
    (sql, args)
}

/// Whether a descendant of `id` is not done: a recursive walk down the `parent` index that
/// SQLite runs as a co-routine, so `LIMIT 1` ends it at the first pending row. `UNION`
/// (not `UNION ALL`) drops rows already seen, which ends a cycle of parents.
pub(super) fn has_pending_descendant(conn: &Connection, id: &ObjectIdHex) -> StoreResult<bool> {
    conn.prepare_cached(PENDING_SQL)
        .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)))
        .map_err(backend)
}

/// See [`has_pending_descendant`].
const PENDING_SQL: &str = "WITH RECURSIVE sub(id, state) AS ( \
            SELECT id, state FROM node WHERE parent = ?1 AND id != ?1 \
            UNION \
            SELECT n.id, n.state FROM node n JOIN sub ON n.parent = sub.id WHERE n.id != ?1 \
        ) \
        SELECT EXISTS (SELECT 1 FROM sub WHERE state != 'done' LIMIT 1)";

#[cfg(test)]
mod tests {
    use maestro_common::Timestamp;

    use super::*;

    /// SQLite's plan of `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str, args: Vec<V>) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.map(|r| r.unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Cheap at 1 M nodes: every rule's page is a range of an index, already in the order
    /// asked (no scan of the table, no sort), and the descendant walk follows `parent`.
    #[test]
    fn the_rules_queries_are_served_by_indexes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let conn = super::super::schema::open_connection(&dir.path().join("n.db"))
            .unwrap_or_else(|e| panic!("{e}"));
        super::super::schema::migrate(&conn).unwrap_or_else(|e| panic!("{e}"));
        let now = Timestamp::now();
        let id = ObjectIdHex::parse("6b0e00000000000000000001").unwrap_or_else(|_| panic!());
        let cursor = (now, id.clone());
        for due in [
            DueNodes::TimedOut(NodeState::Running, now),
            DueNodes::HoldoffPassed(now),
            DueNodes::Closing,
        ] {
            for after in [None, Some(&cursor)] {
                let (sql, args) = due_query(due, after, 200);
                let p = plan(&conn, &sql, args);
                assert!(
                    p.contains("USING INDEX") || p.contains("USING COVERING INDEX"),
                    "{due:?}: {p}"
                );
                assert!(
                    !p.contains("SCAN node") && !p.contains("TEMP B-TREE"),
                    "{due:?}: {p}"
                );
                if matches!(due, DueNodes::HoldoffPassed(_)) {
                    assert!(p.contains("node_state_holdoff_set"), "{due:?}: {p}");
                }
            }
        }
        let walk = plan(&conn, PENDING_SQL, vec![V::Text(id.to_string())]);
        assert!(walk.contains("node_parent"), "{walk}");
        assert!(!walk.contains("SCAN node"), "{walk}");
    }
}
