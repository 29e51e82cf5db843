//! `maestro-server`: parse the command line; serve until Ctrl-C/SIGTERM (the default), or
//! run an admin command on the store (`user ...`, `group ...`).
use std::process::ExitCode;

use anyhow::Context;
use maestro_server::Config;
use maestro_server::cli::{AdminCommand, Cli, Command};
use tracing_subscriber::EnvFilter;

// jemalloc instead of glibc's malloc: its thread caches make the many small allocations of
// JSON handling cheaper, and its background threads hand freed memory back to the system
// after a burst (with glibc a server that carried a fan-out burst stayed at its peak RSS,
// 80 MiB, where a trim showed 45 MiB was free). Safe to install: no unsafe code here.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let Cli { config, command } = Cli::from_env_and_args();
    match command {
        None | Some(Command::Serve) => serve(config).await.map(|()| ExitCode::SUCCESS),
        Some(Command::Admin(cmd)) => Ok(admin(&config, cmd).await),
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&cfg.log))
        .init();
    // Before the store opens: a second server on one SQLite directory is refused.
    let _data_lock = match cfg.mongodb_uri {
        None => Some(maestro_server::data_lock::acquire(&cfg.data_dir)?),
        Some(_) => None,
    };
    // Before the state is built: the connection bound is set below this limit.
    let nofile = maestro_server::serve::raise_nofile_limit();
    let state = maestro_server::build_state(&cfg).await?;
    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .with_context(|| format!("binding {}", cfg.bind))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        store = state.store.backend_name(),
        open_files = nofile,
        max_connections = state.conn_limits.max_connections,
        "serving"
    );
    let store = state.store.clone();
    let served = maestro_server::run(state, listener, shutdown_signal()).await;
    // A clean stop: the other servers on a shared database need not wait to find out.
    // Bounded: the driver's shutdown waits for operations still running.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), store.close()).await;
    served
}

/// Runs an admin command; errors are one line on stderr and exit code 1.
async fn admin(cfg: &Config, cmd: AdminCommand) -> ExitCode {
    // Only warnings, and on stderr: stdout is the command's result (a token, a table).
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    match maestro_server::cli::run(cfg, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maestro-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
