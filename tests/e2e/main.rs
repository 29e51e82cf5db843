//! End-to-end tests: the real `maestro-server` binary on a loopback port.
// Helpers outside #[test] fns panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]
mod cli;
mod demo;
mod kci_dev;
mod monitor;
mod nodes;
mod pages;
mod pubsub;
mod scale;
mod surface;
