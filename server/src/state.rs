//! `AppState`: the cheap, cloneable handles every handler can reach.
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::TokenKeys;
use crate::mail::Mailer;
use crate::store::Store;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// Where nodes and users live.
    pub store: Arc<dyn Store>,
    /// Signs and checks access tokens.
    pub tokens: Arc<TokenKeys>,
    /// Email and invite-link settings of the invite and password-reset flows.
    pub onboarding: Arc<Onboarding>,
    /// Cancelled when the server shuts down: long-lived tasks (WebSocket sessions) end.
    /// In an `Arc`: the state is cloned several times per request, and cloning a token
    /// takes a lock.
    pub shutdown: Arc<CancellationToken>,
    /// Long-lived tasks that outlive their request (WebSocket sessions); `run` waits for
    /// them at shutdown, as axum does not.
    pub tasks: TaskTracker,
    /// Settings and shared frames of the WebSocket event streams.
    pub ws: Arc<crate::ws::Hub>,
    /// Subscriptions of `/subscribe` and `/listen`, and the `/push` and `/pop` queues.
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// Failed-login counters of `/user/login` and `/user/update-password`.
    pub login_limits: Arc<crate::login_limit::LoginLimiter>,
    /// Client-connection limits of `crate::run`.
    pub conn_limits: crate::serve::ConnLimits,
    /// How often `crate::run` sweeps the node life-cycle rules; `None`: never.
    pub lifecycle: Option<crate::lifecycle::LifecycleConfig>,
    /// When `crate::run` purges old nodes; `None`: never.
    pub node_purge: Option<crate::nodes::purge::NodePurgeConfig>,
    /// The metrics of `GET /metrics`; the store records its calls in the same registry when
    /// it was opened with it (`crate::open_store_with_metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// A state over these parts, with defaults for the rest (WebSocket settings, a fresh
    /// shutdown token and task tracker, no life-cycle sweeps nor node purge: a test or an
    /// embedding turns them on, `build_state` from the configuration).
    pub fn new(store: Arc<dyn Store>, tokens: Arc<TokenKeys>, onboarding: Arc<Onboarding>) -> Self {
        Self {
            store,
            tokens,
            onboarding,
            shutdown: Arc::new(CancellationToken::new()),
            tasks: TaskTracker::new(),
            ws: Arc::default(),
            pubsub: Arc::default(),
            login_limits: Arc::default(),
            conn_limits: crate::serve::ConnLimits::default(),
            lifecycle: None,
            node_purge: None,
            metrics: Arc::default(),
        }
    }
}

/// What the invite and password-reset flows need besides the store and the keys.
#[derive(Debug)]
pub struct Onboarding {
    /// Sends email; `None` when no SMTP server is configured.
    pub mailer: Option<Mailer>,
    /// Base of invite links (`PUBLIC_BASE_URL`), without a trailing `/`; when `None` it is
    /// derived from each request.
    pub public_base_url: Option<String>,
    /// Lifetime of invite tokens, in seconds.
    pub invite_token_lifetime_secs: u64,
}

impl Default for Onboarding {
    /// No email, links from the request, 7-day invites.
    fn default() -> Self {
        Self {
            mailer: None,
            public_base_url: None,
            invite_token_lifetime_secs: crate::config::defaults::INVITE_TOKEN_LIFETIME_SECS,
        }
    }
}
