//! Who may edit a node (kernelci-api.md section 7): the rule the server's write paths
//! apply, shared so that clients can tell what to offer before they try.

/// Members of this group may edit every node.
pub const EDIT_ANY_GROUP: &str = "node:edit:any";

/// Whether a user may change a node: a superuser, the owner, a member of `node:edit:any` or
/// of one of the node's `user_groups`, or a runtime editor/admin of the node's runtime.
/// `in_group` answers whether the user is in the named group.
pub fn may_edit(
    username: &str,
    is_superuser: bool,
    in_group: impl Fn(&str) -> bool,
    owner: Option<&str>,
    user_groups: &[String],
    runtime: Option<&str>,
) -> bool {
    if is_superuser || owner == Some(username) {
        return true;
    }
    if in_group(EDIT_ANY_GROUP) || user_groups.iter().any(|g| in_group(g)) {
        return true;
    }
    runtime.is_some_and(|rt| {
        in_group(&format!("runtime:{rt}:node-editor"))
            || in_group(&format!("runtime:{rt}:node-admin"))
    })
}
