//! The details pane (every field of the selected node) and, in its place, the compare list
//! of regressions and fixes.
use maestro_common::{Node, Timestamp};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};

use super::Theme;
use super::format::age;
use crate::compare::ChangeKind;
use crate::model::Status;
use crate::state::State;

fn when(now: Timestamp, t: Timestamp) -> String {
    format!("{} ({})", t, age(now, t))
}

/// How long is left until `t`, or how long ago it passed.
fn left(now: Timestamp, t: Timestamp) -> String {
    let secs = (t.millis() - now.millis()) / 1000;
    if secs >= 0 {
        format!("{t} ({} left)", super::format::short_duration(secs))
    } else {
        format!("{t} (passed {} ago)", super::format::short_duration(-secs))
    }
}

fn field<'a>(theme: Theme, name: &str, value: impl Into<String>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:>8} "), theme.dim()),
        Span::raw(value.into()),
    ])
}

fn node_lines<'a>(n: &Node, state: &State, theme: Theme) -> Vec<Line<'a>> {
    let now = state.now;
    let status = Status::of(n.state, n.result);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", status.glyph()), theme.status(status)),
            Span::styled(n.name.clone(), theme.accent()),
            Span::styled(format!("  {}", n.kind), theme.dim()),
        ]),
        field(theme, "id", n.id_str()),
        field(theme, "state", n.state.as_str()),
        field(theme, "result", n.result.map_or("none", |r| r.as_str())),
        field(theme, "owner", n.owner.clone().unwrap_or_default()),
        field(theme, "groups", n.user_groups.join(", ")),
        field(theme, "group", n.group.clone().unwrap_or_default()),
        field(
            theme,
            "parent",
            n.parent
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        field(theme, "path", n.path.join(" › ")),
        field(theme, "created", when(now, n.created)),
        field(theme, "updated", when(now, n.updated)),
        field(theme, "timeout", left(now, n.timeout)),
        field(
            theme,
            "holdoff",
            n.holdoff
                .map_or_else(|| "none".to_owned(), |h| left(now, h)),
        ),
        field(theme, "retries", n.retry_counter.to_string()),
        field(theme, "by", n.submitter.clone().unwrap_or_default()),
        field(theme, "treeid", n.treeid.clone().unwrap_or_default()),
        field(theme, "kcidb", n.processed_by_kcidb_bridge.to_string()),
    ];
    let artifacts = state.artifacts();
    lines.push(Line::from(Span::styled(
        format!(
            "artifacts ({})  o open · y copy · v view · a next",
            artifacts.len()
        ),
        theme.dim(),
    )));
    let current = state.current_artifact();
    for (name, url) in &artifacts {
        let mark = if current.as_ref().map(|(n, _)| n) == Some(name) {
            "▶ "
        } else {
            "  "
        };
        lines.push(Line::from(vec![
            Span::styled(mark.to_owned(), theme.accent()),
            Span::styled(format!("{name} -> "), theme.dim()),
            Span::raw(url.clone()),
        ]));
    }
    lines.push(Line::from(Span::styled("data", theme.dim())));
    let data = n
        .data
        .as_ref()
        .and_then(|d| serde_json::to_string_pretty(d).ok())
        .unwrap_or_else(|| "null".into());
    lines.extend(data.lines().map(|l| Line::raw(format!("  {l}"))));
    lines
}

/// Draws the details of the selected node.
pub fn render(frame: &mut Frame<'_>, state: &State, theme: Theme, area: Rect, focused: bool) {
    let block = theme.block("Details".into(), focused);
    let lines = match (&state.details, state.selected_node()) {
        (Some(full), Some(sel)) if full.id_str() == sel.id => node_lines(full, state, theme),
        (_, Some(sel)) => vec![
            Line::from(vec![
                Span::styled(
                    format!("{} ", sel.status().glyph()),
                    theme.status(sel.status()),
                ),
                Span::styled(sel.name.clone(), theme.accent()),
                Span::styled(format!("  {}", sel.kind), theme.dim()),
            ]),
            field(theme, "id", sel.id.clone()),
            Line::from(Span::styled("loading…", theme.dim())),
        ],
        _ => vec![Line::from(Span::styled(
            "select a node in the tree",
            theme.dim(),
        ))],
    };
    let p = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((state.details_scroll, 0));
    frame.render_widget(p, area);
}

/// Draws the regressions and fixes of the open revision.
pub fn compare(frame: &mut Frame<'_>, state: &State, theme: Theme, area: Rect, focused: bool) {
    let Some(open) = &state.open else {
        let p = Paragraph::new("open a revision to compare it with the previous one")
            .block(theme.block("Compare".into(), focused));
        frame.render_widget(p, area);
        return;
    };
    let Some(changes) = &open.changes else {
        let text = if open.previous.is_none() {
            "loading the previous revision…"
        } else {
            "comparing…"
        };
        let p = Paragraph::new(Span::styled(text, theme.dim()))
            .block(theme.block("Compare".into(), focused));
        frame.render_widget(p, area);
        return;
    };
    let (reg, fix) = crate::compare::tally(changes);
    let against = match &open.previous_checkout {
        Some(_) => "the previous revision",
        None => "nothing (first revision of its tree and branch)",
    };
    let title = format!("▼{reg} regressions (pass→fail) ▲{fix} fixes vs {against}");
    let items: Vec<ListItem<'_>> = changes
        .iter()
        .map(|c| {
            let (glyph, status) = match c.kind {
                ChangeKind::Regression => ("▼", Status::Fail),
                ChangeKind::Fix => ("▲", Status::Pass),
            };
            // The node's name first, then where it is (job, kbuild, platform): the key
            // reads from the checkout down and would be cut before the name.
            let mut spans = vec![Span::styled(format!("{glyph} "), theme.status(status))];
            match open.forest.get(&c.node) {
                Some(n) => {
                    spans.push(Span::raw(n.name.clone()));
                    let mut wher: Vec<String> = n
                        .path
                        .get(1..n.path.len().saturating_sub(1))
                        .unwrap_or_default()
                        .iter()
                        .rev()
                        .cloned()
                        .collect();
                    if let Some(p) = &n.platform {
                        wher.push(format!("@{p}"));
                    }
                    spans.push(Span::styled(format!("  {}", wher.join(" ‹ ")), theme.dim()));
                }
                None => spans.push(Span::raw(c.key.clone())),
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut ls = ListState::default().with_selected(Some(state.compare_selected));
    let list = List::new(items)
        .block(theme.block(title, focused))
        .highlight_style(theme.selected(focused));
    frame.render_stateful_widget(list, area, &mut ls);
}
