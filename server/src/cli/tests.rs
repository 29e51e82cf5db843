//! The admin commands run on a real SQLite store, and the command line's parsing.
use super::password::first_line;
use super::table::table;
use super::users::looks_like_email;
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
    let cli = Cli::try_parse_from(std::iter::once("maestro-server").chain(args.iter().copied()))?;
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

#[tokio::test]
async fn purge_nodes_counts_then_deletes_the_old_non_checkouts() {
    use crate::store::NodeWrite;
    use maestro_common::{Node, Timestamp};

    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::embedded(dir.path().to_owned());
    let store = SqliteStore::open(dir.path()).unwrap();
    let s: &dyn Store = &store;
    let now = Timestamp::now();
    let made = |kind: &str, days_ago: i64, i: u32| {
        let mut n = Node::new(kind, &format!("{kind}-{i}"), vec![]);
        n.id = Some(
            maestro_common::node::ObjectIdHex::parse(&format!("65000000000000000000{i:04x}"))
                .unwrap(),
        );
        n.created = now.plus_seconds(-days_ago * 86_400);
        n.updated = n.created;
        n.timeout = n.created;
        NodeWrite::Insert(n)
    };
    let writes = vec![
        made("test", 400, 1),
        made("kbuild", 200, 2),
        made("checkout", 400, 3),
        made("test", 10, 4),
        made("test", 100, 5),
    ];
    s.write_nodes(writes).await.unwrap();

    let r = exec(s, &cfg, &["purge-nodes", "--dry-run"], "")
        .await
        .unwrap();
    assert!(
        text(&r.out).starts_with("2 nodes created before "),
        "{}",
        text(&r.out)
    );
    assert_eq!(s.count_nodes(&Default::default()).await.unwrap(), 5);
    let r = exec(s, &cfg, &["purge-nodes", "--older-than-days", "50"], "")
        .await
        .unwrap();
    let out = text(&r.out);
    assert!(out.starts_with("deleted 3 nodes created before "), "{out}");
    assert!(out.contains("(more than 50 days ago)"), "{out}");
    let left = s.find_nodes(&Default::default(), 0, None).await.unwrap();
    let names: Vec<&str> = left.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["checkout-3", "test-4"]);

    let e = exec(s, &cfg, &["purge-nodes", "--older-than-days", "0"], "")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1 or more"), "{e}");
    let mut off = cfg.clone();
    off.node_purge_age_days = 0;
    let e = exec(s, &off, &["purge-nodes"], "").await.unwrap_err();
    assert!(e.to_string().contains("give --older-than-days"), "{e}");
    let e = exec(s, &cfg, &["purge-nodes", "--older-than-days", "99999"], "")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at most 36600"), "{e}");
}
