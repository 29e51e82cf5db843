//! `maestro-server group ...`: creating, listing and removing user groups, and the group
//! lookups the user commands share.
use std::collections::BTreeSet;

use anyhow::{Context, bail};
use maestro_common::UserGroupRef;

use super::table::table;
use super::{Console, GroupCommand, GroupName, PAGE};
use crate::nodes::authz::EDIT_ANY_GROUP;
use crate::nodes::ops::new_id;
use crate::store::{GroupDeletion, Store, StoreError, UserFilter, UserGroup};

pub(super) async fn group_command(
    store: &dyn Store,
    cmd: GroupCommand,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add(GroupName { name }) => {
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                bail!("invalid group name '{name}': it must be non-empty, without spaces");
            }
            let group = UserGroup { id: new_id(), name };
            match store.insert_group(&group).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => bail!("group '{}' already exists", group.name),
                Err(e) => return Err(e).context("creating the group"),
            }
            writeln!(
                io.out,
                "created group '{}' with id {}",
                group.name, group.id
            )?;
            Ok(())
        }
        GroupCommand::List => {
            let mut rows = Vec::new();
            let mut offset = 0;
            loop {
                let (page, total) = store
                    .list_groups(None, offset, PAGE)
                    .await
                    .context("listing groups")?;
                let n = page.len() as u64;
                for g in page {
                    let members = members(store, &g.name, 0).await?.1;
                    rows.push(vec![g.id.to_string(), g.name, members.to_string()]);
                }
                offset += n;
                if n == 0 || offset >= total {
                    break;
                }
            }
            io.out
                .write_all(table(&["ID", "NAME", "USERS"], &rows).as_bytes())?;
            Ok(())
        }
        GroupCommand::Remove(GroupName { name }) => {
            let Some(group) = store.find_group_by_name(&name).await? else {
                bail!("there is no group named '{name}'");
            };
            match store
                .delete_group_if_unused(&group.id)
                .await
                .context("deleting the group")?
            {
                GroupDeletion::Deleted => {
                    writeln!(io.out, "removed group '{name}'")?;
                    Ok(())
                }
                GroupDeletion::NotFound => bail!("there is no group named '{name}'"),
                GroupDeletion::NamedByNodes => bail!(
                    "group '{name}' is named in the user_groups of some nodes: it stays, so \
                     that a new group of that name cannot give its members those nodes"
                ),
                GroupDeletion::InUse => {
                    let (holders, total) = members(store, &name, 10).await?;
                    let more = if total > holders.len() as u64 {
                        ", ..."
                    } else {
                        ""
                    };
                    bail!(
                        "group '{name}' is in use by {total} user(s) ({}{more}); take it from \
                         them first with `maestro-server user groups USERNAME --remove {name}`",
                        holders.join(", ")
                    )
                }
            }
        }
    }
}

/// The usernames of (at most `limit` of) the users holding group `name`, and their number.
pub(super) async fn members(
    store: &dyn Store,
    name: &str,
    limit: u64,
) -> anyhow::Result<(Vec<String>, u64)> {
    let (users, total) = store
        .list_users(&[UserFilter::Group(name.to_owned())], 0, limit.max(1))
        .await
        .context("listing the group's users")?;
    let names = users.into_iter().map(|u| u.username);
    Ok((names.take(limit as usize).collect(), total))
}

/// The group named `name`; the built-in `node:edit:any` is created if missing (the server
/// creates it at start, but the store may not have been served yet).
pub(super) async fn resolve_group(store: &dyn Store, name: &str) -> anyhow::Result<UserGroup> {
    if let Some(g) = store.find_group_by_name(name).await? {
        return Ok(g);
    }
    if name == EDIT_ANY_GROUP {
        let group = UserGroup {
            id: new_id(),
            name: name.to_owned(),
        };
        match store.insert_group(&group).await {
            Ok(()) => return Ok(group),
            Err(StoreError::Conflict(_)) => {
                if let Some(g) = store.find_group_by_name(name).await? {
                    return Ok(g);
                }
            }
            Err(e) => return Err(e).context("creating the node:edit:any group"),
        }
    }
    bail!("there is no group named '{name}' (create it with `maestro-server group add {name}`)")
}

pub(super) fn group_ref(g: &UserGroup) -> UserGroupRef {
    UserGroupRef {
        id: g.id.to_string(),
        name: g.name.clone(),
    }
}

pub(super) fn group_names(groups: &[UserGroupRef]) -> String {
    if groups.is_empty() {
        return "-".to_owned();
    }
    let names: BTreeSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.into_iter().collect::<Vec<_>>().join(",")
}
