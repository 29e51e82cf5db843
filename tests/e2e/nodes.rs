//! A revision's tree over real HTTP, on both stores, surviving a crash of the server.
use maestro_e2e::{Backend, Server};
use reqwest::Method;
use serde_json::{Value, json};

fn checkout(commit: &str) -> Value {
    json!({"kind": "checkout", "name": "checkout", "path": ["checkout"], "treeid": format!("tree-{commit}"),
        "data": {"kernel_revision": {"tree": "mainline", "branch": "master", "commit": commit,
            "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"}}})
}

async fn tree_survives_a_crash(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), backend);
    let admin = server.admin().await;
    let root = admin.create(&checkout("abc123")).await;
    let rid = root["id"].as_str().unwrap().to_owned();
    let kbuild = json!({"kind": "kbuild", "name": "kbuild-gcc-12-x86", "path": ["checkout", "kbuild-gcc-12-x86"],
        "parent": rid, "treeid": "tree-abc123", "data": {"arch": "x86_64", "compiler": "gcc-12"}});
    let kb = admin.create(&kbuild).await;
    let tests: Vec<Value> = (0..50)
        .map(|i| json!({"node": {"kind": "test", "name": format!("t{i}"), "path": ["checkout", "kb", format!("t{i}")],
            "state": "done", "result": if i % 5 == 0 { "fail" } else { "pass" }}, "child_nodes": []}))
        .collect();
    let mut kb_done = kb.clone();
    kb_done["state"] = json!("available");
    let (s, written) = admin
        .call(
            Method::PUT,
            &format!("/latest/nodes/{}", kb["id"].as_str().unwrap()),
            Some(&json!({"node": kb_done, "child_nodes": tests})),
        )
        .await;
    assert_eq!(s, 200, "{written}");
    assert_eq!(written.as_array().unwrap().len(), 51);
    let (s, _) = admin
        .call(
            Method::PATCH,
            &format!("/latest/node/{rid}"),
            Some(&json!({"state": "done", "result": "pass"})),
        )
        .await;
    assert_eq!(s, 200);

    // Everything answered 200 must be there after a SIGKILL.
    let server = server.crash_and_restart();
    let anon = server.client();
    assert_eq!(anon.get("/latest/count?kind=test").await, json!(50));
    assert_eq!(
        anon.get("/latest/count?kind=test&result=fail").await,
        json!(10)
    );
    let page = anon.get("/latest/nodes?treeid=tree-abc123&limit=100").await;
    assert_eq!(page["total"], 52);
    let node = anon.get(&format!("/latest/node/{rid}")).await;
    assert_eq!(
        (node["state"].clone(), node["result"].clone()),
        (json!("done"), json!("pass"))
    );
    let fast = anon
        .get(&format!(
            "/latest/nodes/fast?parent={}&state=done&name__re=^t1",
            kb["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fast.as_array().unwrap().len(), 11, "t1 and t10..t19");
    // The token issued before the crash still works (the secret is kept in the data dir).
    let (s, who) = admin.call(Method::GET, "/latest/whoami", None).await;
    assert_eq!((s, who["username"].clone()), (200, json!("admin")));
}

#[tokio::test]
async fn sqlite_tree_survives_a_crash() {
    tree_survives_a_crash(Backend::Sqlite).await;
}

#[tokio::test]
async fn mongodb_tree_survives_a_crash() {
    if let Some(b) = Backend::mongo("crash") {
        tree_survives_a_crash(b).await;
    }
}
