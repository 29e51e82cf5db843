//! `maestro`: the terminal monitor, and its `watch` and `events` commands. Parses the
//! command line, sets logging to a file, restores the terminal on every exit path.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use maestro_tui::app::App;
use maestro_tui::client::Client;
use maestro_tui::config::{Config, Secret, Sources};
use maestro_tui::script;
use maestro_tui::ui::Theme;

/// The terminal dashboard and live monitor of a KernelCI API (Maestro or the Python server).
///
/// Browse results per kernel revision, watch them arrive live, edit the nodes you own.
/// The server comes from --url, --server NAME (the config file, or kci-dev's settings),
/// or defaults to http://127.0.0.1:8001. Logs go to the platform's state directory.
#[derive(Debug, Parser)]
#[command(name = "maestro", version, about, long_about)]
struct Cli {
    /// API base URL (without /latest).
    #[arg(long, env = "MAESTRO_URL", global = true)]
    url: Option<String>,
    /// API token; never printed or logged.
    #[arg(long, env = "MAESTRO_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// A named server of the config file or an instance of kci-dev's settings.
    #[arg(long, global = true)]
    server: Option<String>,
    /// kci-dev's settings file (default: where kci-dev looks for it).
    #[arg(long, global = true, value_name = "FILE")]
    kci_dev_settings: Option<PathBuf>,
    /// The config file (default: config.toml in the platform's config directory).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Never edit, even with a token.
    #[arg(long)]
    read_only: bool,
    /// Capture the mouse (wheel scrolls); off by default so the terminal can select text.
    #[arg(long)]
    mouse: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Follow a node and its subtree live until every node is done, then print a summary.
    ///
    /// Exit status: 0 all passed, 1 something failed, 2 something was incomplete (or an
    /// infrastructure error), or --timeout passed first, 3 the server could not be
    /// reached or refused the token. Like `gh run watch --exit-status`.
    Watch {
        /// The node id.
        node_id: String,
        /// One JSON object per line (each change, then the summary).
        #[arg(long)]
        json: bool,
        /// Give up after this many seconds (exit status 2).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    /// Print the live event feed, one line (or JSON object) per event, resuming after
    /// reconnects; for piping into other tools.
    ///
    /// Filters are applied by the server on our WebSocket stream: kind, state, result,
    /// owner, name, treeid and data.<path> (e.g. data.kernel_revision.tree=mainline).
    Events {
        /// key=value, repeatable.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// Replay the stored events after this sequence first.
        #[arg(long, value_name = "N")]
        since: Option<u64>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    Config::resolve(Sources {
        url: cli.url.clone(),
        token: cli.token.clone().filter(|t| !t.is_empty()).map(Secret::new),
        server: cli.server.clone(),
        kci_dev_settings: cli.kci_dev_settings.clone(),
        config_file: cli.config.clone(),
        read_only: cli.read_only,
        mouse: cli.mouse,
    })
}

/// Logs to `<state dir>/maestro.log`, never to the screen.
fn init_logging() -> Option<PathBuf> {
    let dir = maestro_tui::config::state_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("maestro.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAESTRO_LOG")
                .unwrap_or_else(|_| "maestro_tui=info".into()),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Some(path)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log = init_logging();
    let cfg = match config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("maestro: {e:#}");
            std::process::exit(script::exit::UNREACHABLE);
        }
    };
    tracing::info!(url = %cfg.url, token = ?cfg.token, "starting");
    match cli.command {
        Some(Command::Watch {
            node_id,
            json,
            timeout,
        }) => {
            let client = Client::new(cfg.url.clone(), cfg.token.clone());
            let code = script::watch(client, node_id, json, timeout.map(Duration::from_secs)).await;
            std::process::exit(code);
        }
        Some(Command::Events {
            filters,
            since,
            json,
        }) => {
            let filter = match script::parse_filters(&filters) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("maestro events: {e}");
                    std::process::exit(64);
                }
            };
            let client = Client::new(cfg.url.clone(), cfg.token.clone());
            let code = script::events(client, filter, since, json).await;
            std::process::exit(code);
        }
        None => {
            let app = App::new(&cfg, Theme::from_env());
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
            if let Some(path) = log {
                tracing::info!("stopped; log at {}", path.display());
            }
            result.context("the monitor stopped on an error")
        }
    }
}
