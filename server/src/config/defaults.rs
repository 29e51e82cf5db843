//! The defaults of the options that parts of the server also need on their own (an
//! `AppState` built without a `Config`, in tests and embeddings): kept here, with the
//! options, and handed down as plain values.

/// Lifetime of access tokens: 10 years, as KernelCI (`ACCESS_TOKEN_EXPIRE_SECONDS`).
pub const TOKEN_LIFETIME_SECS: u64 = 315_360_000;

/// Lifetime of invite tokens: 7 days, as KernelCI (`INVITE_TOKEN_EXPIRE_SECONDS`).
pub const INVITE_TOKEN_LIFETIME_SECS: u64 = 604_800;

/// The SMTP submission port, with STARTTLS.
pub const SMTP_PORT: u16 = 587;

/// Event-producing MongoDB write transactions a server runs at once.
pub const MONGODB_WRITE_TRANSACTIONS: usize = 1;

/// Age in days past which the node purge deletes nodes (other than checkouts), as
/// KernelCI's `NODE_PURGE_AGE_DAYS`; 0 turns the purge off.
pub const NODE_PURGE_AGE_DAYS: u64 = 180;

/// Seconds from start to the first node purge: 10 minutes, as KernelCI.
pub const NODE_PURGE_FIRST_DELAY_SECS: u64 = 600;

/// Seconds between two node purges: 24 hours, as KernelCI.
pub const NODE_PURGE_INTERVAL_SECS: u64 = 86_400;

/// Seconds from a failed node purge to the next try: 1 hour, as KernelCI.
pub const NODE_PURGE_RETRY_SECS: u64 = 3_600;

/// Nodes deleted per batch (one write each): 10,000, as KernelCI.
pub const NODE_PURGE_BATCH: u64 = 10_000;

/// Milliseconds of pause between two batches: 1 s, as KernelCI.
pub const NODE_PURGE_PAUSE_MS: u64 = 1_000;
