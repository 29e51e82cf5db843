//! Who may edit a node (kernelci-api.md section 7).
use maestro_common::Node;

use crate::store::StoredUser;

/// Members of this group may edit every node.
pub const EDIT_ANY_GROUP: &str = "node:edit:any";

/// Whether `user` may change `node`: a superuser, the owner, a member of `node:edit:any` or
/// of one of the node's `user_groups`, or a runtime editor/admin of the node's runtime.
pub fn may_edit(user: &StoredUser, node: &Node) -> bool {
    if user.is_superuser || node.owner.as_deref() == Some(user.username.as_str()) {
        return true;
    }
    let in_group = |name: &str| user.groups.iter().any(|g| g.name == name);
    if in_group(EDIT_ANY_GROUP) || node.user_groups.iter().any(|g| in_group(g)) {
        return true;
    }
    node.runtime().is_some_and(|rt| {
        in_group(&format!("runtime:{rt}:node-editor"))
            || in_group(&format!("runtime:{rt}:node-admin"))
    })
}
