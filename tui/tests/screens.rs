//! Snapshot tests of every screen, drawn by the real rendering code into ratatui's
//! `TestBackend` from the deterministic fixtures, at 120x40 and 80x24, and without colours.
#![allow(clippy::unwrap_used)]

use maestro_tui::fixtures;
use maestro_tui::state::{Pane, Popup, State};
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

#[test]
fn every_screen_at_120x40_and_80x24() {
    let screens = fixtures::screens();
    assert_eq!(screens.len(), 10);
    for (name, state) in &screens {
        insta::assert_snapshot!(
            format!("{name}_120x40"),
            draw(state, 120, 40, COLOR).backend()
        );
        insta::assert_snapshot!(
            format!("{name}_80x24"),
            draw(state, 80, 24, COLOR).backend()
        );
    }
}

#[test]
fn the_edit_form_opens_on_an_editable_node() {
    let screens = fixtures::screens();
    let (_, form) = screens.iter().find(|(n, _)| *n == "edit_form").unwrap();
    assert!(matches!(form.popup, Popup::Edit(_)), "{:?}", form.notice);
}

#[test]
fn wide_200x60() {
    insta::assert_snapshot!(draw(&fixtures::focused(Pane::Tree), 200, 60, COLOR).backend());
}

/// Without colours the screens carry the same glyphs and the selection still shows (as
/// reversed video); the buffer holds no colour at all.
#[test]
fn no_color() {
    let state = fixtures::focused(Pane::Tree);
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
