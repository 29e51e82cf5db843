//! The tree pane: the open revision's nodes as a collapsible tree (tui-tree-widget), each
//! row a status glyph, the name, the kind and the counts of its subtree.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tui_tree_widget::{Tree, TreeItem};

use super::format::counts_spans;
use super::{Theme, Ui};
use crate::model::Forest;
use crate::state::{OpenRevision, State};

/// The widget's items for the expanded part of the tree; a collapsed node with children
/// gets one placeholder child so that the widget marks it as expandable, without building
/// items for its (maybe thousands of) descendants.
fn items<'a>(
    open: &OpenRevision,
    ids: &[String],
    theme: Theme,
    search: &str,
) -> Vec<TreeItem<'a, String>> {
    ids.iter()
        .filter_map(|id| {
            let node = open.forest.get(id)?;
            let status = node.status();
            let mut spans = vec![
                Span::styled(format!("{} ", status.glyph()), theme.status(status)),
                Span::raw(node.name.clone()),
                Span::styled(format!(" {}", node.kind), theme.dim()),
            ];
            if let Some(code) = &node.error_code {
                spans.push(Span::styled(format!(" {code}"), theme.status(status)));
            }
            let children = open.forest.children(id);
            if !children.is_empty() {
                spans.push(Span::raw("  "));
                spans.extend(counts_spans(&open.forest.counts(id), theme));
            }
            if !search.is_empty() && crate::state::matches_search(node, search) {
                spans.push(Span::styled(" ◆", theme.accent()));
            }
            let text = Line::from(spans);
            let kids = if children.is_empty() {
                Vec::new()
            } else if open.expanded.contains(id) {
                items(open, children, theme, search)
            } else {
                vec![TreeItem::new_leaf(format!("{id}:…"), "…")]
            };
            TreeItem::new(id.clone(), text, kids).ok()
        })
        .collect()
}

/// The path of ids (root first) the widget selects and opens by.
fn path(forest: &Forest, id: &str) -> Vec<String> {
    forest.ancestry(id)
}

/// Draws the pane.
pub fn render(
    frame: &mut Frame<'_>,
    ui: &mut Ui,
    state: &State,
    theme: Theme,
    area: Rect,
    focused: bool,
) {
    let Some(open) = &state.open else {
        let p = Paragraph::new(Span::styled(
            "Enter on a revision opens its tree",
            theme.dim(),
        ))
        .block(theme.block("Tree".into(), focused));
        frame.render_widget(p, area);
        return;
    };
    let name = state
        .revisions
        .iter()
        .find(|r| r.checkout.id == open.checkout)
        .map(|r| {
            r.checkout
                .describe
                .clone()
                .unwrap_or_else(|| r.checkout.short_commit())
        })
        .unwrap_or_default();
    let loading = if open.loading { " · loading…" } else { "" };
    let paused = if state.paused {
        format!(" · paused, {} held", state.held.len())
    } else {
        String::new()
    };
    let follow = if state.follow { " · follow" } else { "" };
    let title = format!(
        "{}/{} {name} · {} nodes{loading}{follow}{paused}",
        open.key.tree,
        open.key.branch,
        open.forest.len()
    );
    let block = theme.block(title, focused);
    let list = items(open, open.forest.roots(), theme, &state.tree_search);
    let Ok(tree) = Tree::new(&list) else {
        return;
    };
    let tree = tree
        .block(block)
        .highlight_style(theme.selected(focused))
        .node_closed_symbol("▸ ")
        .node_open_symbol("▾ ")
        .node_no_children_symbol("  ");
    ui.tree.close_all();
    for id in &open.expanded {
        if open.forest.get(id).is_some() {
            ui.tree.open(path(&open.forest, id));
        }
    }
    match &open.selected {
        Some(sel) => {
            ui.tree.select(path(&open.forest, sel));
        }
        None => {
            ui.tree.select(Vec::new());
        }
    }
    frame.render_stateful_widget(tree, area, &mut ui.tree);
}
