//! Several `maestro-server` processes on one MongoDB database (the MongoDB-wire test server):
//! one event order for every subscriber of every server, durable subscribers moving between
//! servers, a server killed under load, shared lists, the life-cycle rules applied once; and
//! the refusal of a second server on one SQLite data directory.
mod cluster;
mod durable;
mod kill;
mod lifecycle;
mod lists;
mod order;
mod single_dir;
mod subscribers;
