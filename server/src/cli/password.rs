//! New passwords for the admin commands (from `MAESTRO_NEW_PASSWORD` or standard input,
//! never the command line) and their hashing.
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, anyhow, bail};

use super::NEW_PASSWORD_ENV;

/// Hashes on the blocking pool: argon2id costs ~100 ms of CPU.
pub(super) async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await?
        .map_err(|e| anyhow!("{e}"))
}

/// The first line of `input` without its line ending; `None` at end of input.
pub(super) fn first_line(input: &mut dyn BufRead) -> anyhow::Result<Option<String>> {
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
