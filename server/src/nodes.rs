//! Node semantics independent of HTTP: data models, who may edit, the write paths, and the
//! purge of old nodes.
pub mod authz;
pub mod compare;
pub mod models;
pub mod normal_url;
pub mod ops;
pub mod purge;
