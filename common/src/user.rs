//! Users as the API shows them (`UserRead`), without secrets.
use serde::{Deserialize, Serialize};

/// A group a user belongs to, as embedded in the user record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserGroupRef {
    /// Id of the group.
    pub id: String,
    /// Unique name of the group.
    pub name: String,
}

/// The public form of a user; key order as the Python server prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRead {
    /// Id of the user.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Whether the account may log in.
    pub is_active: bool,
    /// Whether the user may do everything.
    pub is_superuser: bool,
    /// Whether the email was verified.
    pub is_verified: bool,
    /// Unique login name; the owner name of the user's nodes.
    pub username: String,
    /// Groups the user belongs to.
    pub groups: Vec<UserGroupRef>,
}
