//! The demo and the simulator against the real binaries: `maestro demo --headless` makes
//! its revisions, whose trees end all `done` with a realistic mix of results, and leaves
//! nothing running (also when stopped by a signal); the simulator serves the logs it links
//! to and re-runs a job asked for on channel `retry`, as the monitor's `R` asks.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use maestro_e2e::{Backend, Server, monitor_binary, server_binary};
use maestro_tui::sim::{self, Progress, SimOptions, catalog};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The demo in headless mode on the real binaries, with its data under `dir`.
fn headless_demo(dir: Option<&Path>, tmp: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(monitor_binary());
    cmd.args(["demo", "--headless", "--server-bin"])
        .arg(server_binary())
        .args(args)
        .env("TMPDIR", tmp)
        .env("XDG_STATE_HOME", tmp)
        .env("XDG_CONFIG_HOME", tmp.join("no-config"))
        .env_remove("MAESTRO_TOKEN")
        .env_remove("MAESTRO_URL")
        .env_remove("CARGO")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(d) = dir {
        cmd.arg("--dir").arg(d);
    }
    cmd
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            found.push(text);
        }
    }
    found
}

/// Waits for `child` to exit, at most `limit`.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the demo did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn headless_demo_completes_its_revisions_leaves_nothing_running_and_runs_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let mut child = headless_demo(
        Some(&dir),
        tmp.path(),
        &[
            "--size",
            "small",
            "--rate",
            "25",
            "--revisions",
            "2",
            "--seed",
            "3",
        ],
    )
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let status = wait_exit(&mut child, Duration::from_secs(240));
    let lines = reader.join().unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "{status}:\n{text}");
    let starting = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(starting("revision "), 2, "{text}");
    assert_eq!(starting("done "), 2, "{text}");
    assert!(
        starting("  job ") >= 2 * 4,
        "a line per finished job:\n{text}"
    );
    assert!(text.contains("tests: ") && text.contains(" pass"), "{text}");
    assert!(lines.last().unwrap().contains("2 revisions done"), "{text}");
    let url = lines[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    assert!(
        processes_mentioning(&dir.to_string_lossy()).is_empty(),
        "left running: {:?}",
        processes_mentioning(&dir.to_string_lossy())
    );
    assert!(
        reqwest::get(format!("{url}latest/")).await.is_err(),
        "the demo's server still answers"
    );

    // Again on the same directory: its passwords were kept, the store grows.
    let again = headless_demo(
        Some(&dir),
        tmp.path(),
        &[
            "--size",
            "small",
            "--rate",
            "25",
            "--revisions",
            "1",
            "--seed",
            "4",
        ],
    )
    .status()
    .unwrap();
    assert!(again.success(), "a second run on the same --dir: {again}");

    // What it left in its store: every tree wholly done, with results of every kind.
    let server = Server::start_with_data_dir(dir.join("data"), Backend::Sqlite);
    let c = server.client();
    let count = |q: &'static str| {
        let c = &c;
        async move { c.get(&format!("/latest/count?{q}")).await.as_u64().unwrap() }
    };
    assert_eq!(count("kind=checkout").await, 3);
    assert_eq!(count("state__ne=done").await, 0, "every node ends done");
    let builds = catalog::builds(catalog::Size::Small).len() as u64;
    assert_eq!(count("kind=kbuild").await, 3 * builds);
    assert!(count("kind=test&result=pass").await > 100);
    assert!(count("kind=test&result=skip").await > 0);
    assert!(count("kind=job&result=pass").await > 0);
    let checkouts = c.get("/latest/nodes?kind=checkout").await;
    for co in checkouts["items"].as_array().unwrap() {
        assert_eq!(co["result"], "pass");
        let rev = &co["data"]["kernel_revision"];
        assert_eq!(rev["commit"].as_str().unwrap().len(), 40);
        assert!(
            rev["describe"]
                .as_str()
                .unwrap()
                .contains(rev["version"]["patchlevel"].to_string().as_str())
        );
        assert!(
            co["artifacts"]["tarball"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_stops_the_demo_and_removes_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = headless_demo(None, tmp.path(), &["--size", "small", "--rate", "5"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first_revision = loop {
        let line = lines.next().expect("the demo printed a revision").unwrap();
        if line.starts_with("revision ") {
            break line;
        }
    };
    let demo_dir = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("maestro-demo-"))
        .expect("the demo's temporary directory")
        .path();
    assert!(demo_dir.join("data").is_dir(), "{first_revision}");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(128 + 15), "{status}");
    assert!(!demo_dir.exists(), "the directory was removed");
    let needle = demo_dir.to_string_lossy().into_owned();
    assert!(
        processes_mentioning(&needle).is_empty(),
        "left running: {:?}",
        processes_mentioning(&needle)
    );
}

/// Waits for the first progress report `pick` accepts.
async fn wait_for<T>(
    rx: &mut mpsc::UnboundedReceiver<Progress>,
    mut pick: impl FnMut(&Progress) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let p = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the simulator reported in time")
            .expect("the simulator runs");
        if let Some(t) = pick(&p) {
            return t;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_serves_its_logs_and_reruns_a_job_asked_on_channel_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), Backend::Sqlite);
    let admin = server.admin().await;
    let base = url::Url::parse(&format!("{}/", server.url)).unwrap();
    let token = maestro_tui::demo::pipeline_user(&base, admin.token.as_deref().unwrap())
        .await
        .unwrap();
    let api = sim::api::Api::new(base, token).unwrap();
    let opts = SimOptions {
        revisions: Some(1),
        rate: 25.0,
        size: catalog::Size::Small,
        seed: 11,
        artifacts_dir: Some(tmp.path().join("artifacts")),
        ..SimOptions::default()
    };
    let stop = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = tokio::spawn(sim::run(api, opts, stop.clone(), tx));

    let job_id = wait_for(&mut rx, |p| match p {
        Progress::JobDone {
            id, tests: Some(_), ..
        } => Some(id.clone()),
        _ => None,
    })
    .await;
    let c = server.client();
    let job = c.get(&format!("/latest/node/{job_id}")).await;
    assert_eq!(job["owner"], "kernelci-pipeline");
    assert_eq!(job["state"], "done");
    let tests = c
        .get(&format!("/latest/count?kind=test&parent={job_id}"))
        .await;
    assert!(tests.as_u64().unwrap() > 0, "its results are below it");

    // Its log is served, with Range as the monitor's log view asks.
    let log_url = job["artifacts"]["lava_log"].as_str().unwrap().to_owned();
    let log = reqwest::get(&log_url).await.unwrap().text().await.unwrap();
    assert!(log.contains("<LAVA_SIGNAL_TESTCASE TEST_CASE_ID="), "{log}");
    let tail = reqwest::Client::new()
        .get(&log_url)
        .header("Range", "bytes=-64")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().len(), 64);

    // A retry as the monitor's `R` publishes it: the parent, narrowed to this job.
    let kbuild = c
        .get(&format!("/latest/node/{}", job["parent"].as_str().unwrap()))
        .await;
    let request = json!({
        "id": kbuild["id"], "kind": "kbuild", "name": kbuild["name"], "path": kbuild["path"],
        "parent": kbuild["parent"], "state": kbuild["state"], "result": kbuild["result"],
        "data": {"kernel_revision": kbuild["data"]["kernel_revision"]},
        "jobfilter": [job["name"]], "platform_filter": [job["data"]["platform"]],
        "retry_counter": 1, "debug": {"retry_by": job_id},
    });
    let (status, _) = admin
        .call(
            Method::POST,
            "/latest/publish/retry",
            Some(&json!({"data": request})),
        )
        .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let rerun: Value = loop {
        let found = c
            .get(&format!(
                "/latest/nodes?kind=job&parent={}&retry_counter=1",
                kbuild["id"].as_str().unwrap()
            ))
            .await;
        if let Some(n) = found["items"].as_array().and_then(|a| a.first())
            && n["state"] == "done"
        {
            break n.clone();
        }
        if Instant::now() > deadline {
            let mut said = Vec::new();
            while let Ok(p) = rx.try_recv() {
                said.push(format!("{p:?}"));
            }
            panic!("no re-run of {job_id}: {found}; the simulator said: {said:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rerun["name"], job["name"]);
    assert_eq!(rerun["data"]["platform"], job["data"]["platform"]);
    assert_eq!(rerun["debug"]["retry_by"], job_id.as_str());
    assert_ne!(rerun["id"], job["id"]);

    stop.cancel();
    running.await.unwrap().unwrap();
}
