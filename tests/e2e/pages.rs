//! The web pages in a real headless Chromium against the real server: the viewer (a node,
//! its children, search, live updates over the WebSocket) and the dashboard here; the
//! signed-in pages and the invite flow in `admin.rs`. Every page must load and work
//! without a console error (uncaught exception, failed load, CSP violation).
use maestro_e2e::{Backend, Client, Server};
use reqwest::Method;
use serde_json::{Value, json};

mod admin;
mod browser;

use browser::Browser;

/// A running server with its admin client, and a browser; `None` when Chromium is missing
/// outside CI (the test skips).
struct Rig {
    browser: Browser,
    admin: Client,
    server: Server,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(test: &str) -> Option<Self> {
        let browser = Browser::start(test).await?;
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), Backend::Sqlite);
        let admin = server.admin().await;
        Some(Self {
            browser,
            admin,
            server,
            _dir: dir,
        })
    }

    /// The URL of `path` (`/viewer?...`) on the server.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    async fn close(self) {
        self.browser.close().await;
    }
}

fn checkout(tree: &str, branch: &str, commit: &str) -> Value {
    json!({"kind": "checkout", "name": "checkout", "path": ["checkout"], "treeid": format!("tree-{commit}"),
        "state": "running",
        "data": {"kernel_revision": {"tree": tree, "branch": branch, "commit": commit, "describe": format!("v6.9-{commit}"),
            "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"}},
        "artifacts": {"tarball": "https://storage.example.org/linux.tar.gz"}})
}

fn child(parent: &Value, kind: &str, name: &str, result: Option<&str>) -> Value {
    json!({"kind": kind, "name": name, "path": ["checkout", name], "parent": parent["id"],
        "treeid": parent["treeid"], "state": if result.is_some() { "done" } else { "running" },
        "result": result,
        "data": {"kernel_revision": parent["data"]["kernel_revision"].clone(), "arch": "x86_64"}})
}

async fn patch(c: &Client, id: &str, body: Value) {
    let (s, v) = c
        .call(Method::PATCH, &format!("/latest/node/{id}"), Some(&body))
        .await;
    assert_eq!(s, 200, "PATCH {id}: {v}");
}

#[tokio::test]
async fn viewer_shows_a_node_its_children_and_searches() {
    let Some(rig) = Rig::start("viewer_shows_a_node_its_children_and_searches").await else {
        return;
    };
    let root = rig
        .admin
        .create(&checkout("mainline", "master", "aaa111"))
        .await;
    let id = root["id"].as_str().unwrap().to_owned();
    for (name, result) in [
        ("kbuild-gcc-12-x86", Some("pass")),
        ("kbuild-clang-17-arm64", Some("fail")),
    ] {
        rig.admin
            .create(&child(&root, "kbuild", name, result))
            .await;
    }
    // Markup in data is shown as text, never parsed.
    rig.admin
        .create(&child(&root, "test", "<b>baseline</b>", None))
        .await;
    let b = &rig.browser;

    // Every prefix the Python server serves the page under.
    for prefix in ["", "/latest", "/v0"] {
        b.open(&rig.url(&format!("{prefix}/viewer?node_id={id}")))
            .await;
        assert_eq!(b.wait_text("#node-title", "checkout").await, "checkout");
        b.wait_text("#node-state", "running").await;
        let facts = b.wait_text("#node-facts", "mainline").await;
        assert!(facts.contains("v6.9-aaa111"), "{facts}");
        let children = b
            .wait_text("#children-table", "kbuild-clang-17-arm64")
            .await;
        assert!(children.contains("kbuild-gcc-12-x86"), "{children}");
        assert!(children.contains("<b>baseline</b>"), "{children}");
        let bold = b
            .js(
                "return document.querySelectorAll('#children-table b').length",
                vec![],
            )
            .await;
        assert_eq!(bold, json!(0), "a node name became markup");
        let link = b.wait_for("#artifacts a").await;
        assert_eq!(
            link.attr("href").await.unwrap().as_deref(),
            Some("https://storage.example.org/linux.tar.gz")
        );
        b.assert_no_errors(&format!("{prefix}/viewer?node_id"))
            .await;
    }

    // The Python viewer's search conditions: `=`, `!=`, and the API's own `__` operators.
    b.open(&rig.url("/viewer?search=kind%3Dkbuild&search=result!%3Dfail"))
        .await;
    let results = b.wait_text("#results-table", "kbuild-gcc-12-x86").await;
    assert!(!results.contains("clang"), "{results}");
    b.wait_text("#result-count", "1 node matches").await;
    b.open(&rig.url("/viewer?search=name__re%3D%5Ekbuild&search=kind%3Dkbuild"))
        .await;
    b.wait_text("#result-count", "2 nodes match").await;
    // The search form builds the same URL.
    b.fill("#search-input", &format!("parent={id} kind=test"))
        .await;
    b.click("#search-form button").await;
    b.wait_text("#result-count", "1 node matches").await;
    b.wait_text("#results-table", "<b>baseline</b>").await;
    b.assert_no_errors("viewer search").await;

    // A condition it cannot read is said so, with no request.
    b.open(&rig.url("/viewer?search=kind%3D%3Dx")).await;
    b.wait_text("#results .error", "Cannot read the condition")
        .await;

    // The tree and branch view.
    b.open(&rig.url("/viewer?view=trees&tree=mainline&branch=master"))
        .await;
    let matrix = b.wait_text("#tree-matrix", "kbuild-gcc-12-x86").await;
    assert!(matrix.contains("aaa111"), "{matrix}");
    assert!(
        matrix.contains("pass") && matrix.contains("fail"),
        "{matrix}"
    );
    b.wait_text("#tree-select", "mainline / master").await;
    b.assert_no_errors("viewer trees").await;
    rig.close().await;
}

#[tokio::test]
async fn viewer_follows_the_node_live() {
    let Some(rig) = Rig::start("viewer_follows_the_node_live").await else {
        return;
    };
    let root = rig
        .admin
        .create(&checkout("mainline", "master", "bbb222"))
        .await;
    let id = root["id"].as_str().unwrap().to_owned();
    let kb = rig
        .admin
        .create(&child(&root, "kbuild", "kbuild-gcc-12-x86", None))
        .await;
    let kb_id = kb["id"].as_str().unwrap().to_owned();
    let b = &rig.browser;
    b.open(&rig.url(&format!("/viewer?node_id={id}"))).await;
    b.wait_text("#children-table", "kbuild-gcc-12-x86").await;
    b.wait_text("#live", "live").await;

    // The shown node, a child, and a new child: each on the page without a reload.
    b.js("window.__marker = 1", vec![]).await;
    patch(&rig.admin, &id, json!({"state": "available"})).await;
    b.wait_text("#node-state", "available").await;
    patch(
        &rig.admin,
        &kb_id,
        json!({"state": "done", "result": "pass"}),
    )
    .await;
    b.wait_text(&format!("tr[data-id='{kb_id}'] .c-result"), "pass")
        .await;
    rig.admin
        .create(&child(&root, "kbuild", "kbuild-late-arrival", Some("fail")))
        .await;
    b.wait_text("#children-table", "kbuild-late-arrival").await;
    patch(&rig.admin, &id, json!({"state": "done", "result": "pass"})).await;
    b.wait_text("#node-result", "pass").await;
    assert_eq!(
        b.js("return window.__marker", vec![]).await,
        json!(1),
        "the page was reloaded"
    );
    b.assert_no_errors("live viewer").await;

    // A search page updates its rows in place too.
    b.open(&rig.url("/viewer?search=kind%3Dkbuild")).await;
    b.wait_text("#results-table", "kbuild-late-arrival").await;
    b.wait_text("#live", "live").await;
    patch(&rig.admin, &kb_id, json!({"result": "fail"})).await;
    b.wait_text(&format!("tr[data-id='{kb_id}'] .c-result"), "fail")
        .await;
    b.assert_no_errors("live search").await;

    // The server dies and comes back on the same port: the page reconnects by itself and
    // resumes after the last event it saw, so a change made meanwhile arrives too.
    let Rig {
        browser: b,
        admin,
        server,
        _dir,
    } = rig;
    let server = server.crash_and_restart();
    // A new connection pool (the old one's connections died with the server), same token.
    let admin = Client {
        token: admin.token,
        ..server.client()
    };
    patch(&admin, &kb_id, json!({"result": "incomplete"})).await;
    b.wait_text(&format!("tr[data-id='{kb_id}'] .c-result"), "incomplete")
        .await;
    b.wait_text("#live", "live").await;
    patch(&admin, &kb_id, json!({"result": "pass"})).await;
    b.wait_text(&format!("tr[data-id='{kb_id}'] .c-result"), "pass")
        .await;
    // Reconnect attempts while the server was down may be logged; nothing else may be.
    let errors = b.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("WebSocket")),
        "{errors:#?}"
    );
    b.close().await;
    drop(server);
}

#[tokio::test]
async fn dashboard_lists_checkouts_per_tree_with_counts() {
    let Some(rig) = Rig::start("dashboard_lists_checkouts_per_tree_with_counts").await else {
        return;
    };
    let main = rig
        .admin
        .create(&checkout("mainline", "master", "ccc333"))
        .await;
    for (i, result) in ["pass", "pass", "fail"].into_iter().enumerate() {
        rig.admin
            .create(&child(
                &main,
                "kbuild",
                &format!("kbuild-{i}"),
                Some(result),
            ))
            .await;
    }
    for (i, result) in ["pass", "incomplete"].into_iter().enumerate() {
        rig.admin
            .create(&child(&main, "test", &format!("test-{i}"), Some(result)))
            .await;
    }
    rig.admin
        .create(&checkout("next", "pending-fixes", "ddd444"))
        .await;
    let b = &rig.browser;
    b.open(&rig.url("/dashboard")).await;
    b.wait_for("#app[data-ready='true']").await;
    let section = "section[data-tree='mainline'][data-branch='master']";
    b.wait_text(section, "mainline / master").await;
    b.wait_text(section, "v6.9-ccc333").await;
    let cells: Vec<String> = {
        let row = b.wait_for(&format!("{section} tbody tr")).await;
        let mut out = Vec::new();
        for td in row.find_all(fantoccini::Locator::Css("td")).await.unwrap() {
            out.push(td.text().await.unwrap());
        }
        out
    };
    // checkout, created, state, result, then builds (total, pass, fail, incomplete) and tests.
    assert_eq!(
        &cells[4..],
        ["3", "2", "1", "0", "2", "1", "0", "1"],
        "{cells:?}"
    );
    b.wait_text("section[data-tree='next']", "next / pending-fixes")
        .await;
    b.assert_no_errors("dashboard").await;

    // Choosing a tree and branch narrows the page to it (and says so in the URL).
    b.open(&rig.url("/dashboard?tree=next&branch=pending-fixes"))
        .await;
    b.wait_for("#app[data-ready='true']").await;
    b.wait_text("#dashboard", "next / pending-fixes").await;
    let shown = b
        .js(
            "return document.querySelectorAll('#dashboard section').length",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(1));
    b.assert_no_errors("dashboard filtered").await;
    rig.close().await;
}
