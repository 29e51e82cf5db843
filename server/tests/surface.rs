//! The rest of the Python server's API surface (issue 10), through the real router on both
//! stores: the key/value store (`/kv`) and telemetry (`/telemetry`, its stats and anomalies).
//!
//! `two_store_suite!` (security/two_stores.rs) turns every case into a `sqlite::<case>` and
//! a `mongodb::<case>` test on a fresh store, with the security suite's `TestApp`. MongoDB
//! needs `MAESTRO_TEST_MONGODB_URI`; without it the MongoDB tests are skipped, unless
//! `CI=true`. The plain tests below build their own stores: reopening one, a locked SQLite
//! database, the MongoDB collection and indexes the Python server shares.
//!
//! Cases:
//! * `kv`: every call needs an active user; values round-trip under every prefix, one value
//!   per `<namespace>:<key>` for every user; bodies are read as FastAPI reads a `str` body
//!   (JSON or raw text by `Content-Type`), an empty value deletes, bad bodies are 422 and
//!   change nothing.

// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "surface/kv.rs"]
mod kv;
#[path = "surface/stores.rs"]
mod stores;
// Shared with the security suite; not every helper is used here.
#[allow(dead_code)]
#[path = "security/support.rs"]
mod support;
#[macro_use]
#[path = "security/two_stores.rs"]
mod two_stores;

two_store_suite! {
    kv::every_call_needs_an_active_user,
    kv::values_round_trip_under_one_key_per_namespace_and_key,
    kv::bodies_are_read_as_upstream_and_bad_ones_change_nothing,
}

/// The cases that build their own stores.
mod own_stores {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_values_survive_a_reopen_and_an_old_schema_is_upgraded() {
        crate::stores::sqlite_values_survive_a_reopen_and_an_old_schema_is_upgraded().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mongodb_values_survive_a_reconnect() {
        crate::stores::mongodb_values_survive_a_reconnect().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_locked_database_is_a_quick_503() {
        crate::stores::sqlite_locked_database_is_a_quick_503().await;
    }
}
