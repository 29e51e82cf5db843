//! The revisions pane: one row per checkout, newest first, with its tree's counts and its
//! regressions against the previous revision.
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};

use super::format::{age, counts_spans, fit};
use super::{Theme, Ui};
use crate::state::State;

/// Draws the pane.
pub fn render(
    frame: &mut Frame<'_>,
    ui: &mut Ui,
    state: &State,
    theme: Theme,
    area: Rect,
    focused: bool,
) {
    let filter = match (&state.revision_filter.tree, &state.revision_filter.branch) {
        (Some(t), Some(b)) => format!(" · {t}/{b}"),
        (Some(t), None) => format!(" · {t}"),
        _ => String::new(),
    };
    let title = format!(
        "Revisions {}/{}{filter}",
        state.revisions.len(),
        state.revisions_total
    );
    let block = theme.block(title, focused);
    let inner_width = area.width.saturating_sub(2) as usize;
    // Two lines a revision: what it is and how old, then where it is from and its counts,
    // so that the counts fit in a narrow pane too.
    let rows: Vec<Row<'_>> = state
        .revisions
        .iter()
        .map(|r| {
            let c = &r.checkout;
            let (tree, branch) = c
                .revision
                .as_ref()
                .map(|k| (k.tree.as_str(), k.branch.as_str()))
                .unwrap_or(("?", ""));
            let name = c.describe.clone().unwrap_or_else(|| c.short_commit());
            let status = c.status();
            let ago = age(state.now, c.created);
            let name_width = inner_width.saturating_sub(ago.chars().count() + 3);
            let first = Line::from(vec![
                Span::styled(format!("{} ", status.glyph()), theme.status(status)),
                Span::raw(format!("{:<name_width$} ", fit(&name, name_width))),
                Span::styled(ago, theme.dim()),
            ]);
            let mut second = vec![Span::styled(
                format!("  {} ", fit(&format!("{tree}/{branch}"), 24)),
                theme.dim(),
            )];
            // Regressions first: they are what makes a revision stand out.
            if let Some((reg, fix)) = r.compare {
                if reg > 0 {
                    second.push(Span::styled(
                        format!("▼{reg} "),
                        theme.status(crate::model::Status::Fail),
                    ));
                }
                if fix > 0 {
                    second.push(Span::styled(
                        format!("▲{fix} "),
                        theme.status(crate::model::Status::Pass),
                    ));
                }
            }
            match &r.summary {
                Some(counts) if counts.total() == 0 => {
                    second.push(Span::styled("no results yet", theme.dim()));
                }
                Some(counts) => second.extend(counts_spans(counts, theme)),
                None => second.push(Span::styled("…", theme.dim())),
            }
            Row::new(vec![Cell::from(ratatui::text::Text::from(vec![
                first,
                Line::from(second),
            ]))])
            .height(2)
        })
        .collect();
    let widths = vec![Constraint::Min(10)];
    let selected = state
        .selected_revision
        .as_ref()
        .and_then(|s| state.revisions.iter().position(|r| &r.checkout.id == s));
    let mut ts = TableState::default()
        .with_offset(ui.revisions_offset)
        .with_selected(selected);
    let table = Table::new(rows, widths)
        .block(block)
        .row_highlight_style(theme.selected(focused))
        .column_spacing(1);
    if state.revisions.is_empty() {
        let text = if state.revisions_total == 0 {
            "no checkouts yet"
        } else {
            "loading…"
        };
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Span::styled(text, theme.dim()))
                .block(theme.block("Revisions".into(), focused)),
            area,
        );
        return;
    }
    frame.render_stateful_widget(table, area, &mut ts);
    ui.revisions_offset = ts.offset();
    // A narrow pane has no room for the counts: the selected revision's go in the title
    // of the tree instead.
}
