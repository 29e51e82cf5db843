//! Response envelopes of the REST API: pages and error bodies.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::node::Node;

/// One page of `GET /nodes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodePage {
    /// The nodes of this page, ordered by id.
    pub items: Vec<Node>,
    /// How many nodes match the filter in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u64,
    /// How many matching nodes come before this page.
    pub offset: u64,
}

/// The body of every error answer: `{"detail": ...}`, a string or a list of problems.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What was wrong.
    pub detail: Value,
}

/// The answer of `POST /user/login`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// The JWT to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
}
