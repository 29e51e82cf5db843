//! Moving around: focus, selection in each pane, expanding and collapsing the tree, opening
//! revisions, jumps from events and compare, and the `/` filters with `n`/`N`.
use super::{FilterInput, OpenRevision, Pane, Popup, State};
use crate::action::{Action, InputKey};
use crate::effect::{Effect, RevisionFilter};
use crate::model::{NodeId, NodeSummary};

/// Moves `index` by `delta` within `0..len`.
fn step(index: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (index as isize + delta).clamp(0, len as isize - 1) as usize
}

/// Whether `node` matches a tree search: space-separated terms, each `key:value` (kind,
/// state, result, name, platform, owner, config) or a piece of the name; all must match.
pub fn matches_search(node: &NodeSummary, search: &str) -> bool {
    let search = search.trim().to_lowercase();
    if search.is_empty() {
        return false;
    }
    search.split_whitespace().all(|term| {
        let has = |v: Option<&str>, want: &str| v.is_some_and(|v| v.to_lowercase().contains(want));
        match term.split_once(':') {
            Some(("kind", v)) => has(Some(&node.kind), v),
            Some(("state", v)) => has(Some(node.state.as_str()), v),
            Some(("result", v)) => has(node.result.map(|r| r.as_str()), v),
            Some(("name", v)) => has(Some(&node.name), v),
            Some(("platform", v)) => has(node.platform.as_deref(), v),
            Some(("owner", v)) => has(node.owner.as_deref(), v),
            Some(("config", v)) => has(node.config.as_deref(), v),
            _ => has(Some(&node.name), term),
        }
    })
}

impl State {
    pub(super) fn navigate(&mut self, action: Action) -> Vec<Effect> {
        if !matches!(self.popup, Popup::None) {
            return self.popup_navigate(action);
        }
        let half = (self.page_rows / 2).max(1) as isize;
        match action {
            Action::FocusNext => {
                self.focus = self.focus.next();
                Vec::new()
            }
            Action::FocusPrev => {
                self.focus = self.focus.prev();
                Vec::new()
            }
            Action::MoveUp => self.move_by(-1),
            Action::MoveDown => self.move_by(1),
            Action::HalfPageUp => self.move_by(-half),
            Action::HalfPageDown => self.move_by(half),
            Action::MoveTop => self.move_by(isize::MIN / 2),
            Action::MoveBottom => self.move_by(isize::MAX / 2),
            Action::Expand => self.expand(true),
            Action::Collapse => self.expand(false),
            Action::Activate => self.activate(),
            Action::Back => {
                if self.focus == Pane::Details && self.show_compare {
                    self.show_compare = false;
                } else if self.focus != Pane::Revisions {
                    self.focus = Pane::Revisions;
                }
                Vec::new()
            }
            Action::Reload => self.reload(),
            Action::ToggleCompare => {
                self.show_compare = !self.show_compare;
                if self.show_compare {
                    self.focus = Pane::Details;
                    self.compare_selected = 0;
                    if self.open.is_none() {
                        self.notice("open a revision first (Enter on it)");
                    }
                }
                Vec::new()
            }
            Action::StartFilter => {
                let text = match self.focus {
                    Pane::Revisions => {
                        let f = &self.revision_filter;
                        match (&f.tree, &f.branch) {
                            (Some(t), Some(b)) => format!("{t}/{b}"),
                            (Some(t), None) => t.clone(),
                            _ => String::new(),
                        }
                    }
                    Pane::Events => self.event_filter.clone(),
                    _ => self.tree_search.clone(),
                };
                let pane = if self.focus == Pane::Details {
                    Pane::Tree
                } else {
                    self.focus
                };
                self.filter_input = Some(FilterInput { pane, text });
                Vec::new()
            }
            Action::NextMatch => self.jump_match(true),
            Action::PrevMatch => self.jump_match(false),
            _ => Vec::new(),
        }
    }

    fn popup_navigate(&mut self, action: Action) -> Vec<Effect> {
        match (&mut self.popup, action) {
            (_, Action::Back) => {
                self.popup = Popup::None;
                Vec::new()
            }
            (Popup::Help, Action::ToggleHelp) => {
                self.popup = Popup::None;
                Vec::new()
            }
            (Popup::Log(_), a) => self.log_navigate(a),
            _ => Vec::new(),
        }
    }

    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        match self.focus {
            Pane::Revisions => {
                let i = self
                    .selected_revision
                    .as_ref()
                    .and_then(|s| self.revisions.iter().position(|r| &r.checkout.id == s))
                    .unwrap_or(0);
                let j = step(i, delta, self.revisions.len());
                self.selected_revision = self.revisions.get(j).map(|r| r.checkout.id.clone());
                let mut effects = self.compare_ahead(j);
                // At the last row, the next older page (never the whole collection).
                let loaded = self.revisions.len() as u64;
                if j + 1 == self.revisions.len()
                    && loaded < self.revisions_total
                    && !self.loading_older
                {
                    self.loading_older = true;
                    effects.push(Effect::LoadOlderRevisions {
                        filter: self.revision_filter.clone(),
                        skip: loaded,
                        limit: super::REVISION_PAGE,
                    });
                }
                effects
            }
            Pane::Tree => {
                let Some(open) = self.open.as_mut() else {
                    return Vec::new();
                };
                let i = open.selected_row().unwrap_or(0);
                let j = step(i, delta, open.rows.len());
                let next = open.rows.get(j).map(|r| r.id.clone());
                self.select_node(next)
            }
            Pane::Details if self.show_compare => {
                let len = self.changes().map_or(0, <[_]>::len);
                self.compare_selected = step(self.compare_selected, delta, len);
                Vec::new()
            }
            Pane::Details => {
                let to = (self.details_scroll as isize + delta).clamp(0, 10_000);
                self.details_scroll = to as u16;
                Vec::new()
            }
            Pane::Events => {
                let len = self.visible_events().len();
                self.event_selected = step(self.event_selected, delta, len);
                Vec::new()
            }
        }
    }

    /// Selects `id` in the tree and asks for its whole document.
    pub(super) fn select_node(&mut self, id: Option<NodeId>) -> Vec<Effect> {
        let Some(open) = self.open.as_mut() else {
            return Vec::new();
        };
        if open.selected == id {
            return Vec::new();
        }
        open.selected = id.clone();
        self.details_scroll = 0;
        self.artifact_index = 0;
        if self.details.as_ref().map(|d| d.id_str().to_owned()) != id {
            self.details = None;
        }
        id.map(Effect::LoadNode).into_iter().collect()
    }

    fn expand(&mut self, open_it: bool) -> Vec<Effect> {
        if self.focus != Pane::Tree {
            return match (self.focus, open_it) {
                (Pane::Revisions, true) => self.activate(),
                _ => Vec::new(),
            };
        }
        let Some(open) = self.open.as_mut() else {
            return Vec::new();
        };
        let Some(sel) = open.selected.clone() else {
            return Vec::new();
        };
        let has_children = !open.forest.children(&sel).is_empty();
        let is_open = open.expanded.contains(&sel);
        let target = match (open_it, has_children, is_open) {
            (true, true, false) => {
                open.expanded.insert(sel);
                open.rebuild_rows();
                None
            }
            (true, true, true) => open.forest.children(&sel).first().cloned(),
            (false, true, true) => {
                open.expanded.remove(&sel);
                open.rebuild_rows();
                None
            }
            (false, _, _) => open.forest.get(&sel).and_then(|n| n.parent.clone()),
            _ => None,
        };
        match target {
            Some(t)
                if self
                    .open
                    .as_ref()
                    .is_some_and(|o| o.forest.get(&t).is_some()) =>
            {
                self.select_node(Some(t))
            }
            _ => Vec::new(),
        }
    }

    fn activate(&mut self) -> Vec<Effect> {
        match self.focus {
            Pane::Revisions => self.open_selected_revision(None),
            Pane::Tree => {
                let Some(open) = self.open.as_mut() else {
                    return Vec::new();
                };
                let Some(sel) = open.selected.clone() else {
                    return Vec::new();
                };
                if !open.expanded.remove(&sel) {
                    open.expanded.insert(sel);
                }
                open.rebuild_rows();
                Vec::new()
            }
            Pane::Details if self.show_compare => {
                let Some(target) = self
                    .changes()
                    .and_then(|c| c.get(self.compare_selected))
                    .map(|c| c.node.clone())
                else {
                    return Vec::new();
                };
                self.jump_to(&target)
            }
            Pane::Details => Vec::new(),
            Pane::Events => {
                let Some(line) = self
                    .visible_events()
                    .get(self.event_selected)
                    .cloned()
                    .cloned()
                else {
                    return Vec::new();
                };
                let in_open = self.open.as_ref().is_some_and(|o| {
                    o.forest.get(&line.id).is_some() || line.revision.as_ref() == Some(&o.key)
                });
                if in_open {
                    return self.jump_to(&line.id);
                }
                let row = line.revision.as_ref().and_then(|key| {
                    self.revisions
                        .iter()
                        .find(|r| r.checkout.revision.as_ref() == Some(key))
                        .map(|r| r.checkout.id.clone())
                });
                match row {
                    Some(checkout) => {
                        self.selected_revision = Some(checkout);
                        self.open_selected_revision(Some(line.id))
                    }
                    None => {
                        self.notice("that node's revision is not in the list");
                        Vec::new()
                    }
                }
            }
        }
    }

    fn jump_to(&mut self, id: &str) -> Vec<Effect> {
        let Some(open) = self.open.as_mut() else {
            return Vec::new();
        };
        if open.forest.get(id).is_none() {
            open.pending_reveal = Some(id.to_owned());
            self.focus = Pane::Tree;
            return Vec::new();
        }
        open.reveal(id);
        open.selected = None;
        self.focus = Pane::Tree;
        self.select_node(Some(id.to_owned()))
    }

    /// Opens the selected revision's tree (showing `reveal` once loaded).
    fn open_selected_revision(&mut self, reveal: Option<NodeId>) -> Vec<Effect> {
        let Some(row) = self.selected_revision_row().cloned() else {
            return Vec::new();
        };
        let Some(key) = row.checkout.revision.clone() else {
            self.error("this checkout has no data.kernel_revision: its tree cannot be found");
            return Vec::new();
        };
        let checkout = row.checkout.id.clone();
        self.focus = Pane::Tree;
        if let Some(open) = &mut self.open
            && open.checkout == checkout
        {
            if let Some(id) = reveal {
                return self.jump_to(&id);
            }
            return Vec::new();
        }
        let mut open = OpenRevision::new(checkout.clone(), key.clone());
        open.pending_reveal = reveal;
        self.open = Some(open);
        self.details = None;
        vec![
            Effect::LoadTree {
                checkout: checkout.clone(),
                key: key.clone(),
            },
            Effect::LoadPrevious {
                checkout,
                key,
                created: row.checkout.created,
            },
        ]
    }

    fn reload(&mut self) -> Vec<Effect> {
        self.notice("reloading");
        match (self.focus, &mut self.open) {
            (Pane::Tree | Pane::Details, Some(open)) => {
                let (checkout, key) = (open.checkout.clone(), open.key.clone());
                open.forest = Default::default();
                open.loading = true;
                open.rows.clear();
                vec![Effect::LoadTree { checkout, key }]
            }
            _ => vec![Effect::LoadRevisions {
                filter: self.revision_filter.clone(),
                limit: super::REVISION_PAGE,
            }],
        }
    }

    fn jump_match(&mut self, forward: bool) -> Vec<Effect> {
        let search = self.tree_search.clone();
        let Some(open) = self.open.as_mut() else {
            return Vec::new();
        };
        let mut matches: Vec<&NodeSummary> = open
            .forest
            .nodes()
            .filter(|n| matches_search(n, &search))
            .collect();
        if matches.is_empty() {
            self.notice(format!("no node matches '{search}'"));
            return Vec::new();
        }
        matches.sort_by(|a, b| a.id.cmp(&b.id));
        let cur = open.selected.clone().unwrap_or_default();
        let pick = if forward {
            matches.iter().find(|n| n.id > cur).or(matches.first())
        } else {
            matches.iter().rev().find(|n| n.id < cur).or(matches.last())
        };
        let Some(id) = pick.map(|n| n.id.clone()) else {
            return Vec::new();
        };
        let total = matches.len();
        self.notice(format!("{total} node(s) match '{search}'"));
        self.jump_to(&id)
    }

    pub(super) fn filter_key(&mut self, key: InputKey) -> Vec<Effect> {
        let Some(mut input) = self.filter_input.take() else {
            return Vec::new();
        };
        match key {
            InputKey::Char(c) => input.text.push(c),
            InputKey::Backspace => {
                input.text.pop();
            }
            InputKey::Esc => return Vec::new(),
            InputKey::Enter => return self.apply_filter(input),
            _ => {}
        }
        if input.pane == Pane::Events {
            // Filters as it is typed.
            self.event_filter = input.text.clone();
            self.event_selected = 0;
        }
        self.filter_input = Some(input);
        Vec::new()
    }

    fn apply_filter(&mut self, input: FilterInput) -> Vec<Effect> {
        let text = input.text.trim().to_owned();
        match input.pane {
            Pane::Revisions => {
                let mut parts = text.splitn(2, '/');
                let tree = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
                let branch = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
                self.revision_filter = RevisionFilter { tree, branch };
                self.selected_revision = None;
                vec![Effect::LoadRevisions {
                    filter: self.revision_filter.clone(),
                    limit: super::REVISION_PAGE,
                }]
            }
            Pane::Events => {
                self.event_filter = text;
                Vec::new()
            }
            _ => {
                self.tree_search = text;
                if self.tree_search.is_empty() {
                    return Vec::new();
                }
                self.jump_match(true)
            }
        }
    }
}
