//! `PUT /nodes/{id}`: a node and its descendants written all or nothing, with one event.
use maestro_common::node::ObjectIdHex;
use maestro_common::{Hierarchy, Node, Timestamp};
use serde_json::Value;

use super::{
    check_not_own_parent, load_editable, new_id, node_event, normalise_artifacts,
    normalise_kind_data, retry_stale,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::from_body_bytes;
use crate::nodes::authz::may_edit;
use crate::store::{NodeWrite, SerialisedWrite, Store, StoredUser};

/// The result of a hierarchy write: every node written, root first, depth-first.
pub struct HierarchyWritten {
    /// The JSON array of the nodes as stored, in pre-order (the answer).
    pub json: String,
    /// The root before the write.
    pub previous_root: Node,
}

/// `PUT /nodes/{id}`: replaces the root and writes its descendants, all or nothing.
pub async fn put_hierarchy(
    store: &dyn Store,
    user: &StoredUser,
    raw_id: &str,
    body: &[u8],
) -> ApiResult<HierarchyWritten> {
    retry_stale(|| put_hierarchy_once(store, user, raw_id, body)).await
}

/// One read-check-write of [`put_hierarchy`]: the root and every existing child are
/// replaced only while they are the versions whose rights were checked.
async fn put_hierarchy_once(
    store: &dyn Store,
    user: &StoredUser,
    raw_id: &str,
    body: &[u8],
) -> ApiResult<HierarchyWritten> {
    // Rights come before the body, as in the Python server (401/404 before 422).
    let root = load_editable(store, user, raw_id).await?;
    let hierarchy: Hierarchy = from_body_bytes(body, &["body"])?;
    // The existing children, read together (one query on MongoDB, not one per node).
    let existing = store.get_nodes(&child_ids(&hierarchy)).await?;
    let now = Timestamp::now();
    let mut writes = Vec::new();
    let mut stack = vec![(hierarchy, None::<ObjectIdHex>, true)];
    let mut written = std::collections::HashSet::new();
    while let Some((level, parent_id, is_root)) = stack.pop() {
        let Hierarchy {
            mut node,
            child_nodes,
        } = level;
        normalise_artifacts(&mut node.artifacts).map_err(|m| {
            ApiError::unprocessable(
                &["body", "node", "artifacts"],
                m,
                "url_parsing",
                Value::Null,
            )
        })?;
        if is_root {
            node.id = root.id.clone();
        }
        // Ownership is never taken from the body: the root and existing children keep
        // their stored owner and groups (below), new nodes belong to the caller. (The Python
        // server took a non-empty `owner` and `user_groups` from the body, which let an
        // editor give nodes away or forge other users' nodes.)
        node.owner = Some(user.username.clone());
        node.submitter = root.submitter.clone();
        node.treeid = root.treeid.clone();
        normalise_kind_data(&mut node)?;
        if let Some(p) = parent_id {
            node.parent = Some(p);
        }
        let write = match &node.id {
            Some(_) if is_root => {
                node.owner = root.owner.clone();
                node.user_groups = root.user_groups.clone();
                node.updated = now.max(Timestamp::next_after(root.updated));
                check_not_own_parent(&node)?;
                NodeWrite::update(node, &root)
            }
            Some(id) => {
                // Unlike the Python server (quirk 21), existing children need edit rights too.
                let existing = existing.get(id).ok_or_else(|| {
                    ApiError::BadRequest(format!("No object found with id: {id}"))
                })?;
                if !may_edit(user, existing) {
                    return Err(ApiError::not_node_editor());
                }
                node.owner = existing.owner.clone();
                node.user_groups = existing.user_groups.clone();
                check_not_own_parent(&node)?;
                node.updated = now.max(Timestamp::next_after(existing.updated));
                NodeWrite::update(node, existing)
            }
            None => {
                node.id = Some(new_id());
                NodeWrite::Insert(node)
            }
        };
        let this_id = write.node().id.clone();
        if let Some(id) = &this_id
            && !written.insert(id.clone())
        {
            return Err(ApiError::BadRequest(format!(
                "Node {id} appears more than once in the hierarchy"
            )));
        }
        writes.push(write);
        // Reverse so that popping visits children in order (depth-first pre-order).
        for child in child_nodes.into_iter().rev() {
            stack.push((child, this_id.clone(), false));
        }
    }
    // Each node is serialised once: the answer is made of the texts the store keeps.
    let writes = writes
        .into_iter()
        .map(SerialisedWrite::new)
        .collect::<Result<Vec<_>, _>>()?;
    let json = SerialisedWrite::json_array(&writes);
    // One event for the whole write, about the root.
    let event = writes
        .first()
        .map(|r| node_event(r.write().node(), Some(&root), true));
    store.write_serialised_with_event(writes, event).await?;
    Ok(HierarchyWritten {
        json,
        previous_root: root,
    })
}

/// The ids given to the descendants of the root (existing nodes the write replaces).
fn child_ids(root: &Hierarchy) -> Vec<ObjectIdHex> {
    let mut ids = Vec::new();
    let mut stack: Vec<&Hierarchy> = root.child_nodes.iter().collect();
    while let Some(level) = stack.pop() {
        ids.extend(level.node.id.clone());
        stack.extend(level.child_nodes.iter());
    }
    ids
}
