//! Node semantics independent of HTTP: data models, who may edit, and the write paths.
pub mod authz;
pub mod compare;
pub mod models;
pub mod ops;
