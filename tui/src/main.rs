//! `maestro`: the terminal monitor, and its `watch` and `events` commands. Parses the
//! command line, sets logging to a file, restores the terminal on every exit path.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use maestro_tui::client::Client;
use maestro_tui::config::{Config, Secret, Sources};
use maestro_tui::demo::DemoOptions;
use maestro_tui::script;
use maestro_tui::sim::SimOptions;

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
    /// See it all with one command: a server on the embedded store in a temporary
    /// directory, a simulated KernelCI pipeline feeding it, and the monitor on it.
    ///
    /// `q` (or Ctrl-c) stops everything and removes the directory. --headless runs the
    /// server and the pipeline without the monitor, prints what happens and exits once
    /// --revisions are done. The server is the `maestro-server` program, run as a child
    /// process (with `cargo run`, cargo builds it first).
    Demo(DemoOptions),
    /// Run a simulated KernelCI pipeline against a server, with --token's user.
    ///
    /// It makes checkouts of real trees, then reacts to the server's events as KernelCI's
    /// scheduler does: kbuilds when a checkout is available, jobs when a kbuild is, test
    /// results submitted as hierarchies; it serves the logs it links to on a loopback port
    /// and re-runs jobs asked for on channel `retry`. Prints a line per revision and job.
    Sim(SimOptions),
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
        Some(Command::Demo(opts)) => match maestro_tui::demo::run(opts).await {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("maestro demo: {e:#}");
                std::process::exit(1);
            }
        },
        Some(Command::Sim(opts)) => {
            let Some(token) = cfg.token.clone() else {
                eprintln!("maestro sim: give the pipeline user's token (--token or MAESTRO_TOKEN)");
                std::process::exit(64);
            };
            match sim(cfg.url.clone(), token.expose().to_owned(), opts).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    eprintln!("maestro sim: {e:#}");
                    std::process::exit(1);
                }
            }
        }
        None => {
            let result = maestro_tui::terminal::run(&cfg).await;
            if let Some(path) = log {
                tracing::info!("stopped; log at {}", path.display());
            }
            result
        }
    }
}

/// `maestro sim`: the simulator with its report on stdout, until --revisions are done or
/// Ctrl-c.
async fn sim(url: url::Url, token: String, opts: SimOptions) -> anyhow::Result<()> {
    let api = maestro_tui::sim::api::Api::new(url, token)?;
    let stop = tokio_util::sync::CancellationToken::new();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let until = opts.revisions;
    let running = tokio::spawn(maestro_tui::sim::run(api.clone(), opts, stop.clone(), tx));
    let mut out = std::io::stdout();
    tokio::select! {
        _ = maestro_tui::sim::report::print(&api, rx, &mut out, until) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    stop.cancel();
    running.await.context("the simulator panicked")?
}
