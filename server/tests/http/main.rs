//! HTTP tests through the real router (SQLite store in a temp dir): every node endpoint,
//! login and whoami, with their error paths.
// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]
mod harness;

mod auth;
mod groups;
mod invites;
mod openapi;
mod pages;
mod pubsub;
mod raw_reads;
mod reads;
mod root;
mod user_cache;
mod users;
mod validation;
mod writes;
