//! The admin commands (`maestro-server user ...`, `group ...`) of the real binary, on the
//! store of a test server, checked over the server's HTTP API.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use maestro_e2e::{Backend, Server, admin_command};
use reqwest::Method;
use serde_json::{Value, json};

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// A clean failure: exit code 1, a one-line message on stderr, nothing on stdout.
    #[track_caller]
    fn fails_with(self, message: &str) -> Self {
        assert_eq!(self.code, 1, "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        assert!(
            self.stderr.starts_with("maestro-server: error: "),
            "{self:?}"
        );
        assert!(self.stderr.contains(message), "{message:?} not in {self:?}");
        assert_eq!(self.stderr.trim_end().lines().count(), 1, "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self
    }
}

/// Runs `maestro-server [store flags] ARGS` with `stdin` as standard input (closed when
/// `None`) and `env` added.
fn cli_env(
    data_dir: &Path,
    backend: &Backend,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = admin_command(data_dir, backend);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting maestro-server");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn cli(data_dir: &Path, backend: &Backend, args: &[&str], stdin: Option<&str>) -> Run {
    cli_env(data_dir, backend, args, stdin, &[])
}

/// Status and body of `POST /latest/user/login`.
async fn login(server: &Server, username: &str, password: &str) -> (u16, Value) {
    let r = server
        .client()
        .http
        .post(format!("{}/latest/user/login", server.url))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Status and body of `GET /latest/whoami` with `token`.
async fn whoami(server: &Server, token: &str) -> (u16, Value) {
    let mut c = server.client();
    c.token = Some(token.to_owned());
    c.call(Method::GET, "/latest/whoami", None).await
}

/// `whoami` once its answer satisfies `done`, or the last one seen after a few seconds: a
/// change made by the admin command (another process) reaches a running server's user cache
/// within its TTL (`store::user_cache::USER_CACHE_TTL`, 2 s), not at once.
async fn whoami_until(
    server: &Server,
    token: &str,
    done: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    loop {
        let (status, body) = whoami(server, token).await;
        if done(status, &body) || std::time::Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The row of `username` in the `user list` table, split on whitespace.
fn user_row(table: &str, username: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.get(1).map(String::as_str) == Some(username))
        .unwrap_or_else(|| panic!("no row for {username} in:\n{table}"))
}

/// Users and groups made with the CLI while the server runs, checked over HTTP.
async fn cli_manages_users_and_groups(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), backend);
    let (data, backend) = (server.data_dir().to_owned(), server.backend().clone());
    let run = |args: &[&str], stdin: Option<&str>| cli(&data, &backend, args, stdin);

    let out = run(&["group", "add", "lab-a"], None).ok().stdout;
    assert!(out.starts_with("created group 'lab-a' with id "), "{out}");
    run(&["group", "add", "lab-a"], None).fails_with("group 'lab-a' already exists");

    // Password on stdin, never in argv.
    let add = [
        "user",
        "add",
        "alice",
        "--email",
        "alice@example.org",
        "--group",
        "lab-a",
    ];
    let out = run(&add, Some("first-pass\n")).ok().stdout;
    assert!(out.starts_with("created user 'alice' with id "), "{out}");
    run(&add, Some("x\n")).fails_with("user 'alice' already exists");

    let table = run(&["user", "list"], None).ok().stdout;
    assert_eq!(
        table
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "ID",
            "USERNAME",
            "EMAIL",
            "ACTIVE",
            "SUPERUSER",
            "VERIFIED",
            "GROUPS"
        ]
    );
    let alice = user_row(&table, "alice");
    assert_eq!(
        alice[2..],
        ["alice@example.org", "yes", "no", "yes", "lab-a"]
    );
    assert_eq!(user_row(&table, "admin")[3..6], ["yes", "yes", "yes"]);

    // A token from the CLI is accepted by the running server.
    let token = run(&["user", "token", "alice"], None).ok();
    assert!(token.stderr.is_empty(), "{token:?}");
    assert_eq!(token.stdout.lines().count(), 1, "only the token: {token:?}");
    let token = token.stdout.trim().to_owned();
    let (s, who) = whoami(&server, &token).await;
    assert_eq!(s, 200, "{who}");
    assert_eq!(who["username"], "alice");
    assert_eq!(who["id"], json!(alice[0]));
    assert_eq!(who["groups"][0]["name"], "lab-a");
    assert_eq!(who["is_superuser"], false);
    assert_eq!(login(&server, "alice", "first-pass").await.0, 200);

    // set-password: the new one logs in, the old one no longer.
    run(&["user", "set-password", "alice"], Some("second-pass\n")).ok();
    let (s, body) = login(&server, "alice", "second-pass").await;
    assert_eq!(s, 200, "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(login(&server, "alice", "first-pass").await.0, 400);

    // deactivate: the server refuses the token and the login; activate restores both.
    let out = run(&["user", "deactivate", "alice"], None).ok().stdout;
    assert_eq!(out, "user 'alice' is now deactivated\n");
    assert_eq!(whoami_until(&server, &token, |s, _| s == 401).await.0, 401);
    assert_eq!(login(&server, "alice", "second-pass").await.0, 400);
    run(&["user", "token", "alice"], None).fails_with("user 'alice' is deactivated");
    assert_eq!(
        user_row(&run(&["user", "list"], None).ok().stdout, "alice")[3],
        "no"
    );
    run(&["user", "activate", "alice"], None).ok();
    assert_eq!(whoami_until(&server, &token, |s, _| s == 200).await.0, 200);

    // A group in use cannot be removed; once taken from its users it can.
    let group_table = run(&["group", "list"], None).ok().stdout;
    let row = group_table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("lab-a"))
        .unwrap_or_else(|| panic!("no lab-a in:\n{group_table}"));
    assert_eq!(row.split_whitespace().nth(2), Some("1"), "{group_table}");
    run(&["group", "remove", "lab-a"], None)
        .fails_with("group 'lab-a' is in use by 1 user(s) (alice)");
    let out = run(&["user", "groups", "alice", "--remove", "lab-a"], None)
        .ok()
        .stdout;
    assert_eq!(out, "alice: -\n");
    let (_, who) = whoami_until(&server, &token, |_, b| b["groups"] == json!([])).await;
    assert_eq!(who["groups"], json!([]));
    assert_eq!(
        run(&["group", "remove", "lab-a"], None).ok().stdout,
        "removed group 'lab-a'\n"
    );
    run(&["group", "remove", "lab-a"], None).fails_with("there is no group named 'lab-a'");
    let group_table = run(&["group", "list"], None).ok().stdout;
    assert!(!group_table.contains("lab-a"), "{group_table}");
    assert!(group_table.contains("node:edit:any"), "{group_table}");
}

#[tokio::test]
async fn sqlite_cli_manages_users_and_groups() {
    cli_manages_users_and_groups(Backend::Sqlite).await;
}

#[tokio::test]
async fn mongodb_cli_manages_users_and_groups() {
    if let Some(b) = Backend::mongo("cli") {
        cli_manages_users_and_groups(b).await;
    }
}

/// Bootstrap: a superuser made with the CLI before the server ever ran (password from
/// `MAESTRO_NEW_PASSWORD`) can log in and edit any node through the built-in group.
#[tokio::test]
async fn sqlite_cli_bootstraps_a_store_before_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let b = Backend::Sqlite;
    cli_env(
        &data,
        &b,
        &[
            "user",
            "add",
            "root",
            "--email",
            "root@example.org",
            "--superuser",
            "--group",
            "node:edit:any",
        ],
        None,
        &[("MAESTRO_NEW_PASSWORD", "from-env")],
    )
    .ok();
    // The token is signed with the secret the server will use from the same data dir.
    let token = cli(&data, &b, &["user", "token", "root"], None).ok().stdout;
    let server = Server::start_with_data_dir(data, b);
    let (s, who) = whoami(&server, token.trim()).await;
    assert_eq!(s, 200, "{who}");
    assert_eq!(
        (
            who["is_superuser"].clone(),
            who["groups"][0]["name"].clone()
        ),
        (json!(true), json!("node:edit:any"))
    );
    assert_eq!(login(&server, "root", "from-env").await.0, 200);
}

#[tokio::test]
async fn cli_errors_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let b = Backend::Sqlite;
    // Even with backtraces asked for, errors are one line.
    let run = |args: &[&str], stdin: Option<&str>| {
        cli_env(&data, &b, args, stdin, &[("RUST_BACKTRACE", "1")])
    };

    // No database there yet: reading commands refuse rather than create an empty one.
    run(&["user", "list"], None).fails_with("there is no Maestro database in");
    assert!(!data.exists());

    run(&["group", "add", "g"], None).ok();
    run(
        &["user", "add", "bob", "--email", "bob@example.org"],
        Some("pw\n"),
    )
    .ok();
    for (args, message) in [
        (
            &["user", "token", "nobody"][..],
            "there is no user named 'nobody'",
        ),
        (
            &["user", "deactivate", "nobody"],
            "there is no user named 'nobody'",
        ),
        (
            &["user", "activate", "nobody"],
            "there is no user named 'nobody'",
        ),
        (
            &["user", "groups", "bob", "--add", "nope"],
            "there is no group named 'nope'",
        ),
        (
            &["group", "remove", "nope"],
            "there is no group named 'nope'",
        ),
        (&["group", "add", "g"], "group 'g' already exists"),
        (&["group", "add", "a b"], "invalid group name"),
    ] {
        run(args, None).fails_with(message);
    }
    run(&["user", "set-password", "nobody"], Some("pw\n"))
        .fails_with("there is no user named 'nobody'");
    run(
        &["user", "add", "bob", "--email", "other@example.org"],
        Some("pw\n"),
    )
    .fails_with("user 'bob' already exists");
    run(
        &["user", "add", "bobby", "--email", "BOB@example.org"],
        Some("pw\n"),
    )
    .fails_with("email address 'BOB@example.org' is already used by user 'bob'");
    run(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "c@example.org",
            "--group",
            "nope",
        ],
        Some("pw\n"),
    )
    .fails_with("there is no group named 'nope'");
    run(
        &["user", "add", "carol", "--email", "not-an-email"],
        Some("pw\n"),
    )
    .fails_with("invalid email address");
    // No password: stdin closed, or an empty line.
    run(&["user", "add", "carol", "--email", "c@example.org"], None).fails_with("no password");
    run(&["user", "set-password", "bob"], Some("\n")).fails_with("the password is empty");
    let table = run(&["user", "list"], None).ok().stdout;
    assert!(!table.contains("carol"), "{table}");

    // A password cannot be given as an argument: a usage error (clap's exit code 2).
    let r = run(
        &["user", "add", "carol", "--email", "c@example.org", "secret"],
        None,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("unexpected argument"), "{r:?}");
    let r = run(&["user", "frobnicate"], None);
    assert_eq!(r.code, 2, "{r:?}");
}

/// `purge-nodes` next to a running server: it takes no lock, counts and deletes only old
/// nodes (none of those the API just made), and refuses a cut-off of 0 days.
async fn purge_nodes_runs_next_to_the_server(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), backend);
    let (data, backend) = (server.data_dir().to_owned(), server.backend().clone());
    let admin = server.admin().await;
    let made = admin
        .create(&json!({"kind": "test", "name": "fresh", "path": ["fresh"]}))
        .await;
    let out = cli(&data, &backend, &["purge-nodes", "--dry-run"], None)
        .ok()
        .stdout;
    assert!(out.starts_with("0 nodes created before "), "{out}");
    let args = ["purge-nodes", "--older-than-days", "1"];
    let out = cli(&data, &backend, &args, None).ok().stdout;
    assert!(out.starts_with("deleted 0 nodes created before "), "{out}");
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        admin.get(&format!("/latest/node/{id}")).await["name"],
        "fresh"
    );
    let zero = ["purge-nodes", "--older-than-days", "0"];
    cli(&data, &backend, &zero, None).fails_with("--older-than-days must be 1 or more");
    let metrics = admin
        .http
        .get(format!("{}/metrics", admin.base))
        .send()
        .await;
    let text = metrics.unwrap().text().await.unwrap();
    assert!(text.contains("nodes_purged{instance=\"api\"} 0"), "{text}");
}

#[tokio::test]
async fn sqlite_purge_nodes_runs_next_to_the_server() {
    purge_nodes_runs_next_to_the_server(Backend::Sqlite).await;
}

#[tokio::test]
async fn mongodb_purge_nodes_runs_next_to_the_server() {
    let Some(b) = Backend::mongo("purge_nodes_cli") else {
        return;
    };
    purge_nodes_runs_next_to_the_server(b).await;
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for path in [
        "",
        "serve",
        "user",
        "user add",
        "user list",
        "user set-password",
        "user token",
        "user activate",
        "user deactivate",
        "user groups",
        "group",
        "group add",
        "group list",
        "group remove",
        "check",
        "purge-nodes",
    ] {
        let mut args: Vec<&str> = path.split_whitespace().collect();
        args.push("--help");
        let r = cli(&data, &Backend::Sqlite, &args, None).ok();
        let usage = format!("Usage: maestro-server {path}")
            .trim_end()
            .to_owned();
        assert!(r.stdout.contains(&usage), "{path}: {r:?}");
        // Every argument and option has a description on its line.
        for line in r.stdout.lines().map(str::trim) {
            if line.starts_with('<') || line.starts_with("--") {
                let described =
                    line.contains("  ") || r.stdout.contains(&format!("{line}\n          "));
                assert!(described, "{path}: undescribed {line:?} in\n{}", r.stdout);
            }
        }
    }
    assert!(!data.exists(), "--help touches no store");
}

#[test]
fn check_reports_a_damaged_database_and_the_server_refuses_it() {
    use std::io::{Seek, SeekFrom};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for i in 0..400 {
        cli(
            &data,
            &Backend::Sqlite,
            &["group", "add", &format!("group-with-a-long-name-{i:04}")],
            None,
        )
        .ok();
    }
    let r = cli(&data, &Backend::Sqlite, &["check"], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.trim_end().ends_with(": ok"), "{r:?}");

    let db = data.join("maestro.sqlite3");
    let len = std::fs::metadata(&db).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.seek(SeekFrom::Start(len / 2 / 4096 * 4096)).unwrap();
    f.write_all(&vec![0x5A; 2 * 4096]).unwrap();
    drop(f);
    let r = cli(&data, &Backend::Sqlite, &["check"], None);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("is damaged"), "{r:?}");
    assert!(!r.stdout.is_empty(), "the problems are listed: {r:?}");

    let out = Command::new(maestro_e2e::server_binary())
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("MAESTRO_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is damaged") && err.contains("maestro-server check"),
        "{err}"
    );
}
