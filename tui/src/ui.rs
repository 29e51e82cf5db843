//! Drawing: the layout of the panes, the status bar and the popups, from `&State` only.
//! One layout reads at 80x24 (the focused pane, with details under the tree) and uses the
//! room at 200x60 (revisions, tree and details side by side, events below).
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};
use tui_tree_widget::TreeState;

use crate::model::Status;
use crate::state::{Pane, Popup, State};

mod details;
mod events;
mod format;
mod help;
mod popups;
mod revisions;
mod status_bar;
mod tree_view;

pub use format::{age, counts_spans};

/// Width from which the panes are side by side.
pub const WIDE: u16 = 120;
/// Height from which the events pane shows under the others.
pub const TALL: u16 = 34;

/// Colours, or none (`NO_COLOR`): every meaning is also in a glyph or in text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Whether to use colours.
    pub color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set (to anything non-empty), as no-color.org asks.
    pub fn from_env() -> Self {
        Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// The style of a status glyph.
    pub fn status(&self, s: Status) -> Style {
        self.fg(match s {
            Status::Pass => Color::Green,
            Status::Fail => Color::Red,
            Status::Incomplete => Color::Magenta,
            Status::Skip => Color::DarkGray,
            Status::Running => Color::Yellow,
            Status::Available => Color::Cyan,
            Status::Closing => Color::Blue,
            Status::Done => Color::Gray,
        })
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// Keys and headings.
    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Errors in the status bar.
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// The selected row: reversed without colours, so it still shows.
    pub fn selected(&self, focused: bool) -> Style {
        match (self.color, focused) {
            (true, true) => Style::new()
                .bg(Color::Indexed(237))
                .add_modifier(Modifier::BOLD),
            (true, false) => Style::new().bg(Color::Indexed(235)),
            (false, true) => Style::new().add_modifier(Modifier::REVERSED),
            (false, false) => Style::new().add_modifier(Modifier::UNDERLINED),
        }
    }

    /// A pane's frame; the focused one stands out.
    pub fn block<'a>(&self, title: String, focused: bool) -> Block<'a> {
        let border = if focused {
            self.fg(Color::Cyan)
        } else {
            self.dim()
        };
        Block::new()
            .borders(Borders::ALL)
            .border_type(if focused {
                BorderType::Thick
            } else {
                BorderType::Rounded
            })
            .border_style(border)
            .title(format!(" {title} "))
            .title_style(if focused { self.accent() } else { Style::new() })
    }
}

/// View state the panes keep between frames (scroll offsets); never domain state.
#[derive(Debug, Default)]
pub struct Ui {
    /// The tree widget's state (selection and expansion are set from `State` each frame).
    pub tree: TreeState<String>,
    /// First visible revision row.
    pub revisions_offset: usize,
    /// First visible event row.
    pub events_offset: usize,
    /// Rows of the main area at the last draw (half pages).
    pub main_rows: u16,
}

/// Draws everything.
pub fn render(frame: &mut Frame<'_>, ui: &mut Ui, state: &State, theme: Theme) {
    let [main, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(frame.area());
    ui.main_rows = main.height;
    if main.width >= WIDE {
        wide(frame, ui, state, theme, main);
    } else {
        narrow(frame, ui, state, theme, main);
    }
    status_bar::render(frame, status, state, theme);
    match &state.popup {
        Popup::None => {}
        Popup::Help => help::render(frame, state, theme),
        Popup::Edit(form) => popups::edit(frame, form, state, theme),
        Popup::Confirm(c) => popups::confirm(frame, c, theme),
        Popup::Log(view) => popups::log(frame, view, theme),
    }
}

fn pane(frame: &mut Frame<'_>, ui: &mut Ui, state: &State, theme: Theme, p: Pane, area: Rect) {
    let focused = state.focus == p;
    match p {
        Pane::Revisions => revisions::render(frame, ui, state, theme, area, focused),
        Pane::Tree => tree_view::render(frame, ui, state, theme, area, focused),
        Pane::Details if state.show_compare => details::compare(frame, state, theme, area, focused),
        Pane::Details => details::render(frame, state, theme, area, focused),
        Pane::Events => events::render(frame, ui, state, theme, area, focused),
    }
}

fn wide(frame: &mut Frame<'_>, ui: &mut Ui, state: &State, theme: Theme, area: Rect) {
    let (top, bottom) = if area.height >= TALL {
        let [t, b] =
            Layout::vertical([Constraint::Percentage(70), Constraint::Percentage(30)]).areas(area);
        (t, Some(b))
    } else {
        (area, None)
    };
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([
            Constraint::Percentage(30),
            Constraint::Percentage(38),
            Constraint::Percentage(32),
        ])
        .split(top);
    pane(frame, ui, state, theme, Pane::Revisions, cols[0]);
    pane(frame, ui, state, theme, Pane::Tree, cols[1]);
    pane(frame, ui, state, theme, Pane::Details, cols[2]);
    match bottom {
        Some(b) => pane(frame, ui, state, theme, Pane::Events, b),
        // Not tall enough for the events strip: they take the details' place when focused.
        None if state.focus == Pane::Events => pane(frame, ui, state, theme, Pane::Events, cols[2]),
        None => {}
    }
}

fn narrow(frame: &mut Frame<'_>, ui: &mut Ui, state: &State, theme: Theme, area: Rect) {
    match state.focus {
        Pane::Tree | Pane::Details => {
            let [t, d] = Layout::vertical([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(area);
            pane(frame, ui, state, theme, Pane::Tree, t);
            pane(frame, ui, state, theme, Pane::Details, d);
        }
        other => pane(frame, ui, state, theme, other, area),
    }
}
