//! Node rows of the SQLite store: the columns a node is stored in, and the writes of a
//! batch (insert, replace, compare-and-set update) and of a rename.
use maestro_common::Node;
use maestro_common::node::ObjectIdHex;
use rusqlite::types::ToSql;
use rusqlite::{Connection, params};

use super::{backend, is_unique_violation};
use crate::store::{NodeWrite, SerialisedWrite, StoreError, StoreResult};

// The column lists are literals so that each statement is one static string: a hierarchy
// write runs them a thousand times, and `prepare_cached` finds them by their text.
macro_rules! node_columns {
    () => {
        "id, kind, name, grp, parent, state, result, owner, submitter, treeid, created, \
         updated, timeout, holdoff, processed_by_kcidb_bridge, retry_counter, rev_tree, \
         rev_branch, rev_commit, doc"
    };
}
macro_rules! node_sets {
    () => {
        "kind = ?, name = ?, grp = ?, parent = ?, state = ?, result = ?, owner = ?, \
         submitter = ?, treeid = ?, created = ?, updated = ?, timeout = ?, holdoff = ?, \
         processed_by_kcidb_bridge = ?, retry_counter = ?, rev_tree = ?, rev_branch = ?, \
         rev_commit = ?, doc = ?"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO node (",
    node_columns!(),
    ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
);
const REPLACE: &str = concat!("UPDATE node SET ", node_sets!(), " WHERE id = ?");
// Compare-and-set: the row is replaced only while it is the version read.
const UPDATE: &str = concat!(
    "UPDATE node SET ",
    node_sets!(),
    " WHERE id = ? AND updated = ? AND owner IS ?"
);

/// The column values of one node, borrowed from it but for the serialised document.
struct NodeRow<'a> {
    node: &'a Node,
    id: &'a str,
    parent: Option<&'a str>,
    state: &'static str,
    result: Option<&'static str>,
    created: i64,
    updated: i64,
    timeout: i64,
    holdoff: Option<i64>,
    kcidb: bool,
    rev: [Option<&'a str>; 3],
    /// The node as the API answers it (what `get_node_json` serves as it is).
    doc: &'a str,
}

impl<'a> NodeRow<'a> {
    fn of(node: &'a Node, doc: &'a str) -> StoreResult<Self> {
        let id = node
            .id
            .as_ref()
            .ok_or_else(|| StoreError::Backend("node without an id".into()))?;
        Ok(Self {
            node,
            id: id.as_str(),
            parent: node.parent.as_ref().map(ObjectIdHex::as_str),
            state: node.state.as_str(),
            result: node.result.map(|r| r.as_str()),
            created: node.created.millis(),
            updated: node.updated.millis(),
            timeout: node.timeout.millis(),
            holdoff: node.holdoff.map(|t| t.millis()),
            kcidb: node.processed_by_kcidb_bridge,
            rev: [
                revision_field(node, "tree"),
                revision_field(node, "branch"),
                revision_field(node, "commit"),
            ],
            doc,
        })
    }

    /// The values of every column but `id`, in the order of `node_columns!`.
    fn values(&self) -> [&dyn ToSql; 19] {
        let n = self.node;
        [
            &n.kind,
            &n.name,
            &n.group,
            &self.parent,
            &self.state,
            &self.result,
            &n.owner,
            &n.submitter,
            &n.treeid,
            &self.created,
            &self.updated,
            &self.timeout,
            &self.holdoff,
            &self.kcidb,
            &n.retry_counter,
            &self.rev[0],
            &self.rev[1],
            &self.rev[2],
            &self.doc,
        ]
    }
}

/// `data.kernel_revision.<key>` when it is a string (what the indexed columns hold).
fn revision_field<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.data
        .as_ref()?
        .get("kernel_revision")?
        .get(key)?
        .as_str()
}

/// Applies one write of a batch, inside the caller's transaction.
pub(super) fn apply_write(tx: &Connection, serialised: &SerialisedWrite) -> StoreResult<()> {
    let write = serialised.write();
    let row = NodeRow::of(write.node(), serialised.json())?;
    let values = row.values();
    match write {
        NodeWrite::Insert(node) => {
            let mut all: [&dyn ToSql; 20] = [&row.id; 20];
            all[1..].copy_from_slice(&values);
            tx.prepare_cached(INSERT)
                .and_then(|mut stmt| stmt.execute(&all[..]))
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict(format!("node {} already exists", node.id_str()))
                    } else {
                        backend(e)
                    }
                })?;
        }
        NodeWrite::Replace(node) => {
            let mut all: [&dyn ToSql; 20] = [&row.id; 20];
            all[..19].copy_from_slice(&values);
            let changed = tx
                .prepare_cached(REPLACE)
                .and_then(|mut stmt| stmt.execute(&all[..]))
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("node {}", node.id_str())));
            }
        }
        NodeWrite::Update { node, expected } => {
            let expected_updated = expected.updated.millis();
            let mut all: [&dyn ToSql; 22] = [&row.id; 22];
            all[..19].copy_from_slice(&values);
            all[20] = &expected_updated;
            all[21] = &expected.owner;
            let changed = tx
                .prepare_cached(UPDATE)
                .and_then(|mut stmt| stmt.execute(&all[..]))
                .map_err(backend)?;
            if changed == 0 {
                let exists: bool = tx
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM node WHERE id = ?)")
                    .and_then(|mut stmt| stmt.query_row([node.id_str()], |r| r.get(0)))
                    .map_err(backend)?;
                return Err(if exists {
                    StoreError::Stale(format!("node {}", node.id_str()))
                } else {
                    StoreError::NotFound(format!("node {}", node.id_str()))
                });
            }
        }
    }
    Ok(())
}

/// Gives every node owned by `from` to `to` (a rename): the `owner` column and the
/// document. `updated` is kept; conditional writes also compare the owner, so a write
/// prepared before the rename fails as stale instead of restoring the old owner.
pub(super) fn transfer_ownership(tx: &Connection, from: &str, to: &str) -> StoreResult<()> {
    tx.execute(
        "UPDATE node SET owner = ?2, doc = json_set(doc, '$.owner', ?2) WHERE owner = ?1",
        params![from, to],
    )
    .map_err(backend)?;
    Ok(())
}
