//! `maestro-server user ...`: creating, listing, activating and deactivating accounts,
//! their passwords, tokens and groups.
use anyhow::{Context, anyhow, bail};
use maestro_common::{Filter, FilterValue, UserGroupRef};

use super::groups::{group_names, group_ref, resolve_group};
use super::password::hash;
use super::table::{table, yes_no};
use super::{Console, PAGE, UserAdd, UserCommand, UserGroups, UserName};
use crate::config::Config;
use crate::nodes::ops::new_id;
use crate::store::{Store, StoreError, StoredUser};

pub(super) async fn user_command(
    store: &dyn Store,
    cfg: &Config,
    cmd: UserCommand,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add(args) => user_add(store, args, io).await,
        UserCommand::List => user_list(store, io).await,
        UserCommand::SetPassword(UserName { username }) => {
            let mut user = find_user(store, &username).await?;
            let before = user.clone();
            let password = (io.password)(&format!("New password for {username}"))?;
            user.hashed_password = hash(password).await?;
            store
                .update_user(&user, &before)
                .await
                .context("updating the user")?;
            writeln!(io.out, "changed the password of user '{username}'")?;
            Ok(())
        }
        UserCommand::Token(UserName { username }) => {
            let user = find_user(store, &username).await?;
            if !user.is_active {
                bail!(
                    "user '{username}' is deactivated: the server would refuse its tokens \
                     (`maestro-server user activate {username}` first)"
                );
            }
            if !user.is_verified {
                writeln!(
                    io.err,
                    "warning: user '{username}' is not verified: /whoami will answer 403"
                )?;
            }
            let token = crate::token_keys(cfg)?
                .issue(&user.id)
                .map_err(|e| anyhow!("{e}"))?;
            writeln!(io.out, "{token}")?;
            Ok(())
        }
        UserCommand::Activate(UserName { username }) => {
            set_active(store, &username, true, io).await
        }
        UserCommand::Deactivate(UserName { username }) => {
            set_active(store, &username, false, io).await
        }
        UserCommand::Groups(args) => user_groups(store, args, io).await,
    }
}

pub(super) async fn user_add(
    store: &dyn Store,
    args: UserAdd,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    let UserAdd {
        username,
        email,
        superuser,
        groups,
    } = args;
    if username.is_empty() || username.chars().any(char::is_whitespace) {
        bail!("invalid username '{username}': it must be non-empty, without spaces");
    }
    if !looks_like_email(&email) {
        bail!("invalid email address '{email}'");
    }
    if store.find_user_by_username(&username).await?.is_some() {
        bail!("user '{username}' already exists");
    }
    if let Some(other) = store.find_user_by_email(&email).await? {
        bail!(
            "email address '{email}' is already used by user '{}'",
            other.username
        );
    }
    let mut refs: Vec<UserGroupRef> = Vec::new();
    for name in groups {
        if !refs.iter().any(|g| g.name == name) {
            refs.push(group_ref(&resolve_group(store, &name).await?));
        }
    }
    let password = (io.password)(&format!("Password for {username}"))?;
    let user = StoredUser {
        id: new_id(),
        email,
        hashed_password: hash(password).await?,
        is_active: true,
        is_superuser: superuser,
        is_verified: true,
        username,
        groups: refs,
    };
    let owner = Filter::eq("owner", FilterValue::Str(user.username.clone()));
    if store.count_nodes(&owner).await? > 0 {
        bail!(
            "user '{}' could not be created: nodes are still owned by that name (of a former \
             account), and a new account of that name would own them",
            user.username
        );
    }
    match store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(what)) => {
            bail!("user '{}' could not be created: {what}", user.username)
        }
        Err(e) => return Err(e).context("creating the user"),
    }
    writeln!(
        io.out,
        "created user '{}' with id {}",
        user.username, user.id
    )?;
    Ok(())
}

pub(super) async fn user_list(store: &dyn Store, io: &mut Console<'_>) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut offset = 0;
    loop {
        let (page, total) = store
            .list_users(&[], offset, PAGE)
            .await
            .context("listing users")?;
        let n = page.len() as u64;
        rows.extend(page.into_iter().map(|u| {
            vec![
                u.id.to_string(),
                u.username,
                u.email,
                yes_no(u.is_active),
                yes_no(u.is_superuser),
                yes_no(u.is_verified),
                group_names(&u.groups),
            ]
        }));
        offset += n;
        if n == 0 || offset >= total {
            break;
        }
    }
    let headers = [
        "ID",
        "USERNAME",
        "EMAIL",
        "ACTIVE",
        "SUPERUSER",
        "VERIFIED",
        "GROUPS",
    ];
    io.out.write_all(table(&headers, &rows).as_bytes())?;
    Ok(())
}

pub(super) async fn set_active(
    store: &dyn Store,
    username: &str,
    active: bool,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    let mut user = find_user(store, username).await?;
    let state = if active { "active" } else { "deactivated" };
    if user.is_active == active {
        writeln!(io.out, "user '{username}' is already {state}")?;
        return Ok(());
    }
    let before = user.clone();
    user.is_active = active;
    store
        .update_user(&user, &before)
        .await
        .context("updating the user")?;
    writeln!(io.out, "user '{username}' is now {state}")?;
    Ok(())
}

pub(super) async fn user_groups(
    store: &dyn Store,
    args: UserGroups,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    let UserGroups {
        username,
        add,
        remove,
    } = args;
    let mut user = find_user(store, &username).await?;
    let before = user.groups.clone();
    for name in add {
        if user.groups.iter().any(|g| g.name == name) {
            writeln!(
                io.err,
                "note: user '{username}' already is in group '{name}'"
            )?;
        } else {
            user.groups
                .push(group_ref(&resolve_group(store, &name).await?));
        }
    }
    for name in remove {
        let held = user.groups.len();
        user.groups.retain(|g| g.name != name);
        if user.groups.len() == held {
            writeln!(io.err, "note: user '{username}' is not in group '{name}'")?;
        }
    }
    if user.groups != before {
        let mut read = user.clone();
        read.groups = before;
        store
            .update_user(&user, &read)
            .await
            .context("updating the user")?;
    }
    writeln!(io.out, "{username}: {}", group_names(&user.groups))?;
    Ok(())
}

pub(super) async fn find_user(store: &dyn Store, username: &str) -> anyhow::Result<StoredUser> {
    store
        .find_user_by_username(username)
        .await
        .context("looking the user up")?
        .ok_or_else(|| anyhow!("there is no user named '{username}'"))
}

pub(super) fn looks_like_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}
