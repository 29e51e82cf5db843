//! The monitor's copy of the server's data: slim nodes, the open revision's tree with
//! per-subtree counts kept up to date incrementally, and the revisions list.
use std::collections::HashMap;

use maestro_common::{Node, NodeResult, NodeState, Timestamp};
use serde_json::Value;

/// A node id (24 hex digits).
pub type NodeId = String;

/// What identifies a kernel revision: the checkout's `data.kernel_revision` tree, branch and
/// commit, which every node of its tree carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RevisionKey {
    /// `data.kernel_revision.tree`.
    pub tree: String,
    /// `data.kernel_revision.branch`.
    pub branch: String,
    /// `data.kernel_revision.commit`.
    pub commit: String,
}

impl RevisionKey {
    /// The key of a node's `data`, when it has a kernel revision.
    pub fn of_data(data: &Value) -> Option<Self> {
        let rev = data.get("kernel_revision")?;
        let field = |k: &str| rev.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            tree: field("tree")?,
            branch: field("branch").unwrap_or_default(),
            commit: field("commit")?,
        })
    }
}

/// How a node shows: one of the glyphs of the status column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// ✓
    Pass,
    /// ✗
    Fail,
    /// ∅
    Skip,
    /// !
    Incomplete,
    /// ● scheduled or running.
    Running,
    /// … available: finished its own work, children may follow.
    Available,
    /// ◌ closing: waiting for children.
    Closing,
    /// · done without a result.
    Done,
}

impl Status {
    /// The status of a state and result: a result wins over the state.
    pub fn of(state: NodeState, result: Option<NodeResult>) -> Self {
        match (result, state) {
            (Some(NodeResult::Pass), _) => Self::Pass,
            (Some(NodeResult::Fail), _) => Self::Fail,
            (Some(NodeResult::Skip), _) => Self::Skip,
            (Some(NodeResult::Incomplete), _) => Self::Incomplete,
            (None, NodeState::Running) => Self::Running,
            (None, NodeState::Available) => Self::Available,
            (None, NodeState::Closing) => Self::Closing,
            (None, NodeState::Done) => Self::Done,
        }
    }

    /// The glyph, which carries the meaning without colour.
    pub fn glyph(self) -> &'static str {
        match self {
            Self::Pass => "✓",
            Self::Fail => "✗",
            Self::Skip => "∅",
            Self::Incomplete => "!",
            Self::Running => "●",
            Self::Available => "…",
            Self::Closing => "◌",
            Self::Done => "·",
        }
    }
}

/// Pass / fail / incomplete / skip / in-progress counts of a set of nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Passed.
    pub pass: u32,
    /// Failed.
    pub fail: u32,
    /// Incomplete (infrastructure errors, timeouts).
    pub incomplete: u32,
    /// Skipped.
    pub skip: u32,
    /// Not finished: running, available or closing without a result.
    pub running: u32,
}

impl Counts {
    /// The counts of one node of status `s`.
    pub fn one(s: Status) -> Self {
        let mut c = Self::default();
        c.add(s, 1);
        c
    }

    /// Adds `n` (negative to take away) nodes of status `s`.
    pub fn add(&mut self, s: Status, n: i32) {
        let slot = match s {
            Status::Pass => &mut self.pass,
            Status::Fail => &mut self.fail,
            Status::Incomplete => &mut self.incomplete,
            Status::Skip => &mut self.skip,
            Status::Running | Status::Available | Status::Closing => &mut self.running,
            Status::Done => return,
        };
        *slot = slot.saturating_add_signed(n);
    }

    /// Each count with the status it counts (running stands for every unfinished one).
    pub fn entries(&self) -> [(Status, u32); 5] {
        [
            (Status::Pass, self.pass),
            (Status::Fail, self.fail),
            (Status::Incomplete, self.incomplete),
            (Status::Skip, self.skip),
            (Status::Running, self.running),
        ]
    }

    /// Every node counted.
    pub fn total(&self) -> u32 {
        self.pass + self.fail + self.incomplete + self.skip + self.running
    }
}

/// The fields of a node the tree, the lists and the compare view need; the whole document
/// is fetched only for the details of the selected node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSummary {
    /// Id.
    pub id: NodeId,
    /// Parent id.
    pub parent: Option<NodeId>,
    /// Kind (`checkout`, `kbuild`, `job`, `test`, ...).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Path from the checkout down.
    pub path: Vec<String>,
    /// Life-cycle state.
    pub state: NodeState,
    /// Result, once known.
    pub result: Option<NodeResult>,
    /// Owner's username.
    pub owner: Option<String>,
    /// Groups that may edit it.
    pub user_groups: Vec<String>,
    /// `data.runtime` (jobs).
    pub runtime: Option<String>,
    /// `data.platform`.
    pub platform: Option<String>,
    /// `data.config_full` or `data.defconfig` (kbuilds and below).
    pub config: Option<String>,
    /// `data.error_code` (incomplete nodes).
    pub error_code: Option<String>,
    /// The revision it belongs to.
    pub revision: Option<RevisionKey>,
    /// `data.kernel_revision.describe` (checkouts).
    pub describe: Option<String>,
    /// Creation time.
    pub created: Timestamp,
    /// Last change.
    pub updated: Timestamp,
}

fn data_str(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl NodeSummary {
    /// The summary of a whole node.
    pub fn of(node: &Node) -> Self {
        let data = node.data.clone().unwrap_or(Value::Null);
        Self {
            id: node.id_str().to_owned(),
            parent: node.parent.as_ref().map(ToString::to_string),
            kind: node.kind.clone(),
            name: node.name.clone(),
            path: node.path.clone(),
            state: node.state,
            result: node.result,
            owner: node.owner.clone(),
            user_groups: node.user_groups.clone(),
            runtime: data_str(&data, "runtime"),
            platform: data_str(&data, "platform"),
            config: data_str(&data, "config_full").or_else(|| data_str(&data, "defconfig")),
            error_code: data_str(&data, "error_code"),
            revision: RevisionKey::of_data(&data),
            describe: data
                .get("kernel_revision")
                .and_then(|r| data_str(r, "describe")),
            created: node.created,
            updated: node.updated,
        }
    }

    /// How it shows.
    pub fn status(&self) -> Status {
        Status::of(self.state, self.result)
    }

    /// The commit, shortened to 12 digits.
    pub fn short_commit(&self) -> String {
        self.revision
            .as_ref()
            .map(|r| r.commit.chars().take(12).collect())
            .unwrap_or_default()
    }
}

/// The open revision's nodes as a tree. Children are kept in creation (id) order; counts
/// are of each node's descendants (not itself) and follow every change incrementally, so a
/// live update costs the depth of the node, not the size of the tree.
#[derive(Clone, Debug, Default)]
pub struct Forest {
    nodes: HashMap<NodeId, NodeSummary>,
    children: HashMap<NodeId, Vec<NodeId>>,
    counts: HashMap<NodeId, Counts>,
    roots: Vec<NodeId>,
}

impl Forest {
    /// The node with this id.
    pub fn get(&self, id: &str) -> Option<&NodeSummary> {
        self.nodes.get(id)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there is no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes without a parent in the forest, in id order.
    pub fn roots(&self) -> &[NodeId] {
        &self.roots
    }

    /// Children of `id`, in id order.
    pub fn children(&self, id: &str) -> &[NodeId] {
        self.children.get(id).map_or(&[], Vec::as_slice)
    }

    /// Counts of the descendants of `id`.
    pub fn counts(&self, id: &str) -> Counts {
        self.counts.get(id).copied().unwrap_or_default()
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeSummary> {
        self.nodes.values()
    }

    /// The ids from a root down to `id` (inclusive).
    pub fn ancestry(&self, id: &str) -> Vec<NodeId> {
        let mut chain = Vec::new();
        let mut cur = self.nodes.get(id);
        while let Some(n) = cur {
            chain.push(n.id.clone());
            if chain.len() > 64 {
                break; // a cycle in bad data; never loop forever
            }
            cur = n.parent.as_deref().and_then(|p| self.nodes.get(p));
        }
        chain.reverse();
        chain
    }

    fn adjust_ancestors(&mut self, parent: Option<&str>, status: Status, n: i32) {
        let mut cur = parent.map(str::to_owned);
        let mut hops = 0;
        while let Some(id) = cur {
            let Some(node) = self.nodes.get(&id) else {
                break;
            };
            let next = node.parent.clone();
            self.counts.entry(id).or_default().add(status, n);
            hops += 1;
            if hops > 64 {
                break;
            }
            cur = next;
        }
    }

    /// Adds or replaces a node; returns whether anything changed.
    pub fn upsert(&mut self, node: NodeSummary) -> bool {
        if let Some(old) = self.nodes.get(&node.id) {
            if *old == node {
                return false;
            }
            let (old_status, new_status) = (old.status(), node.status());
            let parent = node.parent.clone();
            if old.parent == node.parent {
                self.nodes.insert(node.id.clone(), node);
                if old_status != new_status {
                    self.adjust_ancestors(parent.as_deref(), old_status, -1);
                    self.adjust_ancestors(parent.as_deref(), new_status, 1);
                }
                return true;
            }
            // Moved (never in practice): take it out whole, put it back with its subtree.
            self.remove_subtree_links(&node.id);
            let (id, parent) = (node.id.clone(), node.parent.clone());
            self.insert_new(node);
            let below = self.counts(&id);
            self.shift_ancestors(parent.as_deref(), below, 1);
            return true;
        }
        self.insert_new(node);
        true
    }

    fn remove_subtree_links(&mut self, id: &str) {
        let Some(old) = self.nodes.get(id).cloned() else {
            return;
        };
        let mut subtree = self.counts(id);
        subtree.add(old.status(), 1);
        self.shift_ancestors(old.parent.as_deref(), subtree, -1);
        match &old.parent {
            Some(p) if self.nodes.contains_key(p) => {
                if let Some(list) = self.children.get_mut(p) {
                    list.retain(|c| c != id);
                }
            }
            _ => self.roots.retain(|r| r != id),
        }
        self.nodes.remove(id);
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) the counts `c` on every ancestor from
    /// `parent` up.
    fn shift_ancestors(&mut self, parent: Option<&str>, c: Counts, sign: i32) {
        for (s, n) in c.entries() {
            if n > 0 {
                self.adjust_ancestors(parent, s, sign * n as i32);
            }
        }
    }

    fn insert_new(&mut self, node: NodeSummary) {
        let id = node.id.clone();
        let parent = node.parent.clone();
        let status = node.status();
        self.nodes.insert(id.clone(), node);
        // Nodes that arrived before this one (their parent) were roots until now.
        let adopted: Vec<NodeId> = self
            .roots
            .iter()
            .filter(|r| self.nodes.get(*r).and_then(|n| n.parent.as_deref()) == Some(&id))
            .cloned()
            .collect();
        if !adopted.is_empty() {
            self.roots.retain(|r| !adopted.contains(r));
            let mut subtree = Counts::default();
            for child in &adopted {
                for (s, n) in self.counts(child).entries() {
                    subtree.add(s, n as i32);
                }
                if let Some(n) = self.nodes.get(child) {
                    subtree.add(n.status(), 1);
                }
            }
            let list = self.children.entry(id.clone()).or_default();
            list.extend(adopted);
            list.sort();
            self.counts.insert(id.clone(), subtree);
            self.shift_ancestors(parent.as_deref(), subtree, 1);
        }
        match parent.as_deref().filter(|p| self.nodes.contains_key(*p)) {
            Some(p) => {
                let list = self.children.entry(p.to_owned()).or_default();
                let at = list.partition_point(|c| c.as_str() < id.as_str());
                list.insert(at, id);
                self.adjust_ancestors(Some(p), status, 1);
            }
            None => {
                let at = self.roots.partition_point(|c| c.as_str() < id.as_str());
                self.roots.insert(at, id);
            }
        }
    }
}

/// One row of the revisions list: a checkout and the summary of its tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    /// The checkout node.
    pub checkout: NodeSummary,
    /// Counts of the revision's nodes (checkout excluded), once loaded.
    pub summary: Option<Counts>,
    /// Regressions and fixes against the previous revision of the tree and branch, once
    /// compared.
    pub compare: Option<(u32, u32)>,
}

impl Revision {
    /// A row for a checkout, with nothing loaded yet.
    pub fn new(checkout: NodeSummary) -> Self {
        Self {
            checkout,
            summary: None,
            compare: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn summary(id: &str, parent: Option<&str>, status: Status) -> NodeSummary {
        let (state, result) = match status {
            Status::Pass => (NodeState::Done, Some(NodeResult::Pass)),
            Status::Fail => (NodeState::Done, Some(NodeResult::Fail)),
            Status::Running => (NodeState::Running, None),
            _ => (NodeState::Done, None),
        };
        NodeSummary {
            id: id.into(),
            parent: parent.map(Into::into),
            kind: "test".into(),
            name: id.into(),
            path: vec![id.into()],
            state,
            result,
            owner: None,
            user_groups: vec![],
            runtime: None,
            platform: None,
            config: None,
            error_code: None,
            revision: None,
            describe: None,
            created: Timestamp::from_millis(0).unwrap(),
            updated: Timestamp::from_millis(0).unwrap(),
        }
    }

    #[test]
    fn counts_follow_inserts_updates_and_late_parents() {
        let mut f = Forest::default();
        // Children before their parent: they wait as roots, then are adopted.
        f.upsert(summary("c", Some("b"), Status::Pass));
        f.upsert(summary("d", Some("b"), Status::Fail));
        f.upsert(summary("a", None, Status::Running));
        f.upsert(summary("b", Some("a"), Status::Running));
        assert_eq!(f.roots(), ["a"]);
        assert_eq!(f.children("b"), ["c", "d"]);
        assert_eq!(
            f.counts("a"),
            Counts {
                pass: 1,
                fail: 1,
                running: 1,
                ..Counts::default()
            }
        );
        assert_eq!(f.counts("b").total(), 2);
        // A live change moves one count along the ancestors.
        assert!(f.upsert(summary("d", Some("b"), Status::Pass)));
        assert_eq!(f.counts("a").pass, 2);
        assert_eq!(f.counts("a").fail, 0);
        assert!(
            !f.upsert(summary("d", Some("b"), Status::Pass)),
            "no change"
        );
        assert_eq!(f.ancestry("d"), ["a", "b", "d"]);
        // A node moved under another parent takes its subtree's counts along.
        f.upsert(summary("e", Some("a"), Status::Fail));
        f.upsert(summary("b", Some("e"), Status::Running));
        assert_eq!(f.children("e"), ["b"]);
        assert_eq!(f.counts("e").total(), 3, "b and its two children");
        assert_eq!(f.counts("a").total(), 4, "e, b and b's children, once each");
    }
}
