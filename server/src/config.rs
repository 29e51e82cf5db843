//! Command line and environment configuration of `maestro-server`: the options, their
//! defaults (`defaults.rs`), and the plain settings each part of the server is given,
//! built from them (`settings.rs`). No other module reads a `Config` but the start-up path.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

pub use crate::secret::Secret;

pub mod defaults;
mod settings;

/// KernelCI-compatible Maestro API server.
///
/// With no options it serves on 127.0.0.1:8001 and keeps everything in an embedded SQLite
/// database in ./maestro-data. Give --mongodb-uri to use MongoDB instead (for example an
/// existing KernelCI database).
#[derive(Clone, Debug, Parser)]
#[command(name = "maestro-server", version)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "MAESTRO_BIND", default_value = "127.0.0.1:8001")]
    pub bind: SocketAddr,

    /// Directory of the embedded SQLite database and the generated secret key (created if
    /// missing).
    #[arg(long, env = "MAESTRO_DATA_DIR", default_value = "maestro-data")]
    pub data_dir: PathBuf,

    /// MongoDB connection string; when set, nodes and users are stored in MongoDB instead
    /// of SQLite. Also read from MONGO_SERVICE, as the Python server does.
    #[arg(long, env = "MAESTRO_MONGODB_URI")]
    pub mongodb_uri: Option<Secret>,

    /// MongoDB database name.
    #[arg(long, env = "MAESTRO_MONGODB_DATABASE", default_value = "kernelci")]
    pub mongodb_database: String,

    /// HS256 key that signs access tokens. When absent, one is generated once and kept in
    /// the data directory, so tokens survive a restart.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,

    /// A second key, shared with other KernelCI services, that is accepted (never used to
    /// sign) for access tokens.
    #[arg(long, env = "UNIFIED_SECRET", hide_env_values = true)]
    pub unified_secret: Option<Secret>,

    /// Lifetime of issued access tokens, in seconds (default 10 years, as KernelCI).
    #[arg(long, env = "ACCESS_TOKEN_EXPIRE_SECONDS", default_value_t = defaults::TOKEN_LIFETIME_SECS)]
    pub token_lifetime_secs: u64,

    /// Password of the first admin user; when set and no user of that name exists, an
    /// active, verified superuser is created at start.
    #[arg(long, env = "MAESTRO_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<Secret>,

    /// Username of the first admin user.
    #[arg(long, env = "MAESTRO_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,

    /// Email of the first admin user.
    #[arg(long, env = "MAESTRO_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,

    /// Log filter (tracing's EnvFilter syntax).
    #[arg(
        long,
        env = "MAESTRO_LOG",
        default_value = "maestro_server=info,tower_http=warn"
    )]
    pub log: String,

    /// SMTP server for invite and password-reset emails. Without it no email is sent:
    /// invites then carry their link in the answer for the admin to pass on.
    #[arg(long, env = "SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP server port.
    #[arg(long, env = "SMTP_PORT", default_value_t = defaults::SMTP_PORT)]
    pub smtp_port: u16,

    /// SMTP connection security: `tls` (implicit TLS), `starttls`, or `none` (plain text,
    /// for a local relay only). Default: `tls` on port 465, else `starttls`, as KernelCI.
    #[arg(long, env = "SMTP_TLS", value_enum)]
    pub smtp_tls: Option<crate::mail::SmtpTls>,

    /// Sender address of the emails, also the SMTP login name.
    #[arg(long, env = "EMAIL_SENDER")]
    pub email_sender: Option<String>,

    /// SMTP login password; without it no login is attempted.
    #[arg(long, env = "EMAIL_PASSWORD", hide_env_values = true)]
    pub email_password: Option<Secret>,

    /// Public base URL of the API (for example https://api.kernelci.org), used in invite
    /// links. Without it, the request's (or a local proxy's forwarded) host is used.
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Lifetime of invite tokens, in seconds (default 7 days, as KernelCI).
    #[arg(long, env = "INVITE_TOKEN_EXPIRE_SECONDS", default_value_t = defaults::INVITE_TOKEN_LIFETIME_SECS)]
    pub invite_token_lifetime_secs: u64,

    /// Seconds a `/listen` waits for an event before answering a BEEP keep-alive (0: wait
    /// until an event arrives). Python clients time out after 60 s.
    #[arg(long, env = "KEEP_ALIVE_PERIOD", default_value_t = crate::pubsub::DEFAULT_KEEP_ALIVE_SECS)]
    pub keep_alive_secs: u64,

    /// Skip SQLite's quick integrity check at start (it reads the whole database file:
    /// seconds for a large, cold one); `maestro-server check` runs the full check.
    #[arg(long, env = "MAESTRO_SKIP_INTEGRITY_CHECK")]
    pub skip_integrity_check: bool,

    /// Seconds a WebSocket client may leave the server's frames unread (it stopped reading,
    /// even after its `resync`) before it is dropped.
    #[arg(long, env = "MAESTRO_WS_STALL_SECS", default_value_t = crate::ws::DEFAULT_WS_STALL_SECS)]
    pub ws_stall_secs: u64,

    /// Seconds a `/pop` waits for an item before answering 204 No Content (0: wait until
    /// one comes, as the Python server does).
    #[arg(long, env = "MAESTRO_POP_TIMEOUT_SECS", default_value_t = crate::pubsub::DEFAULT_POP_TIMEOUT_SECS)]
    pub pop_timeout_secs: u64,

    /// Seconds after which a subscription nobody listens to is dropped; a durable one
    /// (`subscriber_id`) keeps its stored position and resumes on its next listen.
    #[arg(long, env = "MAESTRO_SUBSCRIPTION_IDLE_SECS", default_value_t = crate::pubsub::DEFAULT_IDLE_SECS)]
    pub subscription_idle_secs: u64,

    /// Failed logins (and password updates) allowed per username per window; then 429
    /// until the window ends (0: no limit).
    #[arg(long, env = "MAESTRO_LOGIN_FAILURES_PER_USER", default_value_t = 10)]
    pub login_failures_per_user: u32,

    /// Failed logins allowed per client address per window (0: no limit).
    #[arg(
        long,
        env = "MAESTRO_LOGIN_FAILURES_PER_ADDRESS",
        default_value_t = 100
    )]
    pub login_failures_per_address: u32,

    /// The window of the failed-login limits, in seconds.
    #[arg(long, env = "MAESTRO_LOGIN_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub login_failure_window_secs: u64,

    /// The largest event accepted, in bytes of serialised `data` and attributes: a
    /// `/publish`, or a node write whose event (which carries the node's `data`) would be
    /// larger, is answered 413.
    #[arg(long, env = "MAESTRO_MAX_EVENT_BYTES", default_value_t = crate::events::log::DEFAULT_MAX_EVENT_BYTES)]
    pub max_event_bytes: usize,

    /// Serialised bytes of recent events kept in memory for listeners (besides the count
    /// limit); listeners further behind read the store.
    #[arg(long, env = "MAESTRO_EVENT_WINDOW_BYTES", default_value_t = crate::events::log::DEFAULT_WINDOW_BYTES)]
    pub event_window_bytes: usize,

    /// Milliseconds one store call may take; beyond, the request is answered 503 with
    /// `Retry-After`. With MongoDB, also how long to wait for an unreachable server (at start
    /// too) unless the URI sets `serverSelectionTimeoutMS`/`connectTimeoutMS`.
    #[arg(long, env = "MAESTRO_STORE_TIMEOUT_MS", default_value_t = 5_000)]
    pub store_timeout_ms: u64,

    /// `maxTimeMS` of every MongoDB query that takes a client's filter: the server stops a
    /// query running longer (a costly regex, say), answered 503. Keep it under
    /// `--store-timeout-ms`, so the database stops the query before the request gives up.
    #[arg(long, env = "MAESTRO_MONGODB_MAX_TIME_MS", default_value_t = 4_000)]
    pub mongodb_max_time_ms: u64,

    /// Write transactions (node writes, publishes) this server runs on MongoDB at once;
    /// further writes wait their turn. 1 (the default) serialises this server's writes:
    /// on the MongoDB-wire test server, concurrent transactions inserting into one
    /// collection conflict and their retries starved every writer (publishes at 1,000/s
    /// stalled). On a real replica set, raise it for many concurrent writers.
    #[arg(long, env = "MAESTRO_MONGODB_WRITE_TRANSACTIONS", default_value_t = defaults::MONGODB_WRITE_TRANSACTIONS)]
    pub mongodb_write_transactions: usize,

    /// Milliseconds between this server's reads of the event history written through the
    /// other servers on its MongoDB database, instead of a change stream (0, the default:
    /// the change stream, the right choice on a replica set). A change stream costs the
    /// MongoDB-wire test server a wake-up of every stream on every write: with three servers
    /// at 100 events/s it saturated, where reads every 20 ms carried the load.
    #[arg(long, env = "MAESTRO_MONGODB_EVENT_FEED_POLL_MS", default_value_t = 0)]
    pub mongodb_event_feed_poll_ms: u64,

    /// Counts the commands this server sends to MongoDB, by command name, in
    /// `maestro_mongodb_commands_total` of `/metrics` (round trips per request, for
    /// benchmarks). Off by default: the driver then copies every command and reply into an
    /// event, which costs CPU on every call.
    #[arg(long, env = "MAESTRO_MONGODB_COUNT_COMMANDS")]
    pub mongodb_count_commands: bool,

    /// Open client connections at most (0: the soft open-file limit, raised at start as far
    /// as the hard limit allows, less 256); further connections wait in the listen backlog.
    #[arg(long, env = "MAESTRO_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Seconds a connection has to send a request's complete headers, counted from when it
    /// is ready for one: also how long a keep-alive connection may sit idle between
    /// requests. Slow, partial or absent headers are closed after it.
    #[arg(long, env = "MAESTRO_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub header_read_timeout_secs: u64,

    /// Subscriptions one user may hold at once; `/subscribe` beyond is answered 429.
    #[arg(long, env = "MAESTRO_MAX_SUBSCRIPTIONS_PER_USER", default_value_t = crate::pubsub::DEFAULT_MAX_SUBSCRIPTIONS_PER_USER)]
    pub max_subscriptions_per_user: usize,

    /// The `source` of the CloudEvents the server sends.
    #[arg(long, env = "CLOUD_EVENTS_SOURCE", default_value = crate::pubsub::DEFAULT_SOURCE)]
    pub cloud_events_source: String,

    /// Turn off the node life-cycle rules (timeout, holdoff, closing), for a deployment
    /// that runs KernelCI's own timeout service instead.
    #[arg(long, env = "MAESTRO_NO_LIFECYCLE")]
    pub no_lifecycle: bool,

    /// Seconds between two runs of the timeout rule: pending nodes past their `timeout`
    /// become `done` (`incomplete` when they have no result).
    #[arg(long, env = "MAESTRO_LIFECYCLE_TIMEOUT_INTERVAL_SECS", default_value_t = crate::lifecycle::task::DEFAULT_INTERVAL_SECS)]
    pub lifecycle_timeout_interval_secs: u64,

    /// Seconds between two runs of the holdoff rule: `available` nodes past their `holdoff`
    /// become `closing`, or `done` when no descendant is pending.
    #[arg(long, env = "MAESTRO_LIFECYCLE_HOLDOFF_INTERVAL_SECS", default_value_t = crate::lifecycle::task::DEFAULT_INTERVAL_SECS)]
    pub lifecycle_holdoff_interval_secs: u64,

    /// Seconds between two runs of the closing rule: `closing` nodes become `done` once no
    /// descendant is pending.
    #[arg(long, env = "MAESTRO_LIFECYCLE_CLOSING_INTERVAL_SECS", default_value_t = crate::lifecycle::task::DEFAULT_INTERVAL_SECS)]
    pub lifecycle_closing_interval_secs: u64,

    /// Nodes created more than this many days ago are deleted by the node purge, except
    /// checkouts (kept forever), as the Python server does. 0 turns the purge off (for a
    /// database the Python server, which purges too, shares, say).
    #[arg(long, env = "NODE_PURGE_AGE_DAYS", default_value_t = defaults::NODE_PURGE_AGE_DAYS)]
    pub node_purge_age_days: u64,

    /// Seconds from start to the first node purge; later ones follow every
    /// --node-purge-interval-secs (a failed one is tried again an hour later).
    #[arg(long, env = "MAESTRO_NODE_PURGE_FIRST_DELAY_SECS", default_value_t = defaults::NODE_PURGE_FIRST_DELAY_SECS)]
    pub node_purge_first_delay_secs: u64,

    /// Seconds between two node purges.
    #[arg(long, env = "MAESTRO_NODE_PURGE_INTERVAL_SECS", default_value_t = defaults::NODE_PURGE_INTERVAL_SECS)]
    pub node_purge_interval_secs: u64,

    /// Nodes the purge deletes per batch, each batch one short write (also for
    /// `purge-nodes`).
    #[arg(long, env = "MAESTRO_NODE_PURGE_BATCH", default_value_t = defaults::NODE_PURGE_BATCH)]
    pub node_purge_batch: u64,

    /// Milliseconds the purge pauses between two batches, leaving the database to the
    /// clients' writes (also for `purge-nodes`).
    #[arg(long, env = "MAESTRO_NODE_PURGE_PAUSE_MS", default_value_t = defaults::NODE_PURGE_PAUSE_MS)]
    pub node_purge_pause_ms: u64,
}

impl Config {
    /// Parses the command line and environment; `MONGO_SERVICE` fills `--mongodb-uri`.
    pub fn from_env_and_args() -> Self {
        let mut cfg = Self::parse();
        cfg.apply_env_fallbacks();
        cfg
    }

    /// Fills what clap's `env` cannot: `MONGO_SERVICE` for `--mongodb-uri`. Also for a
    /// `Config` parsed inside another command line (`cli::Cli`).
    pub fn apply_env_fallbacks(&mut self) {
        if self.mongodb_uri.is_none() {
            self.mongodb_uri = std::env::var("MONGO_SERVICE")
                .ok()
                .filter(|s| !s.is_empty())
                .map(Secret);
        }
    }

    /// Refuses values that would break at run time: lifetimes that overflow token times
    /// (tokens born expired), keep-alive periods that overflow timers (every `/listen`
    /// panicking).
    pub fn validate(&self) -> Result<(), String> {
        const CENTURY_SECS: u64 = 100 * 366 * 86_400;
        let checks = [
            (
                "--token-lifetime-secs",
                self.token_lifetime_secs,
                CENTURY_SECS,
            ),
            (
                "--invite-token-lifetime-secs",
                self.invite_token_lifetime_secs,
                CENTURY_SECS,
            ),
            ("--keep-alive-secs", self.keep_alive_secs, 86_400),
            ("--pop-timeout-secs", self.pop_timeout_secs, 86_400),
            ("--ws-stall-secs", self.ws_stall_secs, 86_400),
            (
                "--subscription-idle-secs",
                self.subscription_idle_secs,
                CENTURY_SECS,
            ),
            (
                "--login-failure-window-secs",
                self.login_failure_window_secs,
                86_400,
            ),
            (
                "--header-read-timeout-secs",
                self.header_read_timeout_secs,
                86_400,
            ),
            ("--store-timeout-ms", self.store_timeout_ms, 3_600_000),
            ("--mongodb-max-time-ms", self.mongodb_max_time_ms, 3_600_000),
            (
                "--mongodb-write-transactions",
                self.mongodb_write_transactions as u64,
                1_024,
            ),
            (
                "--mongodb-event-feed-poll-ms",
                self.mongodb_event_feed_poll_ms,
                60_000,
            ),
            (
                "--lifecycle-timeout-interval-secs",
                self.lifecycle_timeout_interval_secs,
                86_400,
            ),
            (
                "--lifecycle-holdoff-interval-secs",
                self.lifecycle_holdoff_interval_secs,
                86_400,
            ),
            (
                "--lifecycle-closing-interval-secs",
                self.lifecycle_closing_interval_secs,
                86_400,
            ),
            ("--node-purge-age-days", self.node_purge_age_days, 36_600),
            (
                "--node-purge-first-delay-secs",
                self.node_purge_first_delay_secs,
                CENTURY_SECS,
            ),
            (
                "--node-purge-interval-secs",
                self.node_purge_interval_secs,
                CENTURY_SECS,
            ),
            // A batch is one write: larger ones would hold the writer for seconds.
            ("--node-purge-batch", self.node_purge_batch, 100_000),
            ("--node-purge-pause-ms", self.node_purge_pause_ms, 3_600_000),
        ];
        for (name, value, max) in checks {
            if value > max {
                return Err(format!("{name} is {value}; at most {max} is accepted"));
            }
        }
        if self.node_purge_batch == 0 {
            return Err("--node-purge-batch is 0; a batch deletes 1 node at least".into());
        }
        Ok(())
    }

    /// The defaults, with the data in `data_dir`: for tests and embedding.
    pub fn embedded(data_dir: PathBuf) -> Self {
        let mut cfg = Self::parse_from(["maestro-server"]);
        cfg.data_dir = data_dir;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_overflowing_values_are_refused() {
        let cfg = Config::embedded(PathBuf::from("d"));
        assert_eq!(cfg.validate(), Ok(()));
        let mut huge = cfg.clone();
        huge.token_lifetime_secs = u64::MAX;
        assert!(
            huge.validate()
                .unwrap_err()
                .contains("--token-lifetime-secs")
        );
        let mut huge = cfg;
        huge.keep_alive_secs = u64::MAX / 2;
        assert!(huge.validate().unwrap_err().contains("--keep-alive-secs"));
    }
}
