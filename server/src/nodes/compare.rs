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

/// How a compare reads a revision.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Nodes per page: one page of whole nodes is in memory at a time.
    pub page: u64,
    /// Nodes of one revision read at most; past it the answer is a 400 that says so.
    pub max_nodes: usize,
}

/// The server's bounds. Production's biggest trees have ~15,000 nodes; unbounded, one
/// request on a revision of 230,000 nodes held 3.9 GB.
pub const BOUNDS: Bounds = Bounds {
    page: 1_000,
    max_nodes: 100_000,
};

/// Calls `each` for every node but the checkouts of `checkout`'s revision (every node
/// carries `data.kernel_revision`), read page by page in id order by commit, the index
/// that serves it (`node_commit_id`): the tree and branch are checked here.
async fn for_revision_nodes(
    store: &dyn Store,
    checkout: &Node,
    bounds: Bounds,
    mut each: impl FnMut(Node),
) -> ApiResult<()> {
    let tree = revision_field(checkout, "tree");
    let branch = revision_field(checkout, "branch");
    let commit = revision_field(checkout, "commit").unwrap_or_default();
    let mut after: Option<String> = None;
    let mut read = 0;
    loop {
        let mut pairs = vec![("data.kernel_revision.commit", commit.clone())];
        pairs.extend(after.take().map(|id| ("id__gt", id)));
        let page = store
            .find_nodes(&filter(pairs)?, 0, Some(bounds.page))
            .await?;
        read += page.len();
        if read > bounds.max_nodes {
            return Err(ApiError::BadRequest(format!(
                "The revision of checkout {} has more than {} nodes: too many to compare",
                checkout.id_str(),
                bounds.max_nodes
            )));
        }
        let last_page = (page.len() as u64) < bounds.page;
        after = page.last().map(|n| n.id_str().to_owned());
        for n in page {
            if n.kind != "checkout"
                && revision_field(&n, "tree") == tree
                && revision_field(&n, "branch") == branch
            {
                each(n);
            }
        }
        if last_page {
            return Ok(());
        }
    }
}

/// Compares the checkout `id` with the previous checkout of its tree and branch.
pub async fn compare(store: &dyn Store, id: &ObjectIdHex) -> ApiResult<RevisionCompare> {
    compare_within(store, id, BOUNDS).await
}

/// [`compare`] reading the revisions within `bounds`.
pub async fn compare_within(
    store: &dyn Store,
    id: &ObjectIdHex,
    bounds: Bounds,
) -> ApiResult<RevisionCompare> {
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
    let mut before: HashMap<String, maestro_common::NodeResult> = HashMap::new();
    for_revision_nodes(store, &previous, bounds, |n| {
        if let Some(result) = n.result {
            before.insert(node_key(&n), result);
        }
    })
    .await?;
    let mut answer = RevisionCompare {
        previous: previous.id.as_ref().map(ToString::to_string),
        ..RevisionCompare::default()
    };
    for_revision_nodes(store, &checkout, bounds, |n| {
        let key = node_key(&n);
        let (Some(was), Some(now)) = (before.get(&key), n.result) else {
            return;
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
    })
    .await?;
    answer.regressions.sort_by(|a, b| a.key.cmp(&b.key));
    answer.fixes.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(answer)
}
