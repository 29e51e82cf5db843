//! Reads: `/node/{id}`, `/nodes`, `/nodes/fast`, `/count`, prefixes and the query language.
use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{TestApp, checkout, child, detail};

#[tokio::test]
async fn version_prefixes_are_rewritten_and_unknown_versions_refused() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    app.create(&t, checkout("c1")).await;
    for uri in ["/latest/count", "/v0/count", "/count"] {
        let r = app.get(uri).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (StatusCode::OK, json!(1)),
            "{uri}"
        );
    }
    let r = app.get("/v1/count").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.content_type.starts_with("text/plain"));
    assert_eq!(r.text, "Unsupported API version: v1");
    let r = app.get("/viewer-nope").await;
    assert_eq!(
        (r.status, detail(&r)),
        (StatusCode::NOT_FOUND, "Not Found".to_owned())
    );
    let r = app.send("DELETE", "/latest/nodes", None, None).await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed".to_owned()
        )
    );
}

#[tokio::test]
async fn get_node_answers_null_when_missing_and_400_when_malformed() {
    let app = TestApp::new().await;
    let r = app.get("/latest/node/61bda8f2eb1a63d2b7152418").await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "null"));
    let r = app.get("/latest/node/xyz").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        detail(&r),
        "'xyz' is not a valid ObjectId, it must be a 12-byte input or a 24-character hex string"
    );
    let t = app.user("alice", false, &[]).await;
    let n = app.create(&t, checkout("c1")).await;
    let r = app
        .get(&format!("/latest/node/{}", n["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.body, n);
}

#[tokio::test]
async fn reads_ignore_a_malformed_authorization_header() {
    let app = TestApp::new().await;
    let r = app
        .send("GET", "/latest/nodes", Some("not-a-jwt"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["total"], 0);
}

#[tokio::test]
async fn nodes_pages_by_limit_and_offset_in_id_order() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let root = app.create(&t, checkout("c")).await;
    let pid = root["id"].as_str().unwrap();
    let mut ids = vec![pid.to_owned()];
    for i in 0..120 {
        let n = app.create(&t, child("test", &format!("t{i}"), pid)).await;
        ids.push(n["id"].as_str().unwrap().to_owned());
    }
    let r = app.get("/latest/nodes?kind=test&limit=100&offset=0").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 100);
    assert_eq!(
        (
            r.body["total"].clone(),
            r.body["limit"].clone(),
            r.body["offset"].clone()
        ),
        (json!(120), json!(100), json!(0))
    );
    let r2 = app
        .get("/latest/nodes?kind=test&limit=100&offset=100")
        .await;
    let page2: Vec<&str> = r2.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        page2,
        ids[101..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    // No cap below 1,000 and the default page is 50.
    assert_eq!(
        app.get("/latest/nodes?limit=1000").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        121
    );
    assert_eq!(app.get("/latest/nodes").await.body["limit"], 50);
    for bad in ["limit=0", "limit=abc", "offset=-1"] {
        let r = app.get(&format!("/latest/nodes?{bad}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(r.body["detail"][0]["loc"][0] == "query", "{bad}");
    }
}

#[tokio::test]
async fn fast_returns_every_match_and_count_ignores_paging() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let root = app.create(&t, checkout("c")).await;
    let pid = root["id"].as_str().unwrap();
    for i in 0..3 {
        app.create(&t, child("kbuild", &format!("k{i}"), pid)).await;
    }
    let r = app.get(&format!("/latest/nodes/fast?parent={pid}")).await;
    assert_eq!(r.body.as_array().unwrap().len(), 3);
    let r = app
        .get(&format!("/latest/nodes/fast?parent={pid}&limit=2&offset=2"))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = app.get("/latest/nodes/fast?limit=abc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/latest/count?kind=kbuild&limit=1&offset=5")
            .await
            .body,
        json!(3)
    );
}

#[tokio::test]
async fn query_language_types_values_and_rejects_what_it_cannot_answer() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let root = app.create(&t, checkout("c")).await;
    let pid = root["id"].as_str().unwrap();
    app.create(&t, child("kbuild", "kbuild-gcc-12-x86", pid))
        .await;
    app.create(&t, child("kbuild", "kbuild-clang-17-arm64", pid))
        .await;
    let count = |q: &'static str| {
        let app = &app;
        async move {
            let r = app.get(&format!("/latest/count?{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
            r.body.as_u64().unwrap()
        }
    };
    assert_eq!(count("parent=null").await, 1);
    assert_eq!(count("name__re=gcc").await, 1);
    assert_eq!(count("name__re=^kbuild").await, 2);
    assert_eq!(count("kind__in=checkout,kbuild").await, 3);
    assert_eq!(count("kind__nin=checkout").await, 2);
    assert_eq!(count("kind__ne=kbuild").await, 1);
    assert_eq!(count("data.kernel_revision.tree=mainline").await, 1);
    assert_eq!(count("data.platform=qemu&data.arch=x86_64").await, 2);
    assert_eq!(count("data.nothing=null").await, 3);
    assert_eq!(count("data.arch__ne=null").await, 2);
    assert_eq!(count("processed_by_kcidb_bridge=false").await, 3);
    assert_eq!(count("processed_by_kcidb_bridge=True").await, 0);
    assert_eq!(
        count("created__gte=2000-01-01&created__lt=2999-01-01T00:00:00Z").await,
        3
    );
    assert_eq!(count("timeout__lt=2000-01-01").await, 0);
    assert_eq!(count("holdoff=null").await, 3);
    assert_eq!(count("retry_counter__lte=0").await, 3);
    assert_eq!(count("path=c").await, 1);
    assert_eq!(count("owner=alice&state=running").await, 3);
    for bad in [
        "name__eq=x",
        "created__gt=yesterday",
        "parent=123",
        "retry_counter=x",
        "name__re=(",
        "$where=1",
        "parent__re=x",
    ] {
        let r = app.get(&format!("/latest/nodes?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!detail(&r).is_empty(), "{bad}");
    }
}

/// A checkout of mainline/master at `commit` with tests `(name, result)` under it.
async fn revision_with(app: &TestApp, t: &str, commit: &str, tests: &[(&str, &str)]) -> String {
    let mut co = checkout("checkout");
    co["data"]["kernel_revision"]["commit"] = json!(commit);
    let co = app.create(t, co).await;
    let cid = co["id"].as_str().unwrap().to_owned();
    for (name, result) in tests {
        let mut n = child("test", name, &cid);
        n["state"] = json!("done");
        n["result"] = json!(result);
        n["data"]["kernel_revision"] = co["data"]["kernel_revision"].clone();
        app.create(t, n).await;
    }
    cid
}

#[tokio::test]
async fn compare_reads_revisions_page_by_page_and_refuses_one_past_its_bound() {
    use maestro_server::nodes::compare::{Bounds, compare_within};
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let tests = |r: &str| -> Vec<(String, String)> {
        (0..7).map(|i| (format!("t{i}"), r.to_owned())).collect()
    };
    let first = tests("pass");
    let first: Vec<(&str, &str)> = first
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    revision_with(&app, &t, "aaaa", &first).await;
    let mut second = tests("pass");
    second[2].1 = "fail".into();
    second[6].1 = "fail".into();
    let second: Vec<(&str, &str)> = second
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let cid = revision_with(&app, &t, "bbbb", &second).await;
    // A node of another tree at the same commit is not part of the revision.
    let mut other = child("test", "t0", &cid);
    other["state"] = json!("done");
    other["result"] = json!("fail");
    other["data"]["kernel_revision"] = json!({"tree": "next", "branch": "master",
        "commit": "bbbb", "url": "https://git.kernel.org/next.git"});
    app.create(&t, other).await;
    let id = maestro_common::node::ObjectIdHex::parse(&cid).unwrap();
    let store = &*app.state.store;
    // Pages of 2 over 9 nodes of the commit (the checkout, 7 tests, the other tree's).
    let paged = Bounds {
        page: 2,
        max_nodes: 100,
    };
    let answer = compare_within(store, &id, paged).await.unwrap();
    let keys: Vec<&str> = answer.regressions.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["test:t2 @qemu", "test:t6 @qemu"]);
    assert!(answer.fixes.is_empty());
    let whole = compare_within(
        store,
        &id,
        Bounds {
            page: 1_000,
            max_nodes: 100,
        },
    )
    .await;
    assert_eq!(whole.unwrap(), answer);
    let bounded = Bounds {
        page: 3,
        max_nodes: 7,
    };
    let err = compare_within(store, &id, bounded).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("more than 7 nodes: too many to compare"),
        "{err}"
    );
}

#[tokio::test]
async fn compare_lists_regressions_and_fixes_against_the_previous_checkout() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let first = revision_with(
        &app,
        &t,
        "aaaa",
        &[("login", "pass"), ("dmesg", "fail"), ("boot", "pass")],
    )
    .await;
    let second = revision_with(
        &app,
        &t,
        "bbbb",
        &[
            ("login", "fail"),
            ("dmesg", "pass"),
            ("boot", "pass"),
            ("new", "fail"),
        ],
    )
    .await;

    let r = app
        .get(&format!("/latest/maestro/node/{second}/compare"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["previous"], json!(first));
    let names = |k: &str| -> Vec<String> {
        r.body[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("regressions"), ["test:login @qemu"]);
    assert_eq!(names("fixes"), ["test:dmesg @qemu"]);

    let r = app
        .get(&format!("/latest/maestro/node/{first}/compare"))
        .await;
    assert_eq!(
        r.body,
        json!({"previous": null, "regressions": [], "fixes": []})
    );
    let test = app.create(&t, child("test", "x", &first)).await;
    let r = app
        .get(&format!(
            "/latest/maestro/node/{}/compare",
            test["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app
        .get("/latest/maestro/node/0123456789abcdef01234567/compare")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
