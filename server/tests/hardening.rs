//! Hardening suite: the server's limits against hostile or careless clients, through the
//! real router on both stores (issue 7).
//!
//! `two_store_suite!` (security/two_stores.rs) turns every case into a `sqlite::<case>`
//! and a `mongodb::<case>` test,
//! as the security suite does, and shares its `TestApp`. MongoDB needs
//! `MAESTRO_TEST_MONGODB_URI`; without it the MongoDB tests are skipped, unless `CI=true`.
//!
//! Cases:
//! * `connections` (plain tests, a real loopback listener): partial headers, silent and
//!   idle keep-alive connections are closed after the header-read timeout; open
//!   connections are bounded.
//! * `events`: events over the size cap are 413 and not stored; request bodies over the
//!   limit are JSON 413; the window is bounded by bytes; `/events` pages through.
//! * `keepalive`: answers given before the body was read say `Connection: close`.
//! * `subscriptions`: subscriptions per user are bounded (429).
//! * `outage`: a locked SQLite database and a frozen MongoDB are quick 503s with
//!   `Retry-After`; the health endpoint reports it; service resumes; start-up with MongoDB
//!   unreachable fails within seconds. These build their own stores (a pausable TCP relay
//!   in front of the MongoDB-wire server), so they are plain tests, not suite cases.
//! * `login`: password hashing runs one per permit; failed logins per username and per
//!   address get 429 with `Retry-After`, the same for unknown users as for wrong passwords.

// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "hardening/connections.rs"]
mod connections;
#[path = "hardening/events.rs"]
mod events;
#[path = "hardening/keepalive.rs"]
mod keepalive;
#[path = "hardening/login.rs"]
mod login;
#[path = "hardening/max_time.rs"]
mod max_time;
#[path = "hardening/mistakes.rs"]
mod mistakes;
#[path = "hardening/outage.rs"]
mod outage;
#[path = "hardening/subscriptions.rs"]
mod subscriptions;
// Shared with the security suite; not every helper is used here.
#[allow(dead_code)]
#[path = "security/support.rs"]
mod support;
#[macro_use]
#[path = "security/two_stores.rs"]
mod two_stores;

two_store_suite! {
    events::events_over_the_cap_are_413_and_not_stored,
    events::bodies_over_the_request_limit_are_json_413,
    events::the_window_is_bounded_by_bytes_and_events_page_through,
    mistakes::many_query_parameters_are_answered,
    mistakes::odd_dates_and_regexes_are_not_500,
    mistakes::logout_is_served_as_upstream,
    subscriptions::subscriptions_per_user_are_bounded,
    keepalive::refusals_before_the_body_say_connection_close,
    login::failed_logins_get_429_per_username_and_per_address,
    login::password_checks_wait_for_a_hashing_permit,
}

/// The outage cases, which build their own stores.
mod outages {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_locked_database_is_a_quick_503() {
        crate::outage::sqlite_locked_database_is_a_quick_503().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mongodb_outage_is_a_quick_503_and_recovers() {
        crate::outage::mongodb_outage_is_a_quick_503_and_recovers().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_query_over_max_time_is_stopped_and_503() {
        crate::max_time::a_query_over_max_time_is_stopped_and_503().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn slow_headers_and_idle_connections_are_closed() {
        crate::connections::slow_headers_and_idle_connections_are_closed().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn open_connections_are_bounded() {
        crate::connections::open_connections_are_bounded().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn start_up_with_mongodb_unreachable_fails_within_seconds() {
        crate::outage::start_up_with_mongodb_unreachable_fails_within_seconds().await;
    }
}
