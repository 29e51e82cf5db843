//! The `maestro` terminal dashboard and live monitor: browse KernelCI results per kernel
//! revision, watch them arrive live, and edit the nodes you own.
pub mod action;
pub mod app;
pub mod client;
pub mod compare;
pub mod config;
pub mod demo;
pub mod effect;
pub mod fixtures;
pub mod keymap;
pub mod model;
pub mod script;
pub mod session;
pub mod sim;
pub mod state;
pub mod stream;
pub mod terminal;
pub mod ui;
