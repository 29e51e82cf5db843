//! The command line of `maestro-server`: serving (the default) and the admin commands that
//! manage users and groups directly in the store, for bootstrap and recovery.
//!
//! The admin commands open the same store the server would with the same options (SQLite in
//! `--data-dir`, or MongoDB with `--mongodb-uri`/`MONGO_SERVICE`), so they work whether or
//! not a server is running on it. New passwords never come from the command line (where
//! `ps` would show them): from `MAESTRO_NEW_PASSWORD`, else from standard input.
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use maestro_common::{Filter, FilterValue, UserGroupRef};

use crate::config::Config;
use crate::nodes::authz::EDIT_ANY_GROUP;
use crate::nodes::ops::new_id;
use crate::store::{GroupDeletion, Store, StoreError, StoredUser, UserFilter, UserGroup};

/// The environment variable a new password is taken from before standard input.
pub const NEW_PASSWORD_ENV: &str = "MAESTRO_NEW_PASSWORD";

/// Page size when listing every user or group.
const PAGE: u64 = 500;

/// KernelCI-compatible Maestro API server.
///
/// With no command it serves on 127.0.0.1:8001 and keeps everything in an embedded SQLite
/// database in ./maestro-data. Give --mongodb-uri to use MongoDB instead (for example an
/// existing KernelCI database).
///
/// The `user` and `group` commands manage accounts directly in the store that the same
/// options select, whether or not a server is running on it. Options go before the command:
/// `maestro-server --data-dir /srv/maestro user list`.
#[derive(Debug, Parser)]
#[command(name = "maestro-server", version)]
pub struct Cli {
    /// Server and store options.
    #[command(flatten)]
    pub config: Config,

    /// What to do; serving when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the command line and environment; `MONGO_SERVICE` fills `--mongodb-uri`.
    pub fn from_env_and_args() -> Self {
        let mut cli = Self::parse();
        cli.config.apply_env_fallbacks();
        cli
    }
}

/// The commands of `maestro-server`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default when no command is given; options go before `serve`).
    Serve,
    #[command(flatten)]
    Admin(AdminCommand),
}

/// The commands that work on the store directly.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage user accounts in the store (works without the server running).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage user groups in the store (works without the server running).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Check the embedded SQLite database in full (`PRAGMA integrity_check`); exits 1 and
    /// lists the problems when it is damaged. The server runs a quick check at every start.
    Check,
}

/// `maestro-server user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active, verified user.
    ///
    /// The password is read from the environment variable MAESTRO_NEW_PASSWORD when it is
    /// set, else from the first line of standard input (prompted for, without echo, on a
    /// terminal); never from the command line. The groups must exist.
    Add(UserAdd),
    /// Print every user as a table.
    List,
    /// Set a user's password.
    ///
    /// The password is read from the environment variable MAESTRO_NEW_PASSWORD when it is
    /// set, else from the first line of standard input (prompted for, without echo, on a
    /// terminal); never from the command line.
    SetPassword(UserName),
    /// Print a new access token for a user, signed with the server's secret key.
    ///
    /// The key is the one the server uses with the same options: --secret-key (SECRET_KEY)
    /// when given, else the one kept in the data directory. Only the token is printed.
    Token(UserName),
    /// Let a deactivated user log in and use their tokens again.
    Activate(UserName),
    /// Stop a user from logging in; the server refuses their tokens from now on.
    Deactivate(UserName),
    /// Print a user's groups, after adding and removing the given ones.
    Groups(UserGroups),
}

/// Arguments of `user add`.
#[derive(Debug, Args)]
pub struct UserAdd {
    /// Login name of the new user (unique).
    pub username: String,
    /// Email address of the new user (unique, ignoring case).
    #[arg(long)]
    pub email: String,
    /// Make the new user a superuser, who may do everything.
    #[arg(long)]
    pub superuser: bool,
    /// A group to put the user in (repeatable); it must exist.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

/// The one argument of commands on an existing user.
#[derive(Debug, Args)]
pub struct UserName {
    /// Login name of the user.
    pub username: String,
}

/// Arguments of `user groups`.
#[derive(Debug, Args)]
pub struct UserGroups {
    /// Login name of the user.
    pub username: String,
    /// A group to add the user to (repeatable); it must exist.
    #[arg(long = "add", value_name = "GROUP")]
    pub add: Vec<String>,
    /// A group to take from the user (repeatable).
    #[arg(long = "remove", value_name = "GROUP")]
    pub remove: Vec<String>,
}

/// `maestro-server group ...`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a user group.
    Add(GroupName),
    /// Print every group, with how many users hold it, as a table.
    List,
    /// Delete a user group; refused while a user holds it.
    Remove(GroupName),
}

/// The one argument of the group commands that take one.
#[derive(Debug, Args)]
pub struct GroupName {
    /// Name of the group.
    pub name: String,
}

/// Where an admin command writes and reads.
pub struct Console<'a> {
    /// Results (a table, a token, what was done).
    pub out: &'a mut dyn Write,
    /// Warnings.
    pub err: &'a mut dyn Write,
    /// Returns a new password; the argument is the prompt for a terminal.
    pub password: &'a mut dyn FnMut(&str) -> anyhow::Result<String>,
}

/// Runs an admin command on the store `cfg` selects, with the process's standard streams.
pub async fn run(cfg: &Config, cmd: AdminCommand) -> anyhow::Result<()> {
    if let AdminCommand::Check = cmd {
        return check(cfg);
    }
    let creates = matches!(
        cmd,
        AdminCommand::User(UserCommand::Add(_)) | AdminCommand::Group(GroupCommand::Add(_))
    );
    if cfg.mongodb_uri.is_none() && !creates {
        // Opening would create an empty database: most likely a wrong --data-dir.
        let db = cfg.data_dir.join(crate::store::sqlite::DB_FILE);
        if !db.exists() {
            bail!(
                "there is no Maestro database in {} (check --data-dir or MAESTRO_DATA_DIR, or \
                 --mongodb-uri for MongoDB); `user add`, `group add` or starting the server \
                 creates one",
                cfg.data_dir.display()
            );
        }
    }
    let store = crate::open_store(cfg).await?;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut console = Console {
        out: &mut out,
        err: &mut err,
        password: &mut read_new_password,
    };
    let result = execute(store.as_ref(), cfg, cmd, &mut console).await;
    store.close().await;
    result
}

/// `maestro-server check`: the full integrity check of the SQLite database.
fn check(cfg: &Config) -> anyhow::Result<()> {
    if cfg.mongodb_uri.is_some() {
        bail!(
            "`check` examines the embedded SQLite database; for MongoDB use its own `validate` \
             command on each collection"
        );
    }
    let db = cfg.data_dir.join(crate::store::sqlite::DB_FILE);
    if !db.exists() {
        bail!("there is no Maestro database in {}", cfg.data_dir.display());
    }
    let problems = crate::store::sqlite::SqliteStore::integrity_check(&cfg.data_dir)
        .context("checking the database")?;
    if problems.is_empty() {
        println!("{}: ok", db.display());
        return Ok(());
    }
    for p in &problems {
        println!("{p}");
    }
    bail!(
        "{} is damaged: {} problem(s) listed above; restore it from a backup",
        db.display(),
        problems.len()
    )
}

/// Runs an admin command on `store`; `cfg` gives the token keys.
pub async fn execute(
    store: &dyn Store,
    cfg: &Config,
    cmd: AdminCommand,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::User(cmd) => user_command(store, cfg, cmd, io).await,
        AdminCommand::Group(cmd) => group_command(store, cmd, io).await,
        AdminCommand::Check => bail!("`check` runs on the database file, not on a store"),
    }
}

async fn user_command(
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

async fn user_add(store: &dyn Store, args: UserAdd, io: &mut Console<'_>) -> anyhow::Result<()> {
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

async fn user_list(store: &dyn Store, io: &mut Console<'_>) -> anyhow::Result<()> {
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

async fn set_active(
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

async fn user_groups(
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

async fn group_command(
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
async fn members(store: &dyn Store, name: &str, limit: u64) -> anyhow::Result<(Vec<String>, u64)> {
    let (users, total) = store
        .list_users(&[UserFilter::Group(name.to_owned())], 0, limit.max(1))
        .await
        .context("listing the group's users")?;
    let names = users.into_iter().map(|u| u.username);
    Ok((names.take(limit as usize).collect(), total))
}

async fn find_user(store: &dyn Store, username: &str) -> anyhow::Result<StoredUser> {
    store
        .find_user_by_username(username)
        .await
        .context("looking the user up")?
        .ok_or_else(|| anyhow!("there is no user named '{username}'"))
}

/// The group named `name`; the built-in `node:edit:any` is created if missing (the server
/// creates it at start, but the store may not have been served yet).
async fn resolve_group(store: &dyn Store, name: &str) -> anyhow::Result<UserGroup> {
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

fn group_ref(g: &UserGroup) -> UserGroupRef {
    UserGroupRef {
        id: g.id.to_string(),
        name: g.name.clone(),
    }
}

fn group_names(groups: &[UserGroupRef]) -> String {
    if groups.is_empty() {
        return "-".to_owned();
    }
    let names: BTreeSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.into_iter().collect::<Vec<_>>().join(",")
}

fn yes_no(b: bool) -> String {
    (if b { "yes" } else { "no" }).to_owned()
}

fn looks_like_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Hashes on the blocking pool: argon2id costs ~100 ms of CPU.
async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await?
        .map_err(|e| anyhow!("{e}"))
}

/// `rows` under `headers`, in columns padded to their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// The first line of `input` without its line ending; `None` at end of input.
fn first_line(input: &mut dyn BufRead) -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    if input
        .read_line(&mut line)
        .context("reading standard input")?
        == 0
    {
        return Ok(None);
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

/// A new password from `MAESTRO_NEW_PASSWORD`, else standard input: prompted for twice
/// without echo on a terminal, else its first line.
pub fn read_new_password(prompt: &str) -> anyhow::Result<String> {
    let password = match std::env::var(NEW_PASSWORD_ENV) {
        Ok(p) => p,
        Err(_) if std::io::stdin().is_terminal() => {
            let first = prompt_hidden(&format!("{prompt}: "))?;
            let again = prompt_hidden("Repeat it: ")?;
            if first != again {
                bail!("the two passwords differ");
            }
            first
        }
        Err(_) => first_line(&mut std::io::stdin().lock())?.ok_or_else(|| {
            anyhow!("no password: give it on standard input or in {NEW_PASSWORD_ENV}")
        })?,
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// Reads a line from the terminal with echo off (via `stty`, where there is one).
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let hidden = stty("-echo");
    let line = first_line(&mut std::io::stdin().lock());
    if hidden {
        stty("echo");
        eprintln!();
    }
    line?.ok_or_else(|| anyhow!("no password given"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[derive(Debug)]
    struct Run {
        out: Vec<u8>,
        err: Vec<u8>,
    }

    async fn exec(
        store: &dyn Store,
        cfg: &Config,
        args: &[&str],
        password: &str,
    ) -> anyhow::Result<Run> {
        let cli =
            Cli::try_parse_from(std::iter::once("maestro-server").chain(args.iter().copied()))?;
        let Some(Command::Admin(cmd)) = cli.command else {
            panic!("not an admin command: {args:?}");
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut pw = |_: &str| Ok(password.to_owned());
        let mut io = Console {
            out: &mut out,
            err: &mut err,
            password: &mut pw,
        };
        execute(store, cfg, cmd, &mut io).await?;
        Ok(Run { out, err })
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn parses_serving_and_the_command_tree() {
        let cli = Cli::try_parse_from(["maestro-server", "--bind", "0.0.0.0:1"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.config.bind.port(), 1);
        let cli = Cli::try_parse_from(["maestro-server", "serve"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Serve)));
        let cli = Cli::try_parse_from([
            "maestro-server",
            "--data-dir",
            "/x",
            "user",
            "add",
            "bob",
            "--email",
            "b@x",
            "--group",
            "g1",
            "--group",
            "g2",
        ])
        .unwrap();
        assert_eq!(cli.config.data_dir, std::path::Path::new("/x"));
        let Some(Command::Admin(AdminCommand::User(UserCommand::Add(a)))) = cli.command else {
            panic!("user add expected");
        };
        assert_eq!((a.username.as_str(), a.superuser), ("bob", false));
        assert_eq!(a.groups, ["g1", "g2"]);
        // No password argument exists.
        assert!(
            Cli::try_parse_from(["maestro-server", "user", "add", "b", "--email", "b@x", "pw"])
                .is_err()
        );
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn tables_and_lines() {
        let t = table(
            &["A", "BB"],
            &[vec!["xyz".into(), "1".into()], vec!["q".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxyz  1\nq\n");
        let mut input: &[u8] = b"s3cret \r\nnext\n";
        assert_eq!(first_line(&mut input).unwrap().as_deref(), Some("s3cret "));
        let mut empty: &[u8] = b"";
        assert_eq!(first_line(&mut empty).unwrap(), None);
        assert!(looks_like_email("a@b.c"));
        assert!(!looks_like_email("a b@c") && !looks_like_email("@c") && !looks_like_email("a@"));
    }

    #[tokio::test]
    async fn users_and_groups_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::embedded(dir.path().to_owned());
        let store = SqliteStore::open(dir.path()).unwrap();
        let s: &dyn Store = &store;

        let r = exec(s, &cfg, &["group", "add", "lab-a"], "").await.unwrap();
        assert!(text(&r.out).starts_with("created group 'lab-a'"));
        let e = exec(s, &cfg, &["group", "add", "lab-a"], "")
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "group 'lab-a' already exists");

        let add = [
            "user",
            "add",
            "bob",
            "--email",
            "bob@x.org",
            "--group",
            "lab-a",
            "--group",
            "node:edit:any",
        ];
        exec(s, &cfg, &add, "pw1").await.unwrap();
        let e = exec(s, &cfg, &add, "pw1").await.unwrap_err();
        assert_eq!(e.to_string(), "user 'bob' already exists");
        let e = exec(s, &cfg, &["user", "add", "bo", "--email", "BOB@x.org"], "p")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("already used by user 'bob'"), "{e}");
        let e = exec(
            s,
            &cfg,
            &["user", "add", "al", "--email", "a@x", "--group", "nope"],
            "p",
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string().starts_with("there is no group named 'nope'"),
            "{e}"
        );

        let bob = s.find_user_by_username("bob").await.unwrap().unwrap();
        assert!(bob.is_active && bob.is_verified && !bob.is_superuser);
        assert!(crate::auth::verify_password("pw1", &bob.hashed_password));
        assert!(bob.hashed_password.starts_with("$argon2id$"));

        let list = text(&exec(s, &cfg, &["user", "list"], "").await.unwrap().out);
        let lines: Vec<&str> = list.lines().collect();
        assert!(
            lines[0].starts_with("ID") && lines[0].ends_with("GROUPS"),
            "{list}"
        );
        assert!(lines[1].contains("bob@x.org") && lines[1].ends_with("lab-a,node:edit:any"));

        let token = text(
            &exec(s, &cfg, &["user", "token", "bob"], "")
                .await
                .unwrap()
                .out,
        );
        let keys = crate::token_keys(&cfg).unwrap();
        assert_eq!(keys.subjects(token.trim()), vec![bob.id.clone()]);

        exec(s, &cfg, &["user", "set-password", "bob"], "pw2")
            .await
            .unwrap();
        let bob = s.find_user_by_username("bob").await.unwrap().unwrap();
        assert!(crate::auth::verify_password("pw2", &bob.hashed_password));

        let r = exec(s, &cfg, &["user", "deactivate", "bob"], "")
            .await
            .unwrap();
        assert_eq!(text(&r.out), "user 'bob' is now deactivated\n");
        let e = exec(s, &cfg, &["user", "token", "bob"], "")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("deactivated"), "{e}");
        exec(s, &cfg, &["user", "activate", "bob"], "")
            .await
            .unwrap();
        assert!(
            s.find_user_by_username("bob")
                .await
                .unwrap()
                .unwrap()
                .is_active
        );

        let e = exec(s, &cfg, &["group", "remove", "lab-a"], "")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("in use by 1 user(s) (bob)"), "{e}");
        let groups = text(&exec(s, &cfg, &["group", "list"], "").await.unwrap().out);
        assert!(
            groups
                .lines()
                .any(|l| l.contains("lab-a") && l.ends_with('1')),
            "{groups}"
        );
        let r = exec(s, &cfg, &["user", "groups", "bob", "--remove", "lab-a"], "")
            .await
            .unwrap();
        assert_eq!(text(&r.out), "bob: node:edit:any\n");
        let r = exec(s, &cfg, &["user", "groups", "bob", "--remove", "lab-a"], "")
            .await
            .unwrap();
        assert!(text(&r.err).contains("not in group 'lab-a'"));
        exec(s, &cfg, &["group", "remove", "lab-a"], "")
            .await
            .unwrap();
        let e = exec(s, &cfg, &["group", "remove", "lab-a"], "")
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "there is no group named 'lab-a'");
        let e = exec(s, &cfg, &["user", "token", "nobody"], "")
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "there is no user named 'nobody'");
    }
}
