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
    let mut writes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for raw in &req.nodes {
        let id = parse_id(raw)?;
        if !seen.insert(id.clone()) {
            // Listed twice: flagged once.
            continue;
        }
        let mut node = store
            .get_node(&id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("Node not found with id: {id}")))?;
        if may_edit(user, &node) {
            let read = node.clone();
            node.processed_by_kcidb_bridge = value;
            node.updated = now.max(Timestamp::next_after(read.updated));
            writes.push(NodeWrite::update(node, &read));
        }
    }
    let count = writes.len() as u64;
    if !writes.is_empty() {
        store.write_nodes(writes).await?;
    }
    Ok(count)
}
