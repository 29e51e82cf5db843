//! Who may edit a node (kernelci-api.md section 7): refusals on every node write path, and
//! every rule that grants the right.
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, assert_not_editor, assert_ok, checkout, id, job, leaf};

/// Groups that look like rights but grant none on the nodes of these cases.
const NEAR_MISSES: [&str; 4] = [
    "team-b",
    "runtime:lava-y:node-editor",
    "runtime:lava-x:node-viewer",
    "node:edit:some",
];

/// A body of `node` with `user_groups` set.
fn with_groups(mut node: Value, groups: &[&str]) -> Value {
    node["user_groups"] = json!(groups);
    node
}

/// The node as `GET /node/{id}` shows it.
async fn fetch(app: &TestApp, nid: &str) -> Value {
    let r = app
        .send("GET", &format!("/latest/node/{nid}"), None, None)
        .await;
    assert_ok(&r, "GET node");
    r.body
}

/// Case 2: a user who may not edit a node gets 401 `Unauthorized to complete the
/// operation` from PUT, PATCH and a hierarchy write on it, whatever the body, and the node
/// is unchanged.
pub async fn non_editor_cannot_put_or_patch_a_node(app: TestApp) {
    let alice = app.add_user("alice", false, &["team-a"]).await;
    let mallory = app.add_user("mallory", false, &NEAR_MISSES).await;
    let nodes = [
        app.create(&alice.token, with_groups(job("j1", "lava-x"), &["team-a"]))
            .await,
        app.create(&alice.token, checkout("c1")).await,
    ];
    let before = app.snapshot().await;
    for node in &nodes {
        let nid = id(node);
        let mut hijack = node.clone();
        hijack["name"] = json!("hijacked");
        hijack["owner"] = json!("mallory");
        hijack["user_groups"] = json!(["team-b"]);
        let uri = format!("/latest/node/{nid}");
        let token = Some(mallory.token.as_str());
        let r = app.json("PUT", &uri, token, &hijack).await;
        assert_not_editor(&r, "PUT");
        let r = app
            .json("PUT", &format!("{uri}?noevent=true"), token, &hijack)
            .await;
        assert_not_editor(&r, "PUT ?noevent");
        let r = app
            .json("PATCH", &uri, token, &json!({"result": "fail"}))
            .await;
        assert_not_editor(&r, "PATCH");
        let r = app.send("PUT", &uri, token, Some("{}".into())).await;
        assert_not_editor(&r, "PUT with an empty body");
        let body = json!({"node": hijack, "child_nodes": [leaf("t1")]});
        let r = app
            .json("PUT", &format!("/latest/nodes/{nid}"), token, &body)
            .await;
        assert_not_editor(&r, "PUT /nodes");
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused write changed the store"
    );
}

/// Case 2 (order of checks, kernelci-api.md section 2.3): rights come before the body, so a
/// body that is not even JSON gets the 401 of a user who may not edit the node (and the 404
/// of a missing node), not a 422, on every path that names a node.
pub async fn rights_are_checked_before_the_body(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let mallory = app.add_user("mallory", false, &NEAR_MISSES).await;
    let nid = id(&app.create(&alice.token, checkout("c1")).await);
    let missing = "65265c7c1d1b6a2cc4b3a5d1";
    let before = app.snapshot().await;
    for (method, path) in [("PUT", "node"), ("PATCH", "node"), ("PUT", "nodes")] {
        for body in ["{}", "{bad", "[1]"] {
            let uri = format!("/latest/{path}/{nid}");
            let r = app
                .send(method, &uri, Some(&mallory.token), Some(body.into()))
                .await;
            assert_not_editor(&r, &format!("{method} {uri} with body {body}"));
            let uri = format!("/latest/{path}/{missing}");
            let r = app
                .send(method, &uri, Some(&mallory.token), Some(body.into()))
                .await;
            assert_eq!(
                (r.status, &r.body),
                (
                    StatusCode::NOT_FOUND,
                    &json!({"detail": format!("Node not found with id: {missing}")})
                ),
                "{method} {uri} with body {body}: {}",
                r.text
            );
        }
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused write changed the store"
    );
}

/// Case 2: a hierarchy write on a node the caller owns, naming by id an existing node they
/// may not edit (as a direct or a deeper child), is refused whole: nothing is written, not
/// even the root or the new nodes listed before the foreign one.
pub async fn hierarchy_with_a_foreign_child_is_refused_whole(app: TestApp) {
    let alice = app.add_user("alice", false, &["team-a"]).await;
    let mallory = app.add_user("mallory", false, &NEAR_MISSES).await;
    let root = app.create(&mallory.token, checkout("m1")).await;
    let rid = id(&root);
    // Anyone may create a node under any parent; this child is alice's.
    let child = app
        .create(
            &alice.token,
            json!({"kind": "test", "name": "t-alice", "path": ["m1", "t-alice"],
                   "parent": rid, "user_groups": ["team-a"]}),
        )
        .await;
    let other = app
        .create(&alice.token, with_groups(job("j1", "lava-x"), &["team-a"]))
        .await;
    let mut root_update = root.clone();
    root_update["result"] = json!("pass");
    let hijack = |node: &Value| {
        let mut n = node.clone();
        n["name"] = json!("hijacked");
        n["owner"] = json!("mallory");
        n["result"] = json!("fail");
        n
    };
    let bodies = [
        (
            "a direct child",
            json!({"node": root_update, "child_nodes": [
                leaf("new1"),
                {"node": hijack(&child), "child_nodes": [leaf("under")]},
            ]}),
        ),
        (
            "a grandchild (which would be moved under the root)",
            json!({"node": root_update, "child_nodes": [
                {"node": {"kind": "kbuild", "name": "kb", "path": ["m1", "kb"]},
                 "child_nodes": [leaf("new2"), {"node": hijack(&other), "child_nodes": []}]},
            ]}),
        ),
    ];
    let before = app.snapshot().await;
    for (what, body) in &bodies {
        let r = app
            .json(
                "PUT",
                &format!("/latest/nodes/{rid}"),
                Some(&mallory.token),
                body,
            )
            .await;
        assert_not_editor(&r, &format!("hierarchy naming {what}"));
        assert_eq!(
            app.snapshot().await,
            before,
            "a refused hierarchy naming {what} changed the store"
        );
    }
    // Without the foreign node, the same write goes through.
    let body = json!({"node": root_update, "child_nodes": [leaf("new1")]});
    let r = app
        .json(
            "PUT",
            &format!("/latest/nodes/{rid}"),
            Some(&mallory.token),
            &body,
        )
        .await;
    assert_ok(&r, "control hierarchy");
    assert_eq!(r.body.as_array().unwrap().len(), 2);
}

/// Case 2: `/batch/nodeset` skips the nodes the caller may not edit and counts only the
/// others; the skipped nodes are untouched.
pub async fn batch_nodeset_skips_nodes_the_caller_may_not_edit(app: TestApp) {
    let alice = app.add_user("alice", false, &["team-a"]).await;
    let mallory = app.add_user("mallory", false, &NEAR_MISSES).await;
    let own = id(&app.create(&mallory.token, checkout("m1")).await);
    let foreign = [
        id(&app
            .create(&alice.token, with_groups(checkout("a1"), &["team-a"]))
            .await),
        id(&app.create(&alice.token, job("j1", "lava-x")).await),
    ];
    let before = app.snapshot().await;
    let body = json!({"nodes": [foreign[0], own, foreign[1]],
                      "field": "processed_by_kcidb_bridge", "value": "true"});
    let r = app
        .json("PUT", "/latest/batch/nodeset", Some(&mallory.token), &body)
        .await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &json!(1)),
        "{}",
        r.text
    );
    assert!(app.node(&own).await.processed_by_kcidb_bridge);
    let after = app.snapshot().await;
    for nid in &foreign {
        let find = |nodes: &[maestro_common::Node]| {
            nodes
                .iter()
                .find(|n| n.id.as_ref().is_some_and(|i| i.to_string() == *nid))
                .cloned()
        };
        assert_eq!(
            find(&after.nodes),
            find(&before.nodes),
            "node {nid} changed"
        );
    }
    assert_eq!(
        (after.users, after.groups),
        (before.users, before.groups),
        "a batch write changed users or groups"
    );
}

/// Case 4: each rule grants the right on its own: the owner, a superuser, a member of
/// `node:edit:any`, a member of a group in the node's `user_groups`, and members of
/// `runtime:<data.runtime>:node-editor` and `...:node-admin`. Each may PATCH, PUT, write a
/// hierarchy under and flag the node; the owner stays. The group and runtime rules follow
/// the node: on a node without those groups or runtime, their members are refused.
pub async fn every_editing_rule_grants_access(app: TestApp) {
    let alice = app.add_user("alice", false, &["team-a"]).await;
    let editors = [
        ("owner", alice),
        ("superuser", app.add_user("root", true, &[]).await),
        (
            "node:edit:any",
            app.add_user("ed", false, &["node:edit:any"]).await,
        ),
        (
            "user_groups",
            app.add_user("carol", false, &["team-a"]).await,
        ),
        (
            "runtime editor",
            app.add_user("labed", false, &["runtime:lava-x:node-editor"])
                .await,
        ),
        (
            "runtime admin",
            app.add_user("labadmin", false, &["runtime:lava-x:node-admin"])
                .await,
        ),
    ];
    let alice = &editors[0].1;
    let nid = id(&app
        .create(&alice.token, with_groups(job("j1", "lava-x"), &["team-a"]))
        .await);
    let other = id(&app.create(&alice.token, job("j2", "lava-y")).await);
    let uri = format!("/latest/node/{nid}");
    for (rule, user) in &editors {
        let token = Some(user.token.as_str());
        let r = app
            .json("PATCH", &uri, token, &json!({"result": "pass"}))
            .await;
        assert_ok(&r, &format!("PATCH by {rule}"));
        assert_eq!(r.body["owner"], "alice", "PATCH by {rule}");

        let mut node = fetch(&app, &nid).await;
        node["group"] = json!(rule);
        let r = app.json("PUT", &uri, token, &node).await;
        assert_ok(&r, &format!("PUT by {rule}"));
        assert_eq!(
            (&r.body["owner"], &r.body["group"]),
            (&json!("alice"), &json!(rule)),
            "PUT by {rule}"
        );

        let body = json!({"node": fetch(&app, &nid).await,
                          "child_nodes": [leaf(&format!("t-{}", user.user.username))]});
        let r = app
            .json("PUT", &format!("/latest/nodes/{nid}"), token, &body)
            .await;
        assert_ok(&r, &format!("PUT /nodes by {rule}"));
        let written = r.body.as_array().unwrap();
        assert_eq!(written.len(), 2, "PUT /nodes by {rule}");
        assert_eq!(written[0]["owner"], "alice", "PUT /nodes by {rule}");
        assert_eq!(written[1]["parent"], json!(nid), "PUT /nodes by {rule}");

        let body = json!({"nodes": [nid], "field": "processed_by_kcidb_bridge", "value": "true"});
        let r = app.json("PUT", "/latest/batch/nodeset", token, &body).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::OK, &json!(1)),
            "batch by {rule}: {}",
            r.text
        );

        let stored = app.node(&nid).await;
        assert_eq!(stored.owner.as_deref(), Some("alice"), "after {rule}");
        assert_eq!(stored.user_groups, ["team-a"], "after {rule}");
        assert_eq!(stored.runtime(), Some("lava-x"), "after {rule}");
    }

    let other_uri = format!("/latest/node/{other}");
    for (rule, user) in &editors {
        let r = app
            .json(
                "PATCH",
                &other_uri,
                Some(&user.token),
                &json!({"result": "fail"}),
            )
            .await;
        match *rule {
            "owner" | "superuser" | "node:edit:any" => {
                assert_ok(&r, &format!("PATCH of the other node by {rule}"));
            }
            _ => assert_not_editor(&r, &format!("PATCH of the other node by {rule}")),
        }
    }
}
