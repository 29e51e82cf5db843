//! Snapshot tests of every screen, drawn by the real rendering code into ratatui's
//! `TestBackend` from the deterministic fixtures, at 120x40 and 80x24, and without colours.
#![allow(clippy::unwrap_used)]

use maestro_tui::action::{Action, InputKey};
use maestro_tui::fixtures;
use maestro_tui::state::{LogView, Pane, Popup, State};
use maestro_tui::ui::{self, Theme, Ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const COLOR: Theme = Theme { color: true };

fn draw(state: &State, w: u16, h: u16, theme: Theme) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut ui = Ui::default();
    // Twice: the second frame is what a user sees once scroll offsets settled.
    for _ in 0..2 {
        terminal
            .draw(|f| ui::render(f, &mut ui, state, theme))
            .unwrap();
    }
    terminal
}

fn focused(pane: Pane) -> State {
    let mut s = fixtures::state();
    s.focus = pane;
    s
}

macro_rules! screen {
    ($name:ident, $state:expr) => {
        #[test]
        fn $name() {
            let state = $state;
            insta::assert_snapshot!(
                concat!(stringify!($name), "_120x40"),
                draw(&state, 120, 40, COLOR).backend()
            );
            insta::assert_snapshot!(
                concat!(stringify!($name), "_80x24"),
                draw(&state, 80, 24, COLOR).backend()
            );
        }
    };
}

screen!(revisions, focused(Pane::Revisions));
screen!(tree, focused(Pane::Tree));
screen!(details, focused(Pane::Details));
screen!(events, focused(Pane::Events));
screen!(compare, {
    let mut s = focused(Pane::Tree);
    s.update(Action::ToggleCompare);
    s
});
screen!(help, {
    let mut s = focused(Pane::Tree);
    s.update(Action::ToggleHelp);
    s
});
screen!(edit_form, {
    let mut s = focused(Pane::Tree);
    s.update(Action::StartEdit);
    assert!(matches!(s.popup, Popup::Edit(_)), "{:?}", s.notice);
    s.update(Action::Input(InputKey::Tab));
    s.update(Action::Input(InputKey::Right));
    s
});
screen!(edit_confirm, {
    let mut s = focused(Pane::Tree);
    s.update(Action::StartEdit);
    s.update(Action::Input(InputKey::Tab));
    s.update(Action::Input(InputKey::Right));
    s.update(Action::Input(InputKey::Enter));
    s
});
screen!(log_view, {
    let mut s = focused(Pane::Tree);
    let lines: Vec<String> = (1..=60)
        .map(|i| format!("[{:>8.3}] kernel: boot step {i}: ok", i as f64 * 0.137))
        .collect();
    s.popup = Popup::Log(Box::new(LogView {
        url: "https://storage.kernelci.org/x86_64/build.log".into(),
        lines,
        start: 0,
        total: Some(3_800),
        top: 40,
        loading: false,
        error: None,
        search: "step 5".into(),
        searching: false,
    }));
    s
});
#[test]
fn wide_200x60() {
    insta::assert_snapshot!(draw(&focused(Pane::Tree), 200, 60, COLOR).backend());
}

/// Without colours the screens carry the same glyphs and the selection still shows (as
/// reversed video); the buffer holds no colour at all.
#[test]
fn no_color() {
    let state = focused(Pane::Tree);
    let plain = draw(&state, 120, 40, Theme { color: false });
    let coloured = draw(&state, 120, 40, COLOR);
    assert_eq!(
        plain.backend().to_string(),
        coloured.backend().to_string(),
        "the same text with and without colours"
    );
    let buf = plain.backend().buffer();
    let mut reversed = 0;
    for cell in buf.content() {
        assert_eq!(
            cell.fg,
            ratatui::style::Color::Reset,
            "a colour without NO_COLOR"
        );
        assert_eq!(
            cell.bg,
            ratatui::style::Color::Reset,
            "a colour without NO_COLOR"
        );
        if cell.modifier.contains(ratatui::style::Modifier::REVERSED) {
            reversed += 1;
        }
    }
    assert!(reversed > 0, "the selection shows as reversed video");
    insta::assert_snapshot!("no_color_120x40", plain.backend());
}
