//! The open revision: its forest, which nodes are expanded, the selection (by id, so rows
//! inserted above do not move it) and the visible rows.
use std::collections::{HashMap, HashSet};

use maestro_common::NodeResult;

use crate::compare::Change;
use crate::model::{Forest, NodeId, NodeSummary, RevisionKey};

/// One visible row of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The node.
    pub id: NodeId,
    /// Depth (roots are 0).
    pub depth: usize,
    /// Whether it has children.
    pub has_children: bool,
    /// Whether they are shown.
    pub expanded: bool,
}

/// A revision whose tree is open.
#[derive(Clone, Debug)]
pub struct OpenRevision {
    /// The checkout.
    pub checkout: NodeId,
    /// Its revision.
    pub key: RevisionKey,
    /// Its nodes.
    pub forest: Forest,
    /// Still loading pages.
    pub loading: bool,
    /// Expanded nodes.
    pub expanded: HashSet<NodeId>,
    /// The selected node.
    pub selected: Option<NodeId>,
    /// The visible rows, rebuilt when the structure or the expansion changes.
    pub rows: Vec<Row>,
    /// The previous revision's nodes (compare), once loaded.
    pub previous: Option<Forest>,
    /// The previous revision's checkout, when there is one.
    pub previous_checkout: Option<NodeId>,
    /// Regressions and fixes, once both are loaded.
    pub changes: Option<Vec<Change>>,
    /// A node to show once it is loaded (a jump from the events pane).
    pub pending_reveal: Option<NodeId>,
    /// The previous revision's results by match key, for live compare updates.
    previous_index: HashMap<String, NodeResult>,
}

impl OpenRevision {
    /// A revision being opened.
    pub fn new(checkout: NodeId, key: RevisionKey) -> Self {
        let mut expanded = HashSet::new();
        expanded.insert(checkout.clone());
        Self {
            selected: Some(checkout.clone()),
            checkout,
            key,
            forest: Forest::default(),
            loading: true,
            expanded,
            rows: Vec::new(),
            previous: None,
            previous_checkout: None,
            changes: None,
            pending_reveal: None,
            previous_index: HashMap::new(),
        }
    }

    /// Rebuilds [`OpenRevision::rows`] (depth-first over the expanded nodes).
    pub fn rebuild_rows(&mut self) {
        let mut rows = Vec::new();
        let mut stack: Vec<(NodeId, usize)> = self
            .forest
            .roots()
            .iter()
            .rev()
            .map(|r| (r.clone(), 0))
            .collect();
        while let Some((id, depth)) = stack.pop() {
            let children = self.forest.children(&id);
            let expanded = self.expanded.contains(&id);
            if expanded {
                stack.extend(children.iter().rev().map(|c| (c.clone(), depth + 1)));
            }
            rows.push(Row {
                has_children: !children.is_empty(),
                expanded,
                id,
                depth,
            });
        }
        self.rows = rows;
        if self
            .selected
            .as_ref()
            .is_none_or(|s| self.forest.get(s).is_none())
        {
            self.selected = self.rows.first().map(|r| r.id.clone());
        }
    }

    /// Index of the selected row, when it is visible.
    pub fn selected_row(&self) -> Option<usize> {
        let sel = self.selected.as_deref()?;
        self.rows.iter().position(|r| r.id == sel)
    }

    /// Adds or changes nodes; returns whether the structure changed (rows rebuilt).
    pub fn upsert_all(&mut self, nodes: impl IntoIterator<Item = NodeSummary>) -> bool {
        let before = self.forest.len();
        let mut changed = false;
        for n in nodes {
            changed |= self.forest.upsert(n);
        }
        let structure = self.forest.len() != before;
        if structure {
            self.rebuild_rows();
        }
        changed
    }

    /// Shows `id`: expands its ancestors and selects it.
    pub fn reveal(&mut self, id: &str) {
        if self.forest.get(id).is_none() {
            return;
        }
        let opened = super::ancestors_to_open(&self.forest, id);
        let grew = opened.iter().any(|a| !self.expanded.contains(a));
        self.expanded.extend(opened);
        self.selected = Some(id.to_owned());
        if grew {
            self.rebuild_rows();
        }
    }

    /// Recomputes the compare list when both revisions are loaded (after a page or the
    /// previous revision arrived).
    pub fn recompare(&mut self) {
        if let Some(prev) = &self.previous {
            self.changes = Some(crate::compare::compare(prev.nodes(), self.forest.nodes()));
            if self.previous_index.is_empty() {
                self.previous_index = prev
                    .nodes()
                    .filter(|n| n.kind != "checkout")
                    .filter_map(|n| Some((crate::compare::match_key(n), n.result?)))
                    .collect();
            }
        }
    }

    /// Updates the compare list for one changed node only: a live event costs a lookup,
    /// not a pass over both trees.
    pub fn recompare_node(&mut self, id: &str) {
        let (Some(changes), Some(node)) = (self.changes.as_mut(), self.forest.get(id)) else {
            return;
        };
        changes.retain(|c| c.node != id);
        let key = crate::compare::match_key(node);
        let (Some(before), Some(now)) = (self.previous_index.get(&key), node.result) else {
            return;
        };
        let Some(kind) = crate::compare::ChangeKind::between(*before, now) else {
            return;
        };
        let change = crate::compare::Change {
            kind,
            node: id.to_owned(),
            key,
        };
        let at = changes.partition_point(|c| {
            (c.kind == crate::compare::ChangeKind::Fix, &c.key)
                < (change.kind == crate::compare::ChangeKind::Fix, &change.key)
        });
        changes.insert(at, change);
    }
}
