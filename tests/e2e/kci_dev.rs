//! The real KernelCI client `kci-dev` (from `$MAESTRO_TEST_VENV`) against a live server.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use maestro_e2e::{Backend, Server};
use serde_json::{Value, json};

/// The longest one kci-dev command may run before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// `$MAESTRO_TEST_VENV/bin/kci-dev`; `None` (a failure when `CI=true`) when it is missing.
fn kci_dev() -> Option<PathBuf> {
    let venv = std::env::var_os("MAESTRO_TEST_VENV").filter(|v| !v.is_empty());
    // A relative venv path is taken from the workspace root (tests run in tests/).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let bin = venv.map(|v| root.join(v).join("bin").join("kci-dev"));
    match bin {
        Some(b) if b.is_file() => Some(b),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("kci-dev not found: MAESTRO_TEST_VENV must name a venv with kci-dev in CI")
        }
        _ => {
            eprintln!("skipping kci-dev test: no $MAESTRO_TEST_VENV/bin/kci-dev");
            None
        }
    }
}

/// Runs `kci-dev --settings <dir>/kci-dev.toml ARGS` (split on spaces) with HOME=`dir`;
/// returns the exit code and stdout.
fn run(bin: &Path, dir: &Path, args: &str) -> (i32, String) {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(bin)
        .arg("--settings")
        .arg(dir.join("kci-dev.toml"))
        .args(args.split(' '))
        .current_dir(dir)
        .env("HOME", dir)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("starting kci-dev");
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for kci-dev") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kci-dev {args} did not finish in {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(out).unwrap_or_default();
    let stderr = std::fs::read_to_string(err).unwrap_or_default();
    eprintln!("kci-dev {args}: {status}\n{stdout}{stderr}");
    (status.code().unwrap_or(-1), stdout)
}

/// Runs `kci-dev maestro results ARGS`, which must succeed; returns its JSON list.
fn results(bin: &Path, dir: &Path, args: &str) -> Vec<Value> {
    let (code, out) = run(bin, dir, &format!("maestro results {args}"));
    assert_eq!(code, 0, "kci-dev maestro results {args} failed");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn names(nodes: &[Value]) -> Vec<&str> {
    nodes.iter().filter_map(|n| n["name"].as_str()).collect()
}

#[tokio::test]
async fn kci_dev_maestro_commands() {
    let Some(bin) = kci_dev() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Backend::Sqlite);
    let admin = server.admin().await;
    let rev = json!({"tree": "kcidev-e2e-tree", "branch": "master", "commit": "c0ffee",
        "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"});
    // (kind, name, result, data.platform); every node is done.
    let node = |(kind, name, result, platform): (&str, &str, &str, &str), parent: &Value| {
        json!({"kind": kind, "name": name, "path": ["checkout", name], "treeid": "kcidev-e2e",
            "parent": parent["id"], "state": "done", "result": result,
            "data": {"kernel_revision": rev, "platform": platform}})
    };
    let ck = admin
        .create(&node(("checkout", "checkout", "pass", "-"), &Value::Null))
        .await;
    let kb = admin
        .create(&node(("kbuild", "kbuild-kcidev-e2e", "pass", "-"), &ck))
        .await;
    let mut ids = Vec::new();
    let tests = [
        ("kcidev-alpha", "pass", "qemu-kcidev"),
        ("kcidev-beta", "fail", "qemu-kcidev"),
        ("kcidev-gamma", "pass", "board-kcidev"),
    ];
    for (name, result, platform) in tests {
        let n = admin
            .create(&node(("test", name, result, platform), &kb))
            .await;
        ids.push(n["id"].as_str().unwrap().to_owned());
    }
    // Same platform and result as alpha, but in another tree.
    let mut other = node(
        ("test", "kcidev-other-tree", "pass", "qemu-kcidev"),
        &Value::Null,
    );
    other["treeid"] = json!("another-tree");
    other["data"]["kernel_revision"]["tree"] = json!("another-tree");
    admin.create(&other).await;

    let work = tempfile::tempdir().unwrap();
    let url = &server.url;
    let cfg = format!(
        "default_instance = \"e2e\"\n[e2e]\npipeline = \"{url}/\"\napi = \"{url}/\"\ntoken = \"unused\"\n"
    );
    std::fs::write(work.path().join("kci-dev.toml"), cfg).unwrap();
    let (bin, w) = (bin.as_path(), work.path());

    // GET /latest/node/{id}
    let one = results(bin, w, &format!("--nodeid {}", ids[0]));
    assert_eq!(one.len(), 1);
    assert_eq!(
        (&one[0]["id"], &one[0]["name"], &one[0]["kind"]),
        (&json!(ids[0]), &json!("kcidev-alpha"), &json!("test"))
    );

    // GET /latest/nodes/fast?limit=50&offset=0&kind=test&treeid=kcidev-e2e
    let tests = results(
        bin,
        w,
        "--nodes --filter kind=test --filter treeid=kcidev-e2e",
    );
    assert_eq!(
        names(&tests),
        ["kcidev-alpha", "kcidev-beta", "kcidev-gamma"]
    );
    // A data field and a result, projected with --field.
    let picked = results(
        bin,
        w,
        "--nodes --filter data.platform=qemu-kcidev --filter result=pass --field name --field id",
    );
    assert_eq!(picked.len(), 2, "{picked:?}");
    assert_eq!(picked[0], json!({"name": "kcidev-alpha", "id": ids[0]}));
    assert_eq!(picked[1]["name"], "kcidev-other-tree");
    let regex = results(bin, w, "--nodes --filter name__re=^kcidev-(beta|gamma)$");
    assert_eq!(names(&regex), ["kcidev-beta", "kcidev-gamma"]);
    // --tree filters on data.kernel_revision.tree; --count prints the number of nodes.
    let (code, out) = run(
        bin,
        w,
        "maestro results --nodes --tree kcidev-e2e-tree --count",
    );
    assert_eq!((code, out.trim()), (0, "5"));

    // `watch` polls /latest/nodes/fast?treeid=...: with everything done it returns at once,
    // and --test sets the exit code from that test's result.
    let ckid = ck["id"].as_str().unwrap();
    for (test, want) in [("kcidev-alpha", 0), ("kcidev-beta", 1)] {
        let args = format!("watch --nodeid {ckid} --job-filter kbuild-kcidev-e2e --test {test}");
        let (code, out) = run(bin, w, &args);
        assert_eq!(code, want, "watch --test {test}");
        assert!(out.contains(kb["id"].as_str().unwrap()), "{out}");
    }
}
