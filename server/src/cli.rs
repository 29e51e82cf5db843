//! The command line of `maestro-server`: serving (the default) and the admin commands that
//! manage users and groups directly in the store, for bootstrap and recovery.
//!
//! The admin commands open the same store the server would with the same options (SQLite in
//! `--data-dir`, or MongoDB with `--mongodb-uri`/`MONGO_SERVICE`), so they work whether or
//! not a server is running on it. New passwords never come from the command line (where
//! `ps` would show them): from `MAESTRO_NEW_PASSWORD`, else from standard input.
//!
//! This module holds the clap definitions and the dispatch; each command group is a module
//! of its own: `users`, `groups`, `check`, `purge`, with the shared `password` and `table`
//! helpers.
//! Serving itself is `main.rs` (over `crate::run`).
use std::io::Write;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::store::Store;

mod check;
mod groups;
mod password;
mod purge;
mod table;
mod users;

pub use password::read_new_password;

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
    /// Delete old nodes now, as the server's background purge does: every node created more
    /// than --older-than-days ago, except checkouts, in batches of --node-purge-batch with
    /// --node-purge-pause-ms between them. Safe while a server runs on the same store; no
    /// events are sent.
    PurgeNodes(PurgeNodes),
}

/// Arguments of `purge-nodes`.
#[derive(Debug, Args)]
pub struct PurgeNodes {
    /// Delete nodes created more than this many days ago (default: --node-purge-age-days,
    /// NODE_PURGE_AGE_DAYS, 180).
    #[arg(long, value_name = "DAYS")]
    pub older_than_days: Option<u64>,
    /// Only count the nodes that would be deleted.
    #[arg(long)]
    pub dry_run: bool,
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
        return check::check(cfg);
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

/// Runs an admin command on `store`; `cfg` gives the token keys.
pub async fn execute(
    store: &dyn Store,
    cfg: &Config,
    cmd: AdminCommand,
    io: &mut Console<'_>,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::User(cmd) => users::user_command(store, cfg, cmd, io).await,
        AdminCommand::Group(cmd) => groups::group_command(store, cmd, io).await,
        AdminCommand::PurgeNodes(args) => purge::purge_nodes(store, cfg, &args, io).await,
        AdminCommand::Check => bail!("`check` runs on the database file, not on a store"),
    }
}

#[cfg(test)]
mod tests;
