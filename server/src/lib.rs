//! The Maestro server: a KernelCI-compatible node API over a pluggable [`store::Store`].
//!
//! [`app`] builds the HTTP service and [`run`] serves it; `main.rs` only parses the
//! configuration and calls them, so tests can run the real server on any listener.
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::Request;
use tokio::net::TcpListener;

pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod data_lock;
pub mod error;
pub mod events;
pub mod extract;
pub mod hash_pool;
pub mod lifecycle;
pub mod login_limit;
pub mod mail;
pub mod metrics;
pub mod nodes;
mod openapi;
mod pages;
pub mod pubsub;
mod routes;
pub mod secret;
pub mod serve;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod unread_body;
pub mod users;
pub mod ws;

pub use config::Config;
pub use state::AppState;

/// The complete HTTP service: the routes behind the layers every request passes.
pub type App = tower::util::BoxCloneSyncService<Request, axum::response::Response, Infallible>;

/// Builds the HTTP service for `state`.
pub fn app(state: AppState) -> App {
    // The one layer per route: it needs the route the request matched.
    let router = routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state);
    routes::around_router(router)
}

/// Opens the store the configuration selects: MongoDB when `mongodb_uri` is set, else the
/// SQLite database in `data_dir`.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn store::Store>> {
    open_store_with_metrics(cfg, Arc::default()).await
}

/// [`open_store`], recording every store call in `metrics`.
pub async fn open_store_with_metrics(
    cfg: &Config,
    metrics: Arc<metrics::Metrics>,
) -> anyhow::Result<Arc<dyn store::Store>> {
    let timeout = Duration::from_millis(cfg.store_timeout_ms.max(1));
    let store: Arc<dyn store::Store> = match &cfg.mongodb_uri {
        Some(uri) => Arc::new(
            store::mongo::MongoStore::connect_counting(
                &uri.0,
                &cfg.mongodb_database,
                store::mongo::MongoTimeouts {
                    connect: timeout,
                    max_time: Duration::from_millis(cfg.mongodb_max_time_ms.max(1)),
                },
                cfg.mongodb_count_commands
                    .then(|| metrics.mongodb_commands()),
            )
            .await
            .context("connecting to MongoDB")?
            .with_write_transactions(cfg.mongodb_write_transactions)
            .with_event_feed_poll(
                (cfg.mongodb_event_feed_poll_ms > 0)
                    .then(|| Duration::from_millis(cfg.mongodb_event_feed_poll_ms)),
            ),
        ),
        None => Arc::new(
            store::sqlite::SqliteStore::open_with(
                &cfg.data_dir,
                events::log::DEFAULT_CAPACITY,
                !cfg.skip_integrity_check,
            )
            .with_context(|| format!("opening the SQLite store in {}", cfg.data_dir.display()))?,
        ),
    };
    // Every call of every request bounded: an outage is a 503, never a hang.
    Ok(Arc::new(store::timed::TimedStore::with_metrics(
        store, timeout, metrics,
    )))
}

/// The token keys of the configuration: `secret_key` when given, else the secret kept in
/// `data_dir` (generated there the first time).
pub fn token_keys(cfg: &Config) -> anyhow::Result<auth::TokenKeys> {
    let secret = match &cfg.secret_key {
        Some(s) if !s.0.is_empty() => s.0.clone(),
        _ => bootstrap::load_or_create_secret(&cfg.data_dir)?,
    };
    Ok(auth::TokenKeys::new(
        secret,
        cfg.unified_secret.as_ref().map(|s| s.0.clone()),
        cfg.token_lifetime_secs,
    ))
}

/// Opens the configured store and prepares the state (secret key, first admin).
pub async fn build_state(cfg: &Config) -> anyhow::Result<AppState> {
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let metrics = Arc::new(metrics::Metrics::new());
    let store = open_store_with_metrics(cfg, metrics.clone()).await?;
    store.event_log().set_limits(events::EventLimits {
        window_bytes: cfg.event_window_bytes,
        max_event_bytes: cfg.max_event_bytes,
    });
    let mut state = AppState::new(
        store,
        Arc::new(token_keys(cfg)?),
        Arc::new(onboarding(cfg)?),
    );
    state.ws = Arc::new(ws::Hub::new(ws::WsConfig {
        source: cfg.cloud_events_source.clone(),
        stall_timeout: std::time::Duration::from_secs(cfg.ws_stall_secs.max(1)),
        ..ws::WsConfig::default()
    }));
    bootstrap::ensure_admin(&state, cfg).await?;
    let pubsub = pubsub::PubSub::new(pubsub::PubSubConfig::from_config(cfg));
    let login_limits = login_limit::LoginLimiter::new(login_limit::LoginLimitConfig {
        per_username: cfg.login_failures_per_user,
        per_address: cfg.login_failures_per_address,
        window: Duration::from_secs(cfg.login_failure_window_secs.max(1)),
    });
    let max_connections = match cfg.max_connections {
        // Below the soft descriptor limit (which `main` raised as far as allowed).
        0 => serve::max_connections_for(
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft),
        ),
        n => n,
    };
    let state = AppState {
        pubsub: Arc::new(pubsub),
        login_limits: Arc::new(login_limits),
        conn_limits: serve::ConnLimits {
            max_connections,
            header_read_timeout: Duration::from_secs(cfg.header_read_timeout_secs.max(1)),
        },
        lifecycle: cfg.lifecycle(),
        node_purge: cfg.node_purge(),
        metrics,
        ..state
    };
    Ok(state)
}

/// The email and invite-link settings of the configuration (SMTP off without a host).
pub fn onboarding(cfg: &Config) -> anyhow::Result<state::Onboarding> {
    let mailer = match cfg.mail_settings()? {
        Some(mail) => Some(mail::Mailer::new(&mail).context("configuring SMTP")?),
        None => None,
    };
    Ok(state::Onboarding {
        mailer,
        public_base_url: cfg
            .public_base_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty()),
        invite_token_lifetime_secs: cfg.invite_token_lifetime_secs,
    })
}

/// How long shutdown waits for WebSocket sessions to send their close frames.
const SESSION_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `state` on `listener` until `shutdown` resolves, sweeping the node life-cycle
/// rules meanwhile when `state.lifecycle` says so; then cancels `state.shutdown` (WebSocket
/// sessions send a close frame, the sweeps stop) and waits for the tracked tasks.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (token, tasks) = (
        tokio_util::sync::CancellationToken::clone(&state.shutdown),
        state.tasks.clone(),
    );
    let limits = state.conn_limits;
    // Drops idle subscriptions while serving; stopped when `run` returns.
    let _cleanup = state.pubsub.spawn_cleanup();
    // Tracked tasks that end with the shutdown token, after the node they are writing.
    lifecycle::task::spawn(&state);
    // Likewise: deletes old nodes (`NODE_PURGE_AGE_DAYS`) when `state.node_purge` says so.
    nodes::purge::spawn(&state);
    // Deletes telemetry past its 14 days where no TTL index does; stopped likewise.
    let _retention = telemetry::retention::spawn(state.store.clone());
    let svc = app(state);
    let signal = {
        let token = token.clone();
        async move {
            shutdown.await;
            // At once, not after `serve`: sessions must not hold up the graceful shutdown.
            token.cancel();
        }
    };
    serve::serve(listener, svc, limits, signal).await;
    token.cancel();
    tasks.close();
    if tokio::time::timeout(SESSION_DRAIN_TIMEOUT, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tasks.len(),
            "sessions or life-cycle sweeps still running after the shutdown timeout"
        );
    }
    Ok(())
}
