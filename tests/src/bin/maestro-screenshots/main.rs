//! `maestro-screenshots`: draws every screen of the monitor with its real rendering code
//! from the deterministic fixtures and writes them as PNG images of a terminal window to
//! `screenshots/`. With `--check`, compares instead and fails when an image is stale.
//!
//! Usage: `cargo run -p maestro-e2e --bin maestro-screenshots [-- --check] [DIR]`
use std::path::PathBuf;
use std::process::ExitCode;

use maestro_tui::fixtures;
use maestro_tui::ui::{self, Theme, Ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

mod render;

/// Size of the screens drawn.
const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../screenshots"));
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            other => dir = PathBuf::from(other),
        }
    }
    let renderer = match render::Renderer::from_system_fonts() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("maestro-screenshots: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("maestro-screenshots: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let mut stale = Vec::new();
    for (name, state) in fixtures::screens() {
        let Ok(mut terminal) = Terminal::new(TestBackend::new(WIDTH, HEIGHT));
        let mut view = Ui::default();
        for _ in 0..2 {
            let drawn = terminal.draw(|f| ui::render(f, &mut view, &state, Theme { color: true }));
            if drawn.is_err() {
                return ExitCode::FAILURE;
            }
        }
        let opts = render::Options {
            title: format!("maestro — {name}"),
            ..render::Options::default()
        };
        let path = dir.join(format!("{name}.png"));
        let buffer = terminal.backend().buffer();
        if check {
            match renderer.render(buffer, &opts) {
                Ok(png) if std::fs::read(&path).ok().as_deref() == Some(png.as_slice()) => {}
                Ok(_) => stale.push(path.display().to_string()),
                Err(e) => {
                    eprintln!("maestro-screenshots: {name}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        } else if let Err(e) = renderer.write_png(buffer, &opts, &path) {
            eprintln!("maestro-screenshots: {name}: {e}");
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        eprintln!(
            "maestro-screenshots: stale or missing: {}\nregenerate with \
             `cargo run -p maestro-e2e --bin maestro-screenshots`",
            stale.join(", ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
