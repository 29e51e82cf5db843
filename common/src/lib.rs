//! Wire types shared by the Maestro server and its clients: nodes, queries, users and errors.
//!
//! Nothing here knows about HTTP frameworks, databases or terminals.
#![warn(missing_docs)]

pub mod api;
pub mod compare;
pub mod event;
pub mod node;
pub mod pattern;
pub mod query;
pub mod rights;
pub mod timestamp;
pub mod user;
pub mod ws;

pub use api::{ErrorBody, NodePage};
pub use node::{Hierarchy, Node, NodeResult, NodeState};
pub use query::{Condition, Filter, FilterValue, Op, QueryError};
pub use timestamp::Timestamp;
pub use user::{UserGroupRef, UserRead};
