//! The compare extension: a checkout's regressions and fixes against the previous checkout
//! of its tree and branch, matched by `maestro_common::compare`'s rule, so that a client
//! can show them for every revision of a list without loading every tree.
use std::collections::HashMap;

use maestro_common::compare::{ChangeKind, CompareEntry, RevisionCompare, node_key};
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node};

use crate::error::{ApiError, ApiResult};
use crate::store::Store;

fn filter(pairs: Vec<(&str, String)>) -> ApiResult<Filter> {
    Filter::from_params(pairs).map_err(|e| ApiError::BadRequest(e.0))
}

fn revision_field(n: &Node, key: &str) -> Option<String> {
    Some(
        n.data
            .as_ref()?
            .get("kernel_revision")?
            .get(key)?
            .as_str()?
            .to_owned(),
    )
}

/// The nodes of a checkout's revision (every node carries `data.kernel_revision`).
async fn revision_nodes(store: &dyn Store, checkout: &Node) -> ApiResult<Vec<Node>> {
    let mut pairs = Vec::new();
    for key in ["tree", "branch", "commit"] {
        let value = revision_field(checkout, key).unwrap_or_default();
        pairs.push((["data.kernel_revision.", key].concat(), value));
    }
    let f = Filter::from_params(pairs).map_err(|e| ApiError::BadRequest(e.0))?;
    Ok(store.find_nodes(&f, 0, None).await?)
}

/// Compares the checkout `id` with the previous checkout of its tree and branch.
pub async fn compare(store: &dyn Store, id: &ObjectIdHex) -> ApiResult<RevisionCompare> {
    let checkout = store
        .get_node(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Node not found with id: {id}")))?;
    if checkout.kind != "checkout" {
        return Err(ApiError::BadRequest(format!(
            "Node {id} is a {}, not a checkout",
            checkout.kind
        )));
    }
    let (Some(tree), Some(_)) = (
        revision_field(&checkout, "tree"),
        revision_field(&checkout, "commit"),
    ) else {
        return Err(ApiError::BadRequest(format!(
            "Checkout {id} has no data.kernel_revision tree and commit"
        )));
    };
    let branch = revision_field(&checkout, "branch").unwrap_or_default();
    let earlier = filter(vec![
        ("kind", "checkout".to_owned()),
        ("data.kernel_revision.tree", tree),
        ("data.kernel_revision.branch", branch),
        ("created__lt", checkout.created.to_string()),
    ])?;
    let n = store.count_nodes(&earlier).await?;
    let Some(previous) = (match n {
        0 => None,
        n => store.find_nodes(&earlier, n - 1, Some(1)).await?.pop(),
    }) else {
        return Ok(RevisionCompare::default());
    };
    let before: HashMap<String, maestro_common::NodeResult> = revision_nodes(store, &previous)
        .await?
        .iter()
        .filter(|n| n.kind != "checkout")
        .filter_map(|n| Some((node_key(n), n.result?)))
        .collect();
    let mut answer = RevisionCompare {
        previous: previous.id.as_ref().map(ToString::to_string),
        ..RevisionCompare::default()
    };
    for n in revision_nodes(store, &checkout).await? {
        if n.kind == "checkout" {
            continue;
        }
        let key = node_key(&n);
        let (Some(was), Some(now)) = (before.get(&key), n.result) else {
            continue;
        };
        let entry = CompareEntry {
            id: n.id_str().to_owned(),
            key,
        };
        match ChangeKind::between(*was, now) {
            Some(ChangeKind::Regression) => answer.regressions.push(entry),
            Some(ChangeKind::Fix) => answer.fixes.push(entry),
            None => {}
        }
    }
    answer.regressions.sort_by(|a, b| a.key.cmp(&b.key));
    answer.fixes.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(answer)
}
