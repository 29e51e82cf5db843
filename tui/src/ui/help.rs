//! The `?` help: generated from the key tables, grouped by context.
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::Theme;
use crate::keymap::{Context, bindings};
use crate::state::State;

/// The help's lines.
pub fn lines(theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for ctx in Context::ALL {
        lines.push(Line::from(Span::styled(
            ctx.title().to_owned(),
            theme.accent(),
        )));
        for b in bindings(ctx) {
            let keys: Vec<String> = b.keys.iter().map(|k| k.label()).collect();
            lines.push(Line::from(vec![
                Span::raw(format!("  {:<18}", keys.join(" "))),
                Span::styled(b.desc.to_owned(), theme.dim()),
            ]));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::from(Span::styled(
        "Glyphs: ✓ pass ✗ fail ! incomplete ∅ skip ● running … available ◌ closing · done",
        theme.dim(),
    )));
    lines
}

/// A rectangle of `w`x`h` centred in `area` (clipped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Draws the popup.
pub fn render(frame: &mut Frame<'_>, _state: &State, theme: Theme) {
    let area = centered(frame.area(), 76, frame.area().height.saturating_sub(2));
    frame.render_widget(Clear, area);
    let lines = lines(theme);
    let p = Paragraph::new(lines)
        .block(theme.block("Help · Esc or ? closes".into(), true))
        .wrap(Wrap { trim: false });
    frame.render_widget(p, area);
}
