//! The status bar: server, who you are (or read-only and why), the connection, the last
//! event sequence, the latest message, and the keys that matter in the focused pane.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::keymap::quick_hints;
use crate::state::{ConnState, State};

/// Draws the two lines.
pub fn render(frame: &mut Frame<'_>, area: Rect, state: &State, theme: Theme) {
    let who = match (&state.read_only, &state.whoami) {
        (Some(_), _) => Span::styled("read-only", theme.status(crate::model::Status::Running)),
        (None, Some(me)) => Span::raw(me.username.clone()),
        (None, None) => Span::styled("…", theme.dim()),
    };
    let conn_style = match state.conn {
        ConnState::Live | ConnState::LongPoll => theme.status(crate::model::Status::Pass),
        ConnState::Reconnecting(_) => theme.error(),
        _ => theme.status(crate::model::Status::Running),
    };
    let mut first = vec![
        Span::styled(" maestro ", theme.accent()),
        Span::raw(state.server.clone()),
        Span::styled(" · ", theme.dim()),
        who,
        Span::styled(" · ", theme.dim()),
        Span::styled(state.conn.label(), conn_style),
    ];
    if let Some(seq) = state.last_sequence {
        first.push(Span::styled(format!(" · seq {seq}"), theme.dim()));
    }
    if state.paused {
        first.push(Span::styled(
            format!(" · PAUSED ({} held)", state.held.len()),
            theme.error(),
        ));
    }
    if state.follow {
        first.push(Span::styled(" · follow", theme.accent()));
    }
    if let Some(n) = &state.notice {
        first.push(Span::styled(" · ", theme.dim()));
        first.push(Span::styled(
            n.text.clone(),
            if n.error {
                theme.error()
            } else {
                ratatui::style::Style::new()
            },
        ));
    }
    let second: Vec<Span<'_>> = match &state.filter_input {
        Some(input) => vec![
            Span::styled(format!(" {} /", input.pane.title()), theme.accent()),
            Span::raw(input.text.clone()),
            Span::styled("▏", theme.accent()),
            Span::styled("  Enter apply · Esc cancel", theme.dim()),
        ],
        None => {
            let mut spans = vec![Span::raw(" ")];
            for (key, desc) in quick_hints(state) {
                spans.push(Span::styled(key, theme.accent()));
                spans.push(Span::styled(format!(" {desc}  "), theme.dim()));
            }
            spans
        }
    };
    let p = Paragraph::new(vec![Line::from(first), Line::from(second)]);
    frame.render_widget(p, area);
}
