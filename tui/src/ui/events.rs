//! The events pane: the live feed, newest first, with the state and result change.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};

use super::{Theme, Ui};
use crate::model::Status;
use crate::state::State;

fn status(state: &str, result: Option<&str>) -> Status {
    Status::of(
        maestro_common::NodeState::parse(state).unwrap_or_default(),
        result.and_then(crate::state::parse_result),
    )
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
    let visible = state.visible_events();
    let filter = if state.event_filter.is_empty() {
        String::new()
    } else {
        format!(" · /{}", state.event_filter)
    };
    let seq = state
        .last_sequence
        .map_or_else(String::new, |s| format!(" · seq {s}"));
    let title = format!("Events {}{filter}{seq}", visible.len());
    // Only the rows that fit are built: the feed keeps thousands of lines.
    let height = area.height.saturating_sub(2).max(1) as usize;
    let selected = state.event_selected.min(visible.len().saturating_sub(1));
    let mut offset = ui.events_offset.min(visible.len().saturating_sub(1));
    if selected < offset {
        offset = selected;
    } else if selected >= offset + height {
        offset = selected + 1 - height;
    }
    ui.events_offset = offset;
    let items: Vec<ListItem<'_>> = visible
        .iter()
        .skip(offset)
        .take(height)
        .map(|e| {
            let now = status(&e.state, e.result.as_deref());
            let mut spans = vec![
                Span::styled(e.time.naive().format("%H:%M:%S ").to_string(), theme.dim()),
                Span::styled(format!("{} ", now.glyph()), theme.status(now)),
                Span::raw(format!("{:<7} {:<8} ", e.op, e.kind)),
                Span::raw(e.name.clone()),
            ];
            let change = match (&e.previous_state, &e.previous_result) {
                (Some(ps), Some(pr)) => {
                    let before = status(ps, pr.as_deref());
                    (before != now || ps != &e.state).then(|| {
                        format!(
                            "  {}/{} → {}/{}",
                            ps,
                            pr.as_deref().unwrap_or("-"),
                            e.state,
                            e.result.as_deref().unwrap_or("-")
                        )
                    })
                }
                _ => Some(format!(
                    "  {}/{}",
                    e.state,
                    e.result.as_deref().unwrap_or("-")
                )),
            };
            if let Some(c) = change {
                spans.push(Span::styled(c, theme.dim()));
            }
            if let Some(r) = &e.revision {
                spans.push(Span::styled(
                    format!("  {}/{}", r.tree, r.branch),
                    theme.dim(),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut ls = ListState::default().with_selected(focused.then_some(selected - offset));
    let list = List::new(items)
        .block(theme.block(title, focused))
        .highlight_style(theme.selected(focused));
    frame.render_stateful_widget(list, area, &mut ls);
}
