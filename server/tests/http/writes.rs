//! Writes: `POST /node`, `PUT`/`PATCH /node/{id}`, `PUT /nodes/{id}`, `PUT /batch/nodeset`.
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestApp, checkout, detail};

fn id(n: &Value) -> String {
    n["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_sets_owner_and_defaults_and_echoes_every_field() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let mut body = checkout("c1");
    body["owner"] = json!("mallory");
    body["artifacts"] = json!({"log": "https://example.com"});
    body["data"]["kernel_revision"]["version"] = json!({"version": "6", "patchlevel": "7"});
    let n = app.create(&t, body).await;
    assert_eq!(n["owner"], "alice");
    assert_eq!(n["state"], "running");
    assert_eq!(n["artifacts"]["log"], "https://example.com/");
    assert_eq!(
        n["data"]["kernel_revision"]["version"],
        json!({"version": 6, "patchlevel": 7})
    );
    assert_eq!(n.as_object().unwrap().len(), 23);
    assert_eq!(n["retry_counter"], 0);
    assert_eq!(n["platform_filter"], json!([]));
    let stored = app.stored(&id(&n)).await.unwrap();
    assert_eq!(serde_json::to_value(&stored).unwrap(), n);
    // Six hours of default timeout.
    let created = maestro_common::Timestamp::parse_iso(n["created"].as_str().unwrap()).unwrap();
    let timeout = maestro_common::Timestamp::parse_iso(n["timeout"].as_str().unwrap()).unwrap();
    assert!((timeout.millis() - created.millis() - 6 * 3600 * 1000).abs() < 1000);
}

#[tokio::test]
async fn create_accepts_json_without_content_type_and_rejects_bad_bodies() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"kind": "node", "name": "x", "path": []}),
            StatusCode::BAD_REQUEST,
            "Unsupported node kind: node",
        ),
        (
            json!({"name": "x", "path": []}),
            StatusCode::BAD_REQUEST,
            "Unsupported node kind: node",
        ),
        (
            json!({"kind": "checkout", "name": "x", "path": [], "data": null}),
            StatusCode::BAD_REQUEST,
            "valid dictionary",
        ),
        (
            json!({"kind": "kbuild", "name": "x", "path": [], "data": {"error_code": "oops"}}),
            StatusCode::BAD_REQUEST,
            "data.error_code",
        ),
        (
            json!({"kind": "checkout", "name": "x", "path": [], "id": "61bda8f2eb1a63d2b7152418"}),
            StatusCode::BAD_REQUEST,
            "Object cannot be created with id",
        ),
        (
            json!({"kind": "test", "name": "x", "path": [], "parent": "61bda8f2eb1a63d2b7152418"}),
            StatusCode::NOT_FOUND,
            "Parent not found with id: 61bda8f2eb1a63d2b7152418",
        ),
        (
            json!({"kind": "test", "name": "x", "path": [], "user_groups": ["nope"]}),
            StatusCode::BAD_REQUEST,
            "User group does not exist with name: nope",
        ),
        (
            json!({"kind": "test", "name": "x", "path": [], "data": {"kernel_revision": {"version": {"version": "six"}}}}),
            StatusCode::BAD_REQUEST,
            "invalid literal",
        ),
    ];
    for (body, status, needle) in cases {
        let r = app.post("/latest/node", &t, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert!(detail(&r).contains(needle), "{body}: {}", r.text);
    }
    for body in [
        json!({"kind": "test", "path": []}),
        json!({"kind": "test", "name": "x", "path": [], "retry_counter": "1"}),
        json!({"kind": "test", "name": "x", "path": [], "artifacts": {"log": "ftp://x/y"}}),
        json!({"kind": "test", "name": "x", "path": [], "state": "sleeping"}),
        json!({"kind": "test", "name": "x", "path": [], "user_groups": ["a", "a"]}),
        json!({"kind": "test", "name": "x", "path": [], "parent": "xyz"}),
    ] {
        let r = app.post("/latest/node", &t, &body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert!(r.body["detail"][0]["loc"].is_array());
    }
    let r = app
        .send("POST", "/latest/node", Some(&t), Some("{not json"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/latest/count").await.body,
        json!(0),
        "nothing was written"
    );
}

#[tokio::test]
async fn put_replaces_the_node_but_keeps_owner_and_checks_transitions() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let mut n = app.create(&t, checkout("c1")).await;
    let nid = id(&n);
    n["state"] = json!("available");
    n["result"] = json!("pass");
    n["owner"] = json!("mallory");
    n["treeid"] = json!("tree-1");
    let r = app.put(&format!("/latest/node/{nid}"), &t, &n).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.body["state"].clone(),
            r.body["owner"].clone(),
            r.body["treeid"].clone()
        ),
        (json!("available"), json!("alice"), json!("tree-1"))
    );
    // Omitted fields fall back to their defaults (a full replace).
    let r = app.put(&format!("/latest/node/{nid}"), &t, &json!({"kind": "checkout", "name": "c1", "path": ["c1"], "state": "available", "data": {}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.body["result"].clone(),
            r.body["treeid"].clone(),
            r.body["data"].clone()
        ),
        (Value::Null, Value::Null, json!({}))
    );
    // available -> running is not allowed, and changes nothing.
    let r = app
        .put(
            &format!("/latest/node/{nid}"),
            &t,
            &json!({"kind": "checkout", "name": "renamed", "path": ["c1"], "state": "running"}),
        )
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::BAD_REQUEST,
            "Transition not allowed with state: running".to_owned()
        )
    );
    assert_eq!(app.stored(&nid).await.unwrap().name, "c1");
    let r = app
        .put(
            &format!("/latest/node/{nid}"),
            &t,
            &json!({"kind": "checkout", "name": "c1", "path": [], "state": "done", "parent": nid}),
        )
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::BAD_REQUEST,
            "Parent cannot be the same as the object".to_owned()
        )
    );
    let r = app
        .put(&format!("/latest/node/{nid}?noevent=maybe"), &t, &n)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .put("/latest/node/61bda8f2eb1a63d2b7152418", &t, &n)
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::NOT_FOUND,
            "Node not found with id: 61bda8f2eb1a63d2b7152418".to_owned()
        )
    );
}

#[tokio::test]
async fn put_resets_the_kcidb_flag_unless_only_the_flag_is_set() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let mut n = app.create(&t, checkout("c1")).await;
    let uri = format!("/latest/node/{}", id(&n));
    n["processed_by_kcidb_bridge"] = json!(true);
    assert_eq!(
        app.put(&uri, &t, &n).await.body["processed_by_kcidb_bridge"],
        true
    );
    n["name"] = json!("renamed");
    assert_eq!(
        app.put(&uri, &t, &n).await.body["processed_by_kcidb_bridge"],
        false
    );
}

#[tokio::test]
async fn patch_applies_present_fields_only() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let n = app.create(&t, checkout("c1")).await;
    let uri = format!("/latest/node/{}", id(&n));
    let r = app
        .patch(
            &uri,
            &t,
            &json!({"state": "done", "result": "fail", "name": "ignored"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.body["state"].clone(),
            r.body["result"].clone(),
            r.body["name"].clone()
        ),
        (json!("done"), json!("fail"), json!("c1"))
    );
    assert_eq!(r.body["data"], n["data"]);
    let r = app.patch(&uri, &t, &json!({"result": null})).await;
    assert_eq!(r.body["result"], Value::Null);
    for (body, status) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({"name": "x"}), StatusCode::BAD_REQUEST),
        (json!({"state": "running"}), StatusCode::BAD_REQUEST),
        (json!({"timeout": null}), StatusCode::BAD_REQUEST),
        (json!({"data": null}), StatusCode::BAD_REQUEST),
        (
            json!({"artifacts": {"x": "not a url"}}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"state": "bogus"}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = app.patch(&uri, &t, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
    }
    assert_eq!(app.stored(&id(&n)).await.unwrap().state.as_str(), "done");
}

#[tokio::test]
async fn hierarchy_writes_every_node_in_preorder_or_none() {
    let app = TestApp::new().await;
    let t = app.user("alice", false, &[]).await;
    let mut root = checkout("c1");
    root["treeid"] = json!("tree-9");
    root["submitter"] = json!("sub-1");
    let root = app.create(&t, root).await;
    let rid = id(&root);
    let mut root_update = root.clone();
    root_update["state"] = json!("done");
    let leaf = |name: &str| json!({"node": {"kind": "test", "name": name, "path": ["c1", name], "state": "done", "result": "pass", "data": {"unknown": 1}}, "child_nodes": []});
    let body = json!({"node": root_update, "child_nodes": [
        {"node": {"kind": "kbuild", "name": "kb", "path": ["c1", "kb"]}, "child_nodes": [leaf("t1"), leaf("t2")]},
        leaf("t3"),
    ]});
    let r = app.put(&format!("/latest/nodes/{rid}"), &t, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let nodes = r.body.as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["c1", "kb", "t1", "t2", "t3"]);
    assert_eq!(nodes[2]["parent"], nodes[1]["id"]);
    assert_eq!(nodes[4]["parent"], json!(rid));
    for n in nodes {
        assert_eq!(
            (
                n["treeid"].clone(),
                n["submitter"].clone(),
                n["owner"].clone()
            ),
            (json!("tree-9"), json!("sub-1"), json!("alice"))
        );
    }
    // The normalised data model is stored: unknown keys dropped, every field present.
    assert!(nodes[2]["data"].get("unknown").is_none());
    assert_eq!(nodes[2]["data"]["misc"], json!({}));
    assert_eq!(app.get("/latest/count").await.body, json!(5));
    // A bad node anywhere means nothing is written.
    let bad = json!({"node": root_update, "child_nodes": [leaf("t4"), {"node": {"kind": "bogus", "name": "x", "path": []}, "child_nodes": []}]});
    let r = app.put(&format!("/latest/nodes/{rid}"), &t, &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/latest/count").await.body, json!(5));
    let r = app
        .put(
            &format!("/latest/nodes/{rid}"),
            &t,
            &json!({"node": root_update}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn hierarchy_refuses_children_the_caller_may_not_edit() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let root = app.create(&alice, checkout("c1")).await;
    let bobs = app.create(&bob, checkout("b1")).await;
    let mut hijack = bobs.clone();
    hijack["name"] = json!("hijacked");
    let body = json!({"node": root, "child_nodes": [{"node": hijack, "child_nodes": []}]});
    let r = app
        .put(&format!("/latest/nodes/{}", id(&root)), &alice, &body)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.stored(&id(&bobs)).await.unwrap().name, "b1");
}

#[tokio::test]
async fn batch_nodeset_sets_the_flag_on_nodes_the_caller_may_edit() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let a1 = id(&app.create(&alice, checkout("a1")).await);
    let a2 = id(&app.create(&alice, checkout("a2")).await);
    let b1 = id(&app.create(&bob, checkout("b1")).await);
    let body =
        json!({"nodes": [a1, a2, b1], "field": "processed_by_kcidb_bridge", "value": "true"});
    let r = app.put("/latest/batch/nodeset", &alice, &body).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!(2)));
    assert!(app.stored(&a2).await.unwrap().processed_by_kcidb_bridge);
    assert!(!app.stored(&b1).await.unwrap().processed_by_kcidb_bridge);
    let cases = [
        (
            json!({"nodes": [a1], "field": "processed_by_kcidb_bridge", "value": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"nodes": [a1], "field": "state", "value": "done"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"nodes": [a1], "field": "processed_by_kcidb_bridge", "value": "maybe"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"nodes": [a1, "61bda8f2eb1a63d2b7152418"], "field": "processed_by_kcidb_bridge", "value": "false"}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (body, status) in cases {
        let r = app.put("/latest/batch/nodeset", &alice, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
    }
    assert!(
        app.stored(&a1).await.unwrap().processed_by_kcidb_bridge,
        "a failed batch changes nothing"
    );
}

#[tokio::test]
async fn may_edit_answers_by_the_rule_the_writes_apply() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let root = app.user("root", true, &[]).await;
    let n = app.create(&alice, checkout("c1")).await;
    let uri = format!("/latest/maestro/node/{}/may-edit", id(&n));
    for (token, want) in [(&alice, true), (&bob, false), (&root, true)] {
        let r = app.send("GET", &uri, Some(token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body, json!({"may_edit": want}));
    }
    // The answer matches what a write gets.
    let r = app
        .patch(
            &format!("/latest/node/{}", id(&n)),
            &bob,
            &json!({"result": "pass"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.send("GET", &uri, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .send(
            "GET",
            "/latest/maestro/node/0123456789abcdef01234567/may-edit",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .send(
            "GET",
            "/latest/maestro/node/nope/may-edit",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}
