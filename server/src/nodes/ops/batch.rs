//! `PUT /batch/nodeset`: one flag set on many nodes, checked first, written together.
use maestro_common::Timestamp;
use serde_json::Value;

use super::{parse_id, retry_stale};
use crate::error::{ApiError, ApiResult};
use crate::extract::from_body;
use crate::nodes::authz::may_edit;
use crate::store::{NodeWrite, Store, StoredUser};

/// `PUT /batch/nodeset`: sets `processed_by_kcidb_bridge` on the listed nodes the caller
/// may edit (others are skipped). Everything is checked before anything is written, and
/// written only while every node is still the version checked.
pub async fn batch_set(store: &dyn Store, user: &StoredUser, body: Value) -> ApiResult<u64> {
    retry_stale(|| batch_set_once(store, user, body.clone())).await
}

async fn batch_set_once(store: &dyn Store, user: &StoredUser, body: Value) -> ApiResult<u64> {
    #[derive(eserde::Deserialize)]
    struct NodeSet {
        nodes: Vec<String>,
        field: String,
        value: String,
    }
    let req: NodeSet = from_body(body, &["body"])?;
    if req.field != "processed_by_kcidb_bridge" {
        return Err(ApiError::BadRequest("Field not supported".into()));
    }
    let value = match req.value.as_str() {
        "true" | "True" => true,
        "false" | "False" => false,
        other => {
            return Err(ApiError::BadRequest(format!(
                "Invalid value for processed_by_kcidb_bridge: '{other}', use true or false"
            )));
        }
    };
    let now = Timestamp::now();
    let mut ids = Vec::with_capacity(req.nodes.len());
    let mut seen = std::collections::HashSet::new();
    // A malformed id is reported where the list reaches it, after the nodes before it
    // are found (as the Python server, which reads them one by one, does).
    let mut malformed = None;
    for raw in &req.nodes {
        match parse_id(raw) {
            // Listed twice: flagged once.
            Ok(id) if seen.insert(id.clone()) => ids.push(id),
            Ok(_) => {}
            Err(e) => {
                malformed = Some(e);
                break;
            }
        }
    }
    // Read together (one query on MongoDB, not one per node), checked in the listed order.
    let mut found = store.get_nodes(&ids).await?;
    let mut writes = Vec::new();
    for id in ids {
        let mut node = found
            .remove(&id)
            .ok_or_else(|| ApiError::NotFound(format!("Node not found with id: {id}")))?;
        if may_edit(user, &node) {
            let read = node.clone();
            node.processed_by_kcidb_bridge = value;
            node.updated = now.max(Timestamp::next_after(read.updated));
            writes.push(NodeWrite::update(node, &read));
        }
    }
    if let Some(e) = malformed {
        return Err(e);
    }
    let count = writes.len() as u64;
    if !writes.is_empty() {
        store.write_nodes(writes).await?;
    }
    Ok(count)
}
