//! Regressions and fixes between two revisions of a tree: how their nodes are matched, and
//! the answer of the server's compare extension (`GET /latest/maestro/node/{id}/compare`).
use serde::{Deserialize, Serialize};

use crate::node::{Node, NodeResult};

/// Which way a result changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Passed before, fails now.
    Regression,
    /// Failed before, passes now.
    Fix,
}

impl ChangeKind {
    /// The change from `before` to `now`, if it is one of the two that count.
    pub fn between(before: NodeResult, now: NodeResult) -> Option<Self> {
        match (before, now) {
            (NodeResult::Pass, NodeResult::Fail) => Some(Self::Regression),
            (NodeResult::Fail, NodeResult::Pass) => Some(Self::Fix),
            _ => None,
        }
    }
}

/// The key two revisions' nodes are matched by: the kind, the path below the checkout (the
/// checkout's own name differs between revisions), the kbuild config and the platform.
pub fn match_key(
    kind: &str,
    path: &[String],
    config: Option<&str>,
    platform: Option<&str>,
) -> String {
    let below = path.get(1..).unwrap_or_default().join(" › ");
    let mut key = format!("{kind}:{below}");
    if let Some(c) = config {
        key.push_str(" [");
        key.push_str(c);
        key.push(']');
    }
    if let Some(p) = platform {
        key.push_str(" @");
        key.push_str(p);
    }
    key
}

/// [`match_key`] of a whole node (`data.config_full` or `data.defconfig`, `data.platform`).
pub fn node_key(n: &Node) -> String {
    let s = |k: &str| n.data.as_ref()?.get(k)?.as_str();
    match_key(
        &n.kind,
        &n.path,
        s("config_full").or_else(|| s("defconfig")),
        s("platform"),
    )
}

/// One node whose result changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareEntry {
    /// The node in the newer revision.
    pub id: String,
    /// What matched it (see [`match_key`]).
    pub key: String,
}

/// The answer of the compare extension for one checkout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionCompare {
    /// The previous checkout of the same tree and branch, if any.
    pub previous: Option<String>,
    /// Passed there, fail here, in key order.
    pub regressions: Vec<CompareEntry>,
    /// Failed there, pass here, in key order.
    pub fixes: Vec<CompareEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_the_checkout_name_and_changes_are_pass_fail_only() {
        let path = |c: &str| vec![c.to_owned(), "kbuild".to_owned(), "login".to_owned()];
        assert_eq!(
            match_key("test", &path("a"), Some("defconfig"), Some("qemu")),
            match_key("test", &path("b"), Some("defconfig"), Some("qemu"))
        );
        assert_ne!(
            match_key("test", &path("a"), None, Some("qemu")),
            match_key("test", &path("a"), None, Some("rpi"))
        );
        assert_eq!(
            ChangeKind::between(NodeResult::Pass, NodeResult::Fail),
            Some(ChangeKind::Regression)
        );
        assert_eq!(
            ChangeKind::between(NodeResult::Skip, NodeResult::Fail),
            None
        );
    }
}
