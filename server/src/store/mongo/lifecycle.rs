//! The MongoDB queries of the life-cycle rules: pages of due nodes through the
//! `{state, timeout, _id}` and `{state, holdoff, _id}` indexes, and the pending-descendant
//! walk, level by level over the `parent` index.
use std::collections::HashSet;

use bson::oid::ObjectId;
use bson::{Document, doc};
use futures::TryStreamExt;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Node, NodeState};

use super::{MongoStore, backend, convert, find_sorted};
use crate::store::{DueCursor, DueNodes, StoreResult};

/// Parents asked for in one `$in` of the descendant walk, so that a wide tree makes several
/// modest queries rather than one huge one.
const PARENTS_PER_QUERY: usize = 1_000;

/// One page of `due`, ordered by its key field then `_id`, after `after`.
pub(super) async fn due_nodes(
    store: &MongoStore,
    due: DueNodes,
    after: Option<&DueCursor>,
    limit: u64,
) -> StoreResult<Vec<Node>> {
    let (state, field, before) = match due {
        DueNodes::TimedOut(state, before) => (state, "timeout", Some(before)),
        DueNodes::HoldoffPassed(before) => (NodeState::Available, "holdoff", Some(before)),
        DueNodes::Closing => (NodeState::Closing, "timeout", None),
    };
    let sort = doc! {field: 1, "_id": 1};
    let mut range = Document::new();
    if let Some(before) = before {
        range.insert("$lt", convert::date(before));
    }
    let mut docs = Vec::new();
    // Two plain range queries rather than one with `$or`: each is an exact index range, so
    // the planner cannot pick a plan that scans the pages before the cursor again.
    if let Some((key, id)) = after {
        // The rest of the cursor's tie group: same key, later ids.
        let ties = doc! {
            "state": state.as_str(),
            field: convert::date(*key),
            "_id": {"$gt": convert::oid(id)?},
        };
        docs = find_sorted(
            &store.nodes,
            ties,
            sort.clone(),
            (0, Some(limit)),
            store.max_time,
        )
        .await?;
        range.insert("$gt", convert::date(*key));
    }
    let left = limit.saturating_sub(docs.len() as u64);
    if left > 0 {
        let mut query = doc! {"state": state.as_str()};
        if !range.is_empty() {
            query.insert(field, range);
        }
        docs.extend(find_sorted(&store.nodes, query, sort, (0, Some(left)), store.max_time).await?);
    }
    docs.into_iter().map(convert::doc_to_node).collect()
}

/// Whether a descendant of `id` is not done: breadth first, one `{parent: {$in: [...]}}`
/// query per level (per [`PARENTS_PER_QUERY`] parents), reading only `_id` and `state`,
/// and stopping at the first pending one. Not `$graphLookup` (which the MongoDB-wire test
/// server does have): it gathers the whole subtree into one document before anything can
/// be checked, so a big finished tree costs it all (and fails at its 100 MB memory limit),
/// while a pending child near the top ends this walk after one query.
pub(super) async fn has_pending_descendant(
    store: &MongoStore,
    id: &ObjectIdHex,
) -> StoreResult<bool> {
    let root = convert::oid(id)?;
    // Every node met, the root included: a cycle of parents ends the walk.
    let mut seen: HashSet<ObjectId> = HashSet::from([root]);
    let mut level = vec![root];
    while !level.is_empty() {
        let mut next = Vec::new();
        for parents in level.chunks(PARENTS_PER_QUERY) {
            let mut children = store
                .nodes
                .find(doc! {"parent": {"$in": parents}})
                .projection(doc! {"_id": 1, "state": 1})
                .max_time(store.max_time)
                .await
                .map_err(backend)?;
            while let Some(child) = children.try_next().await.map_err(backend)? {
                let Ok(child_id) = child.get_object_id("_id") else {
                    continue;
                };
                if !seen.insert(child_id) {
                    continue;
                }
                if child.get_str("state") != Ok(NodeState::Done.as_str()) {
                    return Ok(true);
                }
                next.push(child_id);
            }
        }
        level = next;
    }
    Ok(false)
}
