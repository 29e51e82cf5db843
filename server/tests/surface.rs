//! The rest of the Python server's API surface (issue 10), through the real router on both
//! stores: the key/value store (`/kv`) and telemetry (`/telemetry`, its stats and anomalies).
//!
//! `two_store_suite!` (security/two_stores.rs) turns every case into a `sqlite::<case>` and
//! a `mongodb::<case>` test on a fresh store, with the security suite's `TestApp`. MongoDB
//! needs `MAESTRO_TEST_MONGODB_URI`; without it the MongoDB tests are skipped, unless
//! `CI=true`. The plain tests below build their own stores: reopening one, a locked SQLite
//! database, the MongoDB documents and indexes (the `telemetry` collection is shared with
//! the Python server).
//!
//! Cases:
//! * `kv`: every call needs an active user; values round-trip under every prefix, one value
//!   per `<namespace>:<key>` for every user; bodies are read as FastAPI reads a `str` body
//!   (JSON or raw text by `Content-Type`), an empty value deletes, bad bodies are 422 and
//!   change nothing.
//! * `telemetry`: `POST` needs a user and stores a batch whole or not at all (422 for its
//!   shape, 400 for an invalid event, worded as pydantic); every field and default is
//!   stored; `GET` filters and pages as upstream; events past 14 days are deleted.
//! * `telemetry_reports`: `/telemetry/stats` and `/telemetry/anomalies`: their checks,
//!   counts, thresholds, windows, orders and row shapes.

// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "surface/kv.rs"]
mod kv;
#[path = "surface/stores.rs"]
mod stores;
#[path = "surface/telemetry.rs"]
mod telemetry;
#[path = "surface/telemetry_reports.rs"]
mod telemetry_reports;
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
    telemetry::posting_needs_a_user_and_a_whole_valid_batch,
    telemetry::events_are_stored_with_every_field_and_default,
    telemetry::listing_filters_and_pages_as_upstream,
    telemetry::events_past_their_14_days_are_deleted,
    telemetry_reports::stats_count_by_the_chosen_fields,
    telemetry_reports::anomalies_report_failing_devices_and_recurring_errors,
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
    async fn mongodb_telemetry_is_shaped_and_indexed_as_the_python_servers() {
        crate::stores::mongodb_telemetry_is_shaped_and_indexed_as_the_python_servers().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_locked_database_is_a_quick_503() {
        crate::stores::sqlite_locked_database_is_a_quick_503().await;
    }
}
