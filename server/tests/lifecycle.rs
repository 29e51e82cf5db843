//! Life-cycle suite: the timeout, holdoff and closing rules of `maestro_server::lifecycle`,
//! swept at a chosen `now` (no real waiting), on both stores.
//!
//! `two_store_suite!` (security/two_stores.rs) turns every case into a `sqlite::<case>`
//! and a `mongodb::<case>` test on a fresh store, with the security suite's `TestApp` (the
//! real router, for the cases where a client edits a node mid-sweep). MongoDB needs
//! `MAESTRO_TEST_MONGODB_URI`; without it the MongoDB tests are skipped, unless `CI=true`.
//!
//! Cases:
//! * `timeout`: pending nodes past their timeout become done (incomplete, with the error
//!   fields, when they had no result), each with one `updated` event; others are left
//!   alone; a backlog of several pages with tied timeouts is worked through once.
//! * `holdoff`: available nodes past their holdoff close while a descendant is pending and
//!   finish otherwise; closing nodes finish once every descendant is done.
//! * `races`: a client's write between the rule's read and its write is never overwritten.
//! * `two_servers` (plain tests, two stores on one database): concurrent sweeps move every
//!   node exactly once, and lose no write.

// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "lifecycle/common.rs"]
mod common;
#[path = "lifecycle/holdoff.rs"]
mod holdoff;
#[path = "lifecycle/races.rs"]
mod races;
// Shared with the security suite; not every helper is used here.
#[allow(dead_code)]
#[path = "security/support.rs"]
mod support;
#[path = "lifecycle/timeout.rs"]
mod timeout;
#[path = "lifecycle/two_servers.rs"]
mod two_servers;
#[macro_use]
#[path = "security/two_stores.rs"]
mod two_stores;

two_store_suite! {
    timeout::pending_nodes_past_their_timeout_are_done_with_one_event_each,
    timeout::a_backlog_of_several_pages_is_worked_through_once,
    holdoff::holdoff_closes_while_a_descendant_is_pending_and_finishes_otherwise,
    holdoff::closing_waits_for_every_descendant,
    races::a_client_edit_between_read_and_write_is_kept,
    races::a_client_change_that_ends_the_rule_wins,
}

/// The two-server cases, which build their own pair of stores.
mod concurrent {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_two_servers_move_every_node_once() {
        crate::two_servers::sqlite().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mongodb_two_servers_move_every_node_once() {
        crate::two_servers::mongodb().await;
    }
}
