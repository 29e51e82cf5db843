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
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))
        .map_err(backend)?;
    rows.map(|doc| node_from_doc(&doc.map_err(backend)?))
        .collect()
}

/// Whether a descendant of `id` is not done: a recursive walk down the `parent` index that
/// SQLite runs as a co-routine, so `LIMIT 1` ends it at the first pending row. `UNION`
/// (not `UNION ALL`) drops rows already seen, which ends a cycle of parents.
pub(super) fn has_pending_descendant(conn: &Connection, id: &ObjectIdHex) -> StoreResult<bool> {
    const SQL: &str = "WITH RECURSIVE sub(id, state) AS ( \
            SELECT id, state FROM node WHERE parent = ?1 AND id != ?1 \
            UNION \
            SELECT n.id, n.state FROM node n JOIN sub ON n.parent = sub.id WHERE n.id != ?1 \
        ) \
        SELECT EXISTS (SELECT 1 FROM sub WHERE state != 'done' LIMIT 1)";
    conn.prepare_cached(SQL)
        .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)))
        .map_err(backend)
}
