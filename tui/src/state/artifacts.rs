//! Artifacts of the selected node: open with the system's opener, copy (OSC 52), and the
//! log view (read from its end, earlier ranges on the way up, searchable).
use super::{LogView, Popup, State};
use crate::action::{Action, InputKey};
use crate::effect::Effect;

impl State {
    pub(super) fn artifact_action(&mut self, action: Action) -> Vec<Effect> {
        if let Action::LogLoaded {
            url,
            text,
            start,
            total,
        } = action
        {
            let Popup::Log(view) = &mut self.popup else {
                return Vec::new();
            };
            if view.url != url {
                return Vec::new();
            }
            view.loading = false;
            match text {
                Ok(text) => {
                    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                    let first_load = view.lines.is_empty();
                    let added = lines.len();
                    lines.append(&mut view.lines);
                    view.lines = lines;
                    view.start = start;
                    view.total = total;
                    view.top = if first_load {
                        // Shown from its end.
                        view.lines.len().saturating_sub(self.page_rows as usize)
                    } else {
                        view.top + added
                    };
                }
                Err(e) => view.error = Some(e),
            }
            return Vec::new();
        }
        if let Action::NextArtifact = action {
            let n = self.artifacts().len();
            if n > 0 {
                self.artifact_index = (self.artifact_index + 1) % n;
            }
            return Vec::new();
        }
        let Some((name, url)) = self.current_artifact() else {
            self.notice("the selected node has no artifacts");
            return Vec::new();
        };
        match action {
            Action::OpenArtifact => {
                self.notice(format!("opening {name}"));
                vec![Effect::OpenUrl(url)]
            }
            Action::CopyArtifact => {
                self.notice(format!("copied the URL of {name}"));
                vec![Effect::Copy(url)]
            }
            Action::ViewLog => {
                self.popup = Popup::Log(Box::new(LogView {
                    url: url.clone(),
                    lines: Vec::new(),
                    start: 0,
                    total: None,
                    top: 0,
                    loading: true,
                    error: None,
                    search: String::new(),
                    searching: false,
                }));
                vec![Effect::FetchLog { url, before: None }]
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn log_navigate(&mut self, action: Action) -> Vec<Effect> {
        let rows = self.page_rows as usize;
        let Popup::Log(view) = &mut self.popup else {
            return Vec::new();
        };
        let max_top = view.lines.len().saturating_sub(rows.max(1));
        let moved = |top: usize, d: isize| (top as isize + d).clamp(0, max_top as isize) as usize;
        match action {
            Action::MoveUp => view.top = moved(view.top, -1),
            Action::MoveDown => view.top = moved(view.top, 1),
            Action::HalfPageUp => view.top = moved(view.top, -(rows as isize / 2)),
            Action::HalfPageDown => view.top = moved(view.top, rows as isize / 2),
            Action::MoveBottom => view.top = max_top,
            Action::MoveTop => view.top = 0,
            Action::StartFilter => {
                view.searching = true;
                view.search.clear();
            }
            Action::NextMatch | Action::PrevMatch => {
                let forward = action == Action::NextMatch;
                find_in_log(view, forward);
            }
            _ => {}
        }
        // At the top of what was read, read the range before it.
        if view.top == 0 && view.start > 0 && !view.loading {
            view.loading = true;
            return vec![Effect::FetchLog {
                url: view.url.clone(),
                before: Some(view.start),
            }];
        }
        Vec::new()
    }

    pub(super) fn log_input(&mut self, key: InputKey) -> Vec<Effect> {
        let Popup::Log(view) = &mut self.popup else {
            return Vec::new();
        };
        if !view.searching {
            return Vec::new();
        }
        match key {
            InputKey::Char(c) => view.search.push(c),
            InputKey::Backspace => {
                view.search.pop();
            }
            InputKey::Enter => {
                view.searching = false;
                find_in_log(view, false);
            }
            InputKey::Esc => {
                view.searching = false;
                view.search.clear();
            }
            _ => {}
        }
        Vec::new()
    }
}

/// Moves the view to the next (or previous) line containing the search, from the top line.
fn find_in_log(view: &mut LogView, forward: bool) {
    if view.search.is_empty() {
        return;
    }
    let needle = view.search.to_lowercase();
    let hit = |i: &usize| view.lines[*i].to_lowercase().contains(&needle);
    let found = if forward {
        (view.top + 1..view.lines.len()).find(hit)
    } else {
        (0..view.top.min(view.lines.len())).rev().find(hit)
    };
    if let Some(i) = found {
        view.top = i;
        view.error = None;
    } else {
        view.error = Some(format!("'{}' not found", view.search));
    }
}
