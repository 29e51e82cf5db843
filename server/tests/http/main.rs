//! HTTP tests through the real router (SQLite store in a temp dir): every node endpoint,
//! login and whoami, with their error paths.
mod harness;

mod auth;
mod reads;
mod writes;
