//! Regressions and fixes of a revision against the previous revision of its tree and
//! branch: nodes matched by path, kbuild config and platform (the rule of
//! `maestro_common::compare`, which the server's compare extension applies too).
use std::collections::HashMap;

use maestro_common::NodeResult;

use crate::model::{NodeId, NodeSummary};

pub use maestro_common::compare::ChangeKind;

/// One node whose result changed between the two revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Regression or fix.
    pub kind: ChangeKind,
    /// The node in the selected revision.
    pub node: NodeId,
    /// What matched it: path below the checkout, config, platform.
    pub key: String,
}

/// The key two revisions' nodes are matched by ([`maestro_common::compare::match_key`]).
pub fn match_key(n: &NodeSummary) -> String {
    maestro_common::compare::match_key(&n.kind, &n.path, n.config.as_deref(), n.platform.as_deref())
}

/// The regressions and fixes of `current` against `previous`, regressions first, each
/// group in key order. Only nodes with a pass or fail result in both count.
pub fn compare<'a>(
    previous: impl IntoIterator<Item = &'a NodeSummary>,
    current: impl IntoIterator<Item = &'a NodeSummary>,
) -> Vec<Change> {
    let before: HashMap<String, NodeResult> = previous
        .into_iter()
        .filter(|n| n.kind != "checkout")
        .filter_map(|n| n.result.map(|r| (match_key(n), r)))
        .collect();
    let mut changes: Vec<Change> = current
        .into_iter()
        .filter(|n| n.kind != "checkout")
        .filter_map(|n| {
            let key = match_key(n);
            let kind = ChangeKind::between(*before.get(&key)?, n.result?)?;
            Some(Change {
                kind,
                node: n.id.clone(),
                key,
            })
        })
        .collect();
    changes.sort_by(|a, b| {
        (a.kind == ChangeKind::Fix, &a.key).cmp(&(b.kind == ChangeKind::Fix, &b.key))
    });
    changes
}

/// (regressions, fixes) of a change list.
pub fn tally(changes: &[Change]) -> (u32, u32) {
    let regressions = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Regression)
        .count() as u32;
    (regressions, changes.len() as u32 - regressions)
}

#[cfg(test)]
mod tests {
    use maestro_common::{NodeState, Timestamp};

    use super::*;

    fn n(id: &str, checkout: &str, path: &[&str], result: Option<NodeResult>) -> NodeSummary {
        let mut full = vec![checkout.to_owned()];
        full.extend(path.iter().map(|s| (*s).to_owned()));
        NodeSummary {
            id: id.into(),
            parent: None,
            kind: "test".into(),
            name: path.last().unwrap().to_string(),
            path: full,
            state: NodeState::Done,
            result,
            owner: None,
            user_groups: vec![],
            runtime: None,
            platform: Some("qemu-x86".into()),
            config: None,
            error_code: None,
            revision: None,
            describe: None,
            created: Timestamp::from_millis(0).unwrap(),
            updated: Timestamp::from_millis(0).unwrap(),
        }
    }

    #[test]
    fn regressions_and_fixes_match_by_path_below_the_checkout() {
        use NodeResult::*;
        let prev = [
            n("p1", "checkout-a", &["baseline", "login"], Some(Pass)),
            n("p2", "checkout-a", &["baseline", "dmesg"], Some(Fail)),
            n("p3", "checkout-a", &["kunit", "x"], Some(Pass)),
            n("p4", "checkout-a", &["kunit", "gone"], Some(Pass)),
        ];
        let cur = [
            n("c1", "checkout-b", &["baseline", "login"], Some(Fail)),
            n("c2", "checkout-b", &["baseline", "dmesg"], Some(Pass)),
            n("c3", "checkout-b", &["kunit", "x"], Some(Pass)),
            n("c5", "checkout-b", &["kunit", "new"], Some(Fail)),
            n("c6", "checkout-b", &["kunit", "gone"], None),
        ];
        let changes = compare(&prev, &cur);
        let got: Vec<(ChangeKind, &str)> =
            changes.iter().map(|c| (c.kind, c.node.as_str())).collect();
        assert_eq!(
            got,
            [(ChangeKind::Regression, "c1"), (ChangeKind::Fix, "c2")]
        );
        assert_eq!(tally(&changes), (1, 1));
    }
}
