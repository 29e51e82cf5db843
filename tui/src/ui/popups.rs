//! The edit form, the confirmation and the log view, drawn over the panes.
use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::Theme;
use super::help::centered;
use crate::state::{Confirm, EditField, EditForm, LogView, State};

/// Draws the edit form (or its confirmation diff).
pub fn edit(frame: &mut Frame<'_>, form: &EditForm, state: &State, theme: Theme) {
    let area = centered(frame.area(), 72, 16);
    frame.render_widget(Clear, area);
    let mut lines = vec![Line::from(vec![
        Span::styled(form.node.name.clone(), theme.accent()),
        Span::styled(
            format!("  {} {}", form.node.kind, form.node.id),
            theme.dim(),
        ),
    ])];
    if form.confirming {
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled(
            "Send these changes?",
            theme.accent(),
        )));
        match form.changes(state.now) {
            Ok((_, diff)) => lines.extend(diff.into_iter().map(|d| Line::raw(format!("  {d}")))),
            Err(e) => lines.push(Line::from(Span::styled(e, theme.error()))),
        }
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled(
            "Enter/y send · Esc/n back to the form",
            theme.dim(),
        )));
    } else {
        let allowed: Vec<&str> = form.allowed_states().iter().map(|s| s.as_str()).collect();
        let value = |f: EditField| -> String {
            match f {
                EditField::State => format!(
                    "‹ {} ›  (allowed: {})",
                    form.state.as_str(),
                    allowed.join(", ")
                ),
                EditField::Result => format!("‹ {} ›", form.result.map_or("none", |r| r.as_str())),
                EditField::Holdoff => form.holdoff.clone(),
                EditField::Timeout => form.timeout.clone(),
                EditField::DataKey => form.data_key.clone(),
                EditField::DataValue => form.data_value.clone(),
            }
        };
        for f in [
            EditField::State,
            EditField::Result,
            EditField::Holdoff,
            EditField::Timeout,
            EditField::DataKey,
            EditField::DataValue,
        ] {
            let focused = f == form.field;
            let marker = if focused { "▶ " } else { "  " };
            let mut v = value(f);
            if focused && !matches!(f, EditField::State | EditField::Result) {
                v.push('▏');
            }
            lines.push(Line::from(vec![
                Span::styled(marker, theme.accent()),
                Span::styled(format!("{:<11}", f.label()), theme.dim()),
                Span::styled(
                    v,
                    if focused {
                        theme.selected(true)
                    } else {
                        ratatui::style::Style::new()
                    },
                ),
            ]));
        }
        lines.push(Line::from(Span::styled(
            "  holdoff/timeout: 2026-01-01T12:00:00 or +30m/+2h/+1d; data value: JSON or text",
            theme.dim(),
        )));
        if let Some(e) = &form.error {
            lines.push(Line::from(Span::styled(format!("  {e}"), theme.error())));
        }
        lines.push(Line::from(Span::styled(
            "  Tab/↑↓ field · ←→/Space choose · Enter review · Esc cancel",
            theme.dim(),
        )));
    }
    let p = Paragraph::new(lines)
        .block(theme.block("Edit node".into(), true))
        .wrap(Wrap { trim: false });
    frame.render_widget(p, area);
}

/// Draws a yes/no question.
pub fn confirm(frame: &mut Frame<'_>, c: &Confirm, theme: Theme) {
    let area = centered(frame.area(), 70, 7);
    frame.render_widget(Clear, area);
    let mut lines: Vec<Line<'_>> = c.text.iter().map(|t| Line::raw(t.clone())).collect();
    lines.push(Line::from(Span::styled(
        "y/Enter yes · n/Esc no",
        theme.dim(),
    )));
    let p = Paragraph::new(lines)
        .block(theme.block("Confirm".into(), true))
        .wrap(Wrap { trim: false });
    frame.render_widget(p, area);
}

/// Draws the log view, from its top line.
pub fn log(frame: &mut Frame<'_>, view: &LogView, theme: Theme) {
    let full = frame.area();
    let area = centered(
        full,
        full.width.saturating_sub(2),
        full.height.saturating_sub(2),
    );
    frame.render_widget(Clear, area);
    let size = view
        .total
        .map_or_else(String::new, |t| format!(" · {} KiB", t.div_ceil(1024)));
    let from = if view.start > 0 {
        format!(" · from byte {}", view.start)
    } else {
        String::new()
    };
    let search = if view.searching || !view.search.is_empty() {
        format!(
            " · /{}{}",
            view.search,
            if view.searching { "▏" } else { "" }
        )
    } else {
        String::new()
    };
    let title = format!("{}{size}{from}{search}", super::format::fit(&view.url, 60));
    let height = area.height.saturating_sub(2) as usize;
    let needle = view.search.to_lowercase();
    let mut lines: Vec<Line<'_>> = view
        .lines
        .iter()
        .skip(view.top)
        .take(height)
        .map(|l| {
            if !needle.is_empty() && l.to_lowercase().contains(&needle) {
                Line::from(Span::styled(l.clone(), theme.selected(true)))
            } else {
                Line::raw(l.clone())
            }
        })
        .collect();
    if view.loading {
        lines.insert(0, Line::from(Span::styled("reading…", theme.dim())));
    }
    if let Some(e) = &view.error {
        lines.insert(0, Line::from(Span::styled(e.clone(), theme.error())));
    }
    let p = Paragraph::new(lines).block(theme.block(title, true));
    frame.render_widget(p, area);
}
