//! The Maestro server: a KernelCI-compatible node API over a pluggable [`store::Store`].
//!
//! [`app`] builds the HTTP service and [`run`] serves it; `main.rs` only parses the
//! configuration and calls them, so tests can run the real server on any listener.
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod error;
pub mod extract;
pub mod nodes;
mod routes;
pub mod state;
pub mod store;

pub use config::Config;
pub use state::AppState;

/// The complete HTTP service: version-prefix rewriting around the routes.
pub type App = tower::util::MapRequest<axum::Router, fn(Request) -> Request>;

/// Builds the HTTP service for `state`.
pub fn app(state: AppState) -> App {
    let router = routes::router()
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    // The rewrite must wrap the whole router: a layer inside it would run after routing.
    tower::ServiceExt::map_request(
        router,
        routes::rewrite_version_prefix as fn(Request) -> Request,
    )
}

/// Opens the configured store and prepares the state (secret key, first admin).
pub async fn build_state(cfg: &Config) -> anyhow::Result<AppState> {
    let store: Arc<dyn store::Store> = match &cfg.mongodb_uri {
        Some(uri) => Arc::new(
            store::mongo::MongoStore::connect(&uri.0, &cfg.mongodb_database)
                .await
                .context("connecting to MongoDB")?,
        ),
        None => Arc::new(
            store::sqlite::SqliteStore::open(&cfg.data_dir).with_context(|| {
                format!("opening the SQLite store in {}", cfg.data_dir.display())
            })?,
        ),
    };
    let secret = match &cfg.secret_key {
        Some(s) if !s.0.is_empty() => s.0.clone(),
        _ => bootstrap::load_or_create_secret(&cfg.data_dir)?,
    };
    let tokens = auth::TokenKeys::new(
        secret,
        cfg.unified_secret.as_ref().map(|s| s.0.clone()),
        cfg.token_lifetime_secs,
    );
    let state = AppState {
        store,
        tokens: Arc::new(tokens),
    };
    bootstrap::ensure_admin(&state, cfg).await?;
    Ok(state)
}

/// Serves `state` on `listener` until `shutdown` resolves.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let svc = app(state);
    axum::serve(listener, ServiceExt::<Request>::into_make_service(svc))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}
