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
