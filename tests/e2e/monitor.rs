//! The monitor against the real server binary on a loopback port: API changes reach the
//! rendered screen, a restarted server is resumed from with nothing missed, edits land (and
//! a refused one shows the server's 401), a server without `/latest/ws` is followed by
//! long-poll, and `maestro watch` exits 0, 1, 2 and 3.
use std::process::{Command, Stdio};
use std::time::Duration;

use maestro_e2e::{Backend, Client, Server, admin_command, monitor_binary};
use maestro_tui::action::{Action, InputKey};
use maestro_tui::app::App;
use maestro_tui::config::{Config, Secret};
use maestro_tui::state::{ConnState, Pane, State};
use maestro_tui::ui::{self, Theme, Ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};

/// How long a change may take to reach the screen before the test fails.
const WAIT: Duration = Duration::from_secs(20);

fn config(url: &str, token: Option<&str>) -> Config {
    Config {
        url: maestro_tui::config::parse_base_url(url).unwrap(),
        token: token.map(Secret::new),
        read_only: false,
        server_name: None,
        mouse: false,
    }
}

fn screen(app: &mut App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let mut view = Ui::default();
    let (state, theme) = (&app.state, Theme { color: false });
    terminal
        .draw(|f| ui::render(f, &mut view, state, theme))
        .unwrap();
    terminal.backend().to_string()
}

/// A checkout with one kbuild and one job holding `tests` (name, result) through a
/// hierarchy write, as the pipeline submits results. Returns the checkout, kbuild and job.
async fn revision(c: &Client, describe: &str, tests: &[(&str, &str)]) -> (Value, Value, Value) {
    let kr = json!({"tree": "mainline", "branch": "master", "describe": describe,
        "commit": format!("{:0>40}", describe.replace(['.', '-'], "")),
        "url": "https://git.kernel.org/torvalds/linux.git"});
    let checkout = c
        .create(
            &json!({"kind": "checkout", "name": "checkout", "path": ["checkout"],
            "data": {"kernel_revision": kr}}),
        )
        .await;
    let kbuild = c
        .create(
            &json!({"kind": "kbuild", "name": "kbuild-gcc-12-x86", "parent": checkout["id"],
            "path": ["checkout", "kbuild-gcc-12-x86"], "state": "done", "result": "pass",
            "data": {"kernel_revision": kr, "arch": "x86_64", "config_full": "defconfig"}}),
        )
        .await;
    let mut job = c
        .create(
            &json!({"kind": "job", "name": "baseline-qemu", "parent": kbuild["id"],
            "path": ["checkout", "kbuild-gcc-12-x86", "baseline-qemu"],
            "data": {"kernel_revision": kr, "platform": "qemu", "runtime": "lava-x"}}),
        )
        .await;
    if !tests.is_empty() {
        let children: Vec<Value> = tests
            .iter()
            .map(|(name, result)| {
                json!({"node": {"kind": "test", "name": name, "state": "done", "result": result,
                    "path": ["checkout", "kbuild-gcc-12-x86", "baseline-qemu", name],
                    "data": {"kernel_revision": kr, "platform": "qemu"}}, "child_nodes": []})
            })
            .collect();
        job["state"] = json!("done");
        job["result"] = json!("pass");
        let path = format!("/latest/nodes/{}", job["id"].as_str().unwrap());
        let (s, v) = c
            .call(
                Method::PUT,
                &path,
                Some(&json!({"node": job, "child_nodes": children})),
            )
            .await;
        assert_eq!(s, 200, "hierarchy: {v}");
    }
    (checkout, kbuild, job)
}

async fn patch(c: &Client, id: &Value, body: Value) -> (u16, Value) {
    c.call(
        Method::PATCH,
        &format!("/latest/node/{}", id.as_str().unwrap()),
        Some(&body),
    )
    .await
}

fn node_named<'a>(s: &'a State, name: &str) -> Option<&'a maestro_tui::model::NodeSummary> {
    s.open.as_ref()?.forest.nodes().find(|n| n.name == name)
}

/// Opens the newest revision and waits until its tree holds `nodes` nodes.
async fn open_newest(app: &mut App, nodes: usize) {
    assert!(
        app.run_until(WAIT, |s| !s.revisions.is_empty() && s.stream_started)
            .await,
        "revisions never loaded: {:?}",
        app.state.notice
    );
    app.handle(Action::Activate);
    assert!(
        app.run_until(WAIT, |s| s
            .open
            .as_ref()
            .is_some_and(|o| !o.loading && o.forest.len() >= nodes))
            .await,
        "the tree never loaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_change_reaches_the_screen_and_a_restart_loses_nothing() {
    change_and_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_change_reaches_the_screen_and_a_restart_loses_nothing_on_mongodb() {
    if let Some(b) = Backend::mongo("monitor") {
        change_and_restart(b).await;
    }
}

async fn change_and_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), backend);
    let admin = server.admin().await;
    let (_, _, job) = revision(&admin, "v6.1", &[("login", "pass"), ("dmesg", "pass")]).await;
    let mut app = App::new(
        &config(&server.url, admin.token.as_deref()),
        Theme { color: false },
    );
    app.start();
    open_newest(&mut app, 5).await;
    assert!(
        app.run_until(WAIT, |s| s.conn == ConnState::Live).await,
        "{:?}",
        app.state.conn
    );
    for a in [
        Action::MoveDown,
        Action::Expand,
        Action::MoveDown,
        Action::Expand,
    ] {
        app.handle(a);
    }
    let before = screen(&mut app);
    assert!(before.contains("✓ login"), "{before}");

    // A result changed through the API shows in place.
    let login = node_named(&app.state, "login").unwrap().id.clone();
    let (s, _) = patch(&admin, &json!(login), json!({"result": "fail"})).await;
    assert_eq!(s, 200);
    assert!(
        app.run_until(WAIT, |s| node_named(s, "login")
            .is_some_and(|n| n.result == Some(maestro_common::NodeResult::Fail)))
            .await
    );
    let after = screen(&mut app);
    assert!(after.contains("✗ login"), "{after}");
    assert!(
        after.contains("Events 1"),
        "the event is in the feed:\n{after}"
    );
    let seen = app.state.last_sequence.unwrap();

    // The server crashes and comes back; changes made before the monitor reconnects are
    // replayed from the last sequence it saw, none missed.
    let server = server.crash_and_restart();
    let admin = server.admin().await;
    for name in ["dmesg", "login"] {
        let id = node_named(&app.state, name).unwrap().id.clone();
        let (s, _) = patch(&admin, &json!(id), json!({"result": "skip"})).await;
        assert_eq!(s, 200);
    }
    let (s, _) = patch(&admin, &job["id"], json!({"result": "fail"})).await;
    assert_eq!(s, 200);
    assert!(
        app.run_until(WAIT, |s| s.last_sequence == Some(seen + 3)
            && s.conn == ConnState::Live)
            .await,
        "resumed to {:?} (from {seen}), {:?}",
        app.state.last_sequence,
        app.state.conn
    );
    let seqs: Vec<u64> = app.state.events.iter().filter_map(|e| e.sequence).collect();
    assert_eq!(
        seqs,
        [seen, seen + 1, seen + 2, seen + 3],
        "no gap, no duplicate"
    );
    let text = screen(&mut app);
    assert!(
        text.contains("∅ login") && text.contains("∅ dmesg"),
        "{text}"
    );
    assert!(text.contains("✗ baseline-qemu"), "{text}");
}

/// `maestro-server user add NAME` then `user token NAME` on the server's store.
fn make_user(server: &Server, name: &str) -> String {
    let out = admin_command(server.data_dir(), server.backend())
        .args([
            "user",
            "add",
            "--email",
            &format!("{name}@example.org"),
            name,
        ])
        .env("MAESTRO_NEW_PASSWORD", "Another-Pass-1234")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = admin_command(server.data_dir(), server.backend())
        .args(["user", "token", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_lands_and_a_refused_one_shows_the_401() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Backend::Sqlite);
    let admin = server.admin().await;
    revision(&admin, "v6.2", &[("login", "fail")]).await;

    let mut app = App::new(
        &config(&server.url, admin.token.as_deref()),
        Theme { color: false },
    );
    app.start();
    assert!(app.run_until(WAIT, |s| s.whoami.is_some()).await);
    open_newest(&mut app, 4).await;
    let login = node_named(&app.state, "login").unwrap().id.clone();
    app.state.open.as_mut().unwrap().reveal(&login);
    app.handle(Action::Input(InputKey::Esc));
    app.state.focus = Pane::Tree;
    app.handle(Action::Reload);
    app.run_until(WAIT, |s| s.open.as_ref().is_some_and(|o| !o.loading))
        .await;
    app.state.open.as_mut().unwrap().reveal(&login);
    app.run_effect(maestro_tui::effect::Effect::LoadNode(login.clone()));
    assert!(
        app.run_until(WAIT, |s| s
            .details
            .as_ref()
            .is_some_and(|d| d.id_str() == login))
            .await
    );
    // Result fail -> skip through the form, once the server said yes.
    app.handle(Action::StartEdit);
    assert!(
        app.run_until(WAIT, |s| matches!(
            s.popup,
            maestro_tui::state::Popup::Edit(_)
        ))
        .await
    );
    for a in [
        Action::Input(InputKey::Tab),
        Action::Input(InputKey::Right),
        Action::Input(InputKey::Enter),
        Action::Input(InputKey::Enter),
    ] {
        app.handle(a);
    }
    assert!(
        app.run_until(WAIT, |s| s
            .notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("saved")))
            .await,
        "{:?}",
        app.state.notice
    );
    let stored = admin.get(&format!("/latest/node/{login}")).await;
    assert_eq!(stored["result"], "skip");

    // Bob may not edit admin's node: the server says so and the monitor offers no form...
    let bob = make_user(&server, "bob");
    let mut other = App::new(&config(&server.url, Some(&bob)), Theme { color: false });
    other.start();
    assert!(other.run_until(WAIT, |s| s.whoami.is_some()).await);
    open_newest(&mut other, 4).await;
    other.state.open.as_mut().unwrap().reveal(&login);
    other.state.focus = Pane::Tree;
    other.run_effect(maestro_tui::effect::Effect::LoadNode(login.clone()));
    assert!(
        other
            .run_until(WAIT, |s| s
                .details
                .as_ref()
                .is_some_and(|d| d.id_str() == login))
            .await
    );
    other.handle(Action::StartEdit);
    assert!(
        other
            .run_until(WAIT, |s| s
                .notice
                .as_ref()
                .is_some_and(|n| n.text.contains("may not edit")))
            .await,
        "{:?}",
        other.state.notice
    );
    assert!(!matches!(
        other.state.popup,
        maestro_tui::state::Popup::Edit(_)
    ));
    // ...and an edit sent anyway (rights withdrawn after a form opened) shows the 401.
    other.run_effect(maestro_tui::effect::Effect::SaveNode {
        id: login.clone(),
        body: json!({"result": "fail"}),
    });
    assert!(
        other
            .run_until(WAIT, |s| s
                .notice
                .as_ref()
                .is_some_and(|n| n.error && n.text.contains("401")))
            .await,
        "{:?}",
        other.state.notice
    );
    let text = screen(&mut other);
    assert!(text.contains("not saved: 401"), "{text}");
    let stored = admin.get(&format!("/latest/node/{login}")).await;
    assert_eq!(stored["result"], "skip", "unchanged");
}

/// A proxy to `upstream` that answers 404 to `/latest/ws`, as a server without the
/// WebSocket stream (the Python API) does.
async fn proxy_without_ws(upstream: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let Ok(n) = inbound.read(&mut head).await else {
                    return;
                };
                head.truncate(n);
                let first = String::from_utf8_lossy(&head);
                if first
                    .lines()
                    .next()
                    .is_some_and(|l| l.contains("/latest/ws"))
                {
                    let _ = inbound
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 22\r\n\r\n{\"detail\":\"Not Found\"}")
                        .await;
                    return;
                }
                let Ok(mut out) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                if out.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_websocket_it_follows_events_by_long_poll() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Backend::Sqlite);
    let admin = server.admin().await;
    revision(&admin, "v6.3", &[("login", "pass")]).await;
    let url = proxy_without_ws(server.url.clone()).await;
    let mut app = App::new(
        &config(&url, admin.token.as_deref()),
        Theme { color: false },
    );
    app.start();
    open_newest(&mut app, 4).await;
    assert!(
        app.run_until(WAIT, |s| s.conn == ConnState::LongPoll).await,
        "{:?}",
        app.state.conn
    );
    // The subscription is made; give the listen a moment to be in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let login = node_named(&app.state, "login").unwrap().id.clone();
    let (s, _) = patch(&admin, &json!(login), json!({"result": "fail"})).await;
    assert_eq!(s, 200);
    assert!(
        app.run_until(WAIT, |s| node_named(s, "login")
            .is_some_and(|n| n.result == Some(maestro_common::NodeResult::Fail)))
            .await
    );
    let text = screen(&mut app);
    assert!(text.contains("live (long-poll)"), "{text}");
}

/// The `maestro` binary next to the test executable.
fn watch(url: &str, token: Option<&str>, node: &str) -> std::process::Child {
    let mut cmd = Command::new(monitor_binary());
    cmd.args(["--url", url, "watch", node, "--timeout", "30"])
        .env_remove("MAESTRO_TOKEN")
        .env("XDG_STATE_HOME", std::env::temp_dir())
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("maestro-e2e-none"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    cmd.spawn().unwrap()
}

fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exits_with_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Backend::Sqlite);
    let admin = server.admin().await;
    let token = admin.token.clone();
    let token = token.as_deref();

    let (_, _, passed) = revision(&admin, "v6.4", &[("a", "pass"), ("b", "pass")]).await;
    let (code, out) = finish(watch(&server.url, token, passed["id"].as_str().unwrap()));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pass: "), "{out}");

    let (_, _, failed) = revision(&admin, "v6.5", &[("a", "pass"), ("b", "fail")]).await;
    let (code, out) = finish(watch(&server.url, token, failed["id"].as_str().unwrap()));
    assert_eq!(code, 1, "{out}");

    // Followed live: the job runs, then finishes incomplete.
    let (_, _, running) = revision(&admin, "v6.6", &[]).await;
    let child = watch(&server.url, token, running["id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, _) = patch(
        &admin,
        &running["id"],
        json!({"state": "done", "result": "incomplete"}),
    )
    .await;
    assert_eq!(s, 200);
    let (code, out) = finish(child);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("incomplete"), "{out}");

    // Nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (code, _) = finish(watch(&closed, None, passed["id"].as_str().unwrap()));
    assert_eq!(code, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_websocket_and_a_token_it_polls() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Backend::Sqlite);
    let admin = server.admin().await;
    revision(&admin, "v6.7", &[("login", "pass")]).await;
    let url = proxy_without_ws(server.url.clone()).await;
    let mut app = App::new(&config(&url, None), Theme { color: false });
    app.start();
    open_newest(&mut app, 4).await;
    assert!(
        app.run_until(WAIT, |s| s.conn == ConnState::Polling).await,
        "{:?}",
        app.state.conn
    );
    let login = node_named(&app.state, "login").unwrap().id.clone();
    let (s, _) = patch(&admin, &json!(login), json!({"result": "fail"})).await;
    assert_eq!(s, 200);
    assert!(
        app.run_until(WAIT, |s| node_named(s, "login")
            .is_some_and(|n| n.result == Some(maestro_common::NodeResult::Fail)))
            .await
    );
    let text = screen(&mut app);
    assert!(
        text.contains("polling") && text.contains("read-only"),
        "{text}"
    );
}
