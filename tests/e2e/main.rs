//! End-to-end tests: the real `maestro-server` binary on a loopback port.
mod nodes;
