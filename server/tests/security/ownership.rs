//! Ownership follows the account, not a reusable name: a rename carries the account's
//! nodes, a name that still owns nodes cannot be taken, and a group that nodes name cannot
//! be deleted (and so cannot be recreated for new members).
use axum::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, assert_not_editor, assert_ok, checkout, detail, id};

/// Case: alice renames herself; her nodes come along and she can still edit them. Mallory
/// then takes the freed name "alice" and can edit none of them.
pub async fn a_renamed_user_keeps_their_nodes_and_the_old_name_gets_none(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let mallory = app.add_user("mallory", false, &[]).await;
    let node = app.create(&alice.token, checkout("c1")).await;
    let uri = format!("/latest/node/{}", id(&node));

    let r = app
        .json(
            "PATCH",
            "/latest/user/me",
            Some(&alice.token),
            &json!({"username": "alice2"}),
        )
        .await;
    assert_ok(&r, "alice renames herself");
    let r = app.send("GET", &uri, None, None).await;
    assert_eq!(r.body["owner"], "alice2", "{}", r.text);
    let r = app
        .json(
            "PATCH",
            &uri,
            Some(&alice.token),
            &json!({"result": "pass"}),
        )
        .await;
    assert_ok(&r, "the renamed owner edits her node");

    let r = app
        .json(
            "PATCH",
            "/latest/user/me",
            Some(&mallory.token),
            &json!({"username": "alice"}),
        )
        .await;
    assert_ok(&r, "the freed name owns nothing, so it may be taken");
    let r = app
        .json(
            "PATCH",
            &uri,
            Some(&mallory.token),
            &json!({"result": "fail"}),
        )
        .await;
    assert_not_editor(&r, "the new 'alice' edits the old alice's node");
    let r = app.send("GET", &uri, None, None).await;
    assert_eq!(r.body["result"], "pass");
}

/// Case: bob is deleted while he owns nodes; nobody can become "bob", neither by renaming
/// themselves nor through an admin, and so nobody gets his nodes.
pub async fn a_name_that_owns_nodes_cannot_be_taken(app: TestApp) {
    let admin = app.add_user("root", true, &[]).await;
    let bob = app.add_user("bob", false, &[]).await;
    let mallory = app.add_user("mallory", false, &[]).await;
    let node = app.create(&bob.token, checkout("c1")).await;
    let r = app
        .send(
            "DELETE",
            &format!("/latest/user/{}", bob.id()),
            Some(&admin.token),
            None,
        )
        .await;
    assert_ok(&r, "delete bob");

    let before = app.snapshot().await;
    let r = app
        .json(
            "PATCH",
            "/latest/user/me",
            Some(&mallory.token),
            &json!({"username": "bob"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(detail(&r).contains("owns nodes"), "{}", r.text);
    let r = app
        .json(
            "PATCH",
            &format!("/latest/user/{}", mallory.id()),
            Some(&admin.token),
            &json!({"username": "bob"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(app.snapshot().await, before, "nothing changed");
    let r = app
        .json(
            "PATCH",
            &format!("/latest/node/{}", id(&node)),
            Some(&mallory.token),
            &json!({"result": "fail"}),
        )
        .await;
    assert_not_editor(&r, "mallory edits bob's node");
}

/// Case: a group that nodes name in `user_groups` cannot be deleted: a new group of that
/// name would hand those nodes to its members.
pub async fn a_group_named_by_nodes_cannot_be_deleted(app: TestApp) {
    let admin = app.add_user("root", true, &[]).await;
    let alice = app.add_user("alice", false, &["lab"]).await;
    let group = app.group("lab").await;
    let mut body = checkout("c1");
    body["user_groups"] = json!(["lab"]);
    app.create(&alice.token, body).await;
    // Take the group from alice, so that only the node still names it.
    let r = app
        .json(
            "PATCH",
            &format!("/latest/user/{}", alice.id()),
            Some(&admin.token),
            &json!({"groups": []}),
        )
        .await;
    assert_ok(&r, "take the group from alice");
    let r = app
        .send(
            "DELETE",
            &format!("/latest/user-groups/{}", group.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(detail(&r).contains("user_groups of nodes"), "{}", r.text);
    assert!(
        app.store()
            .find_group_by_name("lab")
            .await
            .unwrap()
            .is_some()
    );
}
