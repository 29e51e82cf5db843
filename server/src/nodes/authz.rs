//! Who may edit a node (kernelci-api.md section 7): the shared rule of
//! `maestro_common::rights`, applied to a stored user.
use maestro_common::Node;
pub use maestro_common::rights::EDIT_ANY_GROUP;

use crate::store::StoredUser;

/// Whether `user` may change `node` (see [`maestro_common::rights::may_edit`]).
pub fn may_edit(user: &StoredUser, node: &Node) -> bool {
    maestro_common::rights::may_edit(
        &user.username,
        user.is_superuser,
        |name| user.groups.iter().any(|g| g.name == name),
        node.owner.as_deref(),
        &node.user_groups,
        node.runtime(),
    )
}
