//! The monitor in the terminal: raw mode and the alternate screen for the app's run,
//! restored on every exit path (ratatui's panic hook restores it on a panic too).
use anyhow::Context;

use crate::app::App;
use crate::config::Config;
use crate::ui::Theme;

/// Runs the monitor on `cfg` in this terminal until the user quits.
pub async fn run(cfg: &Config) -> anyhow::Result<()> {
    let app = App::new(cfg, Theme::from_env());
    // ratatui::init installs a panic hook that restores the terminal first.
    let mut terminal = ratatui::init();
    if cfg.mouse {
        let _ = ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::event::EnableMouseCapture
        );
    }
    let result = app.run(&mut terminal).await;
    if cfg.mouse {
        let _ = ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::event::DisableMouseCapture
        );
    }
    ratatui::restore();
    result.context("the monitor stopped on an error")
}
