//! `maestro-server`: parse the configuration, open the store, serve until Ctrl-C/SIGTERM.
use anyhow::Context;
use maestro_server::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::from_env_and_args();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&cfg.log))
        .init();
    let state = maestro_server::build_state(&cfg).await?;
    let listener = tokio::net::TcpListener::bind(cfg.bind)
        .await
        .with_context(|| format!("binding {}", cfg.bind))?;
    tracing::info!(addr = %listener.local_addr()?, store = state.store.backend_name(), "serving");
    maestro_server::run(state, listener, shutdown_signal()).await
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
