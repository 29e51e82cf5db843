//! Key bindings as data: one table per context drives dispatch, the status bar's hints and
//! the `?` help. Text inputs (forms, filters, log search) take keys as `Input` instead.
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::action::{Action, InputKey};
use crate::state::{Pane, Popup, State};

/// One key with its modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyCombo {
    /// The key.
    pub code: KeyCode,
    /// Ctrl, Alt, Shift.
    pub mods: KeyModifiers,
}

const fn key(c: char) -> KeyCombo {
    KeyCombo {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> KeyCombo {
    KeyCombo {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const fn code(code: KeyCode) -> KeyCombo {
    KeyCombo {
        code,
        mods: KeyModifiers::NONE,
    }
}

impl KeyCombo {
    /// How the help shows it.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("C-{base}")
        } else {
            base
        }
    }

    fn matches(&self, ev: &KeyEvent) -> bool {
        // Shift is part of the character itself (`G`, `N`, `R`, `?`).
        let mods = ev.modifiers - KeyModifiers::SHIFT;
        self.code == ev.code && self.mods == mods
    }
}

/// A binding: the keys, what they do, the help text, and whether the status bar shows it.
#[derive(Clone, Debug)]
pub struct Binding {
    /// The keys (any of them).
    pub keys: &'static [KeyCombo],
    /// The action.
    pub action: Action,
    /// Help text.
    pub desc: &'static str,
    /// Shown in the status bar's hints.
    pub quick: bool,
}

macro_rules! bind {
    ($keys:expr, $action:expr, $desc:expr) => {
        bind!($keys, $action, $desc, false)
    };
    ($keys:expr, $action:expr, $desc:expr, quick) => {
        bind!($keys, $action, $desc, true)
    };
    ($keys:expr, $action:expr, $desc:expr, $quick:literal) => {{
        // A constant, so that the key list lives for 'static.
        const KEYS: &[KeyCombo] = $keys;
        Binding {
            keys: KEYS,
            action: $action,
            desc: $desc,
            quick: $quick,
        }
    }};
}

/// Where keys are looked up, in the order tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// Everywhere but text inputs.
    Global,
    /// Moving in any list.
    Lists,
    /// The revisions pane.
    Revisions,
    /// The tree pane.
    Tree,
    /// The details pane.
    Details,
    /// The events pane.
    Events,
    /// The log view.
    Log,
}

impl Context {
    /// Every context, in help order.
    pub const ALL: [Self; 7] = [
        Self::Global,
        Self::Lists,
        Self::Revisions,
        Self::Tree,
        Self::Details,
        Self::Events,
        Self::Log,
    ];

    /// Its heading in the help.
    pub fn title(self) -> &'static str {
        match self {
            Self::Global => "Everywhere",
            Self::Lists => "Lists",
            Self::Revisions => "Revisions",
            Self::Tree => "Tree",
            Self::Details => "Details and compare",
            Self::Events => "Events",
            Self::Log => "Log view",
        }
    }
}

/// The bindings of a context.
pub fn bindings(ctx: Context) -> Vec<Binding> {
    use KeyCode::*;
    match ctx {
        Context::Global => vec![
            bind!(&[key('q'), ctrl('c')], Action::Quit, "quit", quick),
            bind!(&[key('?')], Action::ToggleHelp, "help", quick),
            bind!(&[code(Tab)], Action::FocusNext, "next pane", quick),
            bind!(&[code(BackTab)], Action::FocusPrev, "previous pane"),
            bind!(&[code(Esc)], Action::Back, "close / back"),
            bind!(&[key('f')], Action::ToggleFollow, "follow what changes"),
            bind!(
                &[key('p')],
                Action::TogglePause,
                "pause / resume live updates"
            ),
            bind!(&[key('r')], Action::Reload, "reload"),
            bind!(&[key('c')], Action::ToggleCompare, "regressions and fixes"),
            bind!(&[key('/')], Action::StartFilter, "filter / search", quick),
        ],
        Context::Lists => vec![
            bind!(&[key('k'), code(Up)], Action::MoveUp, "up"),
            bind!(&[key('j'), code(Down)], Action::MoveDown, "down"),
            bind!(
                &[ctrl('u'), code(PageUp)],
                Action::HalfPageUp,
                "half a page up"
            ),
            bind!(
                &[ctrl('d'), code(PageDown)],
                Action::HalfPageDown,
                "half a page down"
            ),
            bind!(&[key('g'), code(Home)], Action::MoveTop, "top"),
            bind!(&[key('G'), code(End)], Action::MoveBottom, "bottom"),
        ],
        Context::Revisions => vec![bind!(
            &[code(Enter), key('l'), code(Right)],
            Action::Activate,
            "open the revision",
            quick
        )],
        Context::Tree => vec![
            bind!(&[code(Enter)], Action::Activate, "expand / collapse", quick),
            bind!(
                &[key('l'), code(Right)],
                Action::Expand,
                "expand, or to first child"
            ),
            bind!(
                &[key('h'), code(Left)],
                Action::Collapse,
                "collapse, or to parent"
            ),
            bind!(&[key('n')], Action::NextMatch, "next match"),
            bind!(&[key('N')], Action::PrevMatch, "previous match"),
            bind!(&[key('e')], Action::StartEdit, "edit the node", quick),
            bind!(
                &[key('R')],
                Action::StartRetry,
                "retry a failed job or kbuild"
            ),
            bind!(&[key('o')], Action::OpenArtifact, "open the artifact URL"),
            bind!(&[key('y')], Action::CopyArtifact, "copy the artifact URL"),
            bind!(
                &[key('v')],
                Action::ViewLog,
                "view the artifact (log)",
                quick
            ),
            bind!(&[key('a')], Action::NextArtifact, "next artifact"),
        ],
        Context::Details => vec![
            bind!(
                &[code(Enter)],
                Action::Activate,
                "jump to the node (compare)"
            ),
            bind!(&[key('e')], Action::StartEdit, "edit the node"),
            bind!(&[key('o')], Action::OpenArtifact, "open the artifact URL"),
            bind!(&[key('y')], Action::CopyArtifact, "copy the artifact URL"),
            bind!(
                &[key('v')],
                Action::ViewLog,
                "view the artifact (log)",
                quick
            ),
            bind!(&[key('a')], Action::NextArtifact, "next artifact", quick),
        ],
        Context::Events => vec![bind!(
            &[code(Enter)],
            Action::Activate,
            "jump to the node",
            quick
        )],
        // Moving is the lists' bindings (`g` reads the ranges before as it gets there).
        Context::Log => vec![
            bind!(&[key('q'), code(Esc)], Action::Back, "close the log", quick),
            bind!(&[ctrl('c')], Action::Quit, "quit"),
            bind!(&[key('/')], Action::StartFilter, "search", quick),
            bind!(&[key('n')], Action::NextMatch, "next match (down)", quick),
            bind!(&[key('N')], Action::PrevMatch, "previous match (up)"),
        ],
    }
}

/// The contexts active in `state`, most specific first.
pub fn active_contexts(state: &State) -> Vec<Context> {
    if let Popup::Log(_) = state.popup {
        return vec![Context::Log, Context::Lists];
    }
    let pane = match state.focus {
        Pane::Revisions => Context::Revisions,
        Pane::Tree => Context::Tree,
        Pane::Details => Context::Details,
        Pane::Events => Context::Events,
    };
    vec![pane, Context::Lists, Context::Global]
}

/// Whether keys are text for an input right now.
pub fn typing(state: &State) -> bool {
    state.filter_input.is_some()
        || matches!(state.popup, Popup::Edit(_) | Popup::Confirm(_))
        || matches!(&state.popup, Popup::Log(v) if v.searching)
}

fn input_key(ev: &KeyEvent) -> Option<InputKey> {
    Some(match ev.code {
        KeyCode::Char(c) => InputKey::Char(c),
        KeyCode::Backspace => InputKey::Backspace,
        KeyCode::Enter => InputKey::Enter,
        KeyCode::Esc => InputKey::Esc,
        KeyCode::Tab => InputKey::Tab,
        KeyCode::BackTab => InputKey::BackTab,
        KeyCode::Left => InputKey::Left,
        KeyCode::Right => InputKey::Right,
        KeyCode::Up => InputKey::Up,
        KeyCode::Down => InputKey::Down,
        _ => return None,
    })
}

/// The action of a key press in `state`, if any.
pub fn dispatch(state: &State, ev: &KeyEvent) -> Option<Action> {
    if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
        return Some(Action::Quit);
    }
    if typing(state) {
        return input_key(ev).map(Action::Input);
    }
    if let Popup::Help = state.popup
        && matches!(
            ev.code,
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
        )
    {
        return Some(Action::ToggleHelp);
    }
    active_contexts(state).into_iter().find_map(|ctx| {
        bindings(ctx)
            .into_iter()
            .find(|b| b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.action)
    })
}

/// The status bar's key hints for `state`.
pub fn quick_hints(state: &State) -> Vec<(String, &'static str)> {
    if typing(state) {
        return vec![("Enter".into(), "confirm"), ("Esc".into(), "cancel")];
    }
    let mut hints = Vec::new();
    for ctx in active_contexts(state) {
        for b in bindings(ctx).into_iter().filter(|b| b.quick) {
            hints.push((b.keys[0].label(), b.desc));
        }
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_lookup() {
        // Every set of contexts that is active together.
        let stacks = [
            vec![Context::Revisions, Context::Lists, Context::Global],
            vec![Context::Tree, Context::Lists, Context::Global],
            vec![Context::Details, Context::Lists, Context::Global],
            vec![Context::Events, Context::Lists, Context::Global],
            vec![Context::Log, Context::Lists],
        ];
        for stack in stacks {
            let mut seen: Vec<(KeyCombo, &str)> = Vec::new();
            for ctx in &stack {
                for b in bindings(*ctx) {
                    for k in b.keys {
                        if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                            panic!(
                                "{} is bound to '{}' and '{}' in {stack:?}",
                                k.label(),
                                other,
                                b.desc
                            );
                        }
                        seen.push((*k, b.desc));
                    }
                }
            }
        }
    }

    #[test]
    fn keys_dispatch_by_pane() {
        let mut s = State::new("x".into(), None, maestro_common::Timestamp::now());
        let press = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(dispatch(&s, &press('j')), Some(Action::MoveDown));
        assert_eq!(dispatch(&s, &press('e')), None, "no edit in the revisions");
        s.focus = Pane::Tree;
        assert_eq!(dispatch(&s, &press('e')), Some(Action::StartEdit));
        assert_eq!(
            dispatch(&s, &KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::MoveBottom)
        );
        s.filter_input = Some(crate::state::FilterInput {
            pane: Pane::Tree,
            text: String::new(),
        });
        assert_eq!(
            dispatch(&s, &press('q')),
            Some(Action::Input(InputKey::Char('q'))),
            "typing takes every key"
        );
        assert_eq!(
            dispatch(
                &s,
                &KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit),
            "Ctrl-c always quits"
        );
    }
}
