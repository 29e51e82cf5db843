//! Privilege escalation: a user's own update cannot raise their rights, and no node write
//! can change who owns a node or which groups may edit it.
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, assert_not_editor, assert_ok, checkout, detail, id};

/// Case 3: `PATCH /user/me` ignores `is_superuser`, `is_active` and `is_verified`, and
/// refuses a non-empty `groups` with 400; the stored user is unchanged and the user gains
/// no right.
pub async fn patch_me_cannot_raise_privileges(app: TestApp) {
    let alice = app.add_user("alice", false, &["team-a"]).await;
    // The groups exist, so that only the rule can refuse them.
    app.group("node:edit:any").await;
    app.group("runtime:lava-x:node-admin").await;
    let mallory = {
        let mut u = app.user_record("mallory", false, &["team-b"]).await;
        u.is_verified = false;
        app.insert(u).await
    };
    let me = Some(mallory.token.as_str());
    let before = app.stored_user("mallory").await;

    let ignored = [
        json!({"is_superuser": true, "is_verified": true, "is_active": false}),
        json!({"is_superuser": true, "groups": []}),
        json!({"is_superuser": true, "groups": null}),
    ];
    for body in &ignored {
        let r = app.json("PATCH", "/latest/user/me", me, body).await;
        assert_ok(&r, &format!("PATCH /user/me {body}"));
        assert_eq!(
            (
                &r.body["is_superuser"],
                &r.body["is_active"],
                &r.body["is_verified"],
                &r.body["groups"][0]["name"],
            ),
            (&json!(false), &json!(true), &json!(false), &json!("team-b")),
            "answer to {body}"
        );
        assert_eq!(app.stored_user("mallory").await, before, "after {body}");
    }

    let refused = [
        json!({"groups": ["node:edit:any"]}),
        json!({"groups": ["runtime:lava-x:node-admin"]}),
        json!({"groups": ["team-b", "node:edit:any"], "is_superuser": true, "username": "mallory2"}),
    ];
    for body in &refused {
        let r = app.json("PATCH", "/latest/user/me", me, body).await;
        assert_eq!(
            (r.status, detail(&r)),
            (
                StatusCode::BAD_REQUEST,
                "User groups can only be updated by an admin user".to_owned()
            ),
            "PATCH /user/me {body}"
        );
        assert_eq!(app.stored_user("mallory").await, before, "after {body}");
    }

    // Still no rights: not a superuser, not an editor of alice's node.
    let r = app
        .json(
            "POST",
            "/latest/user-groups",
            me,
            &json!({"name": "mallorys"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let nid = id(&app.create(&alice.token, checkout("c1")).await);
    let r = app
        .json(
            "PATCH",
            &format!("/latest/node/{nid}"),
            me,
            &json!({"result": "fail"}),
        )
        .await;
    assert_not_editor(&r, "PATCH of alice's node");

    // The endpoint works for what a user may change.
    let r = app
        .json(
            "PATCH",
            "/latest/user/me",
            me,
            &json!({"username": "mallory-renamed", "is_superuser": true}),
        )
        .await;
    assert_ok(&r, "renaming oneself");
    let after = app.stored_user("mallory-renamed").await;
    assert_eq!(
        after,
        maestro_server::store::StoredUser {
            username: "mallory-renamed".into(),
            ..before
        }
    );
}

/// Case 3: neither PUT nor PATCH changes a node's `owner` or `user_groups`, whoever edits
/// it (owner, `node:edit:any` member, superuser); `POST /node` sets the owner to the caller.
pub async fn node_owner_and_user_groups_cannot_be_changed(app: TestApp) {
    let alice = app.add_user("alice", false, &["team-a"]).await;
    let mallory = app.add_user("mallory", false, &["team-b"]).await;
    let editors = [
        alice,
        app.add_user("ed", false, &["node:edit:any"]).await,
        app.add_user("root", true, &[]).await,
    ];
    let alice = &editors[0];

    // Creating a node in someone else's name does not work.
    let mut forged = checkout("forged");
    forged["owner"] = json!("alice");
    let created = app.create(&mallory.token, forged).await;
    assert_eq!(created["owner"], "mallory");
    assert_eq!(
        app.node(&id(&created)).await.owner.as_deref(),
        Some("mallory")
    );

    let mut body = checkout("c1");
    body["user_groups"] = json!(["team-a"]);
    let node = app.create(&alice.token, body).await;
    let nid = id(&node);
    let uri = format!("/latest/node/{nid}");
    let assert_kept = |answer: &Value, what: &str| {
        assert_eq!(
            (&answer["owner"], &answer["user_groups"]),
            (&json!("alice"), &json!(["team-a"])),
            "{what}: answer"
        );
    };
    for editor in &editors {
        let name = &editor.user.username;
        let token = Some(editor.token.as_str());
        let mut put = app.send("GET", &uri, None, None).await.body;
        put["owner"] = json!("mallory");
        put["user_groups"] = json!(["team-b"]);
        put["name"] = json!(format!("renamed-by-{name}"));
        let r = app.json("PUT", &uri, token, &put).await;
        assert_ok(&r, &format!("PUT by {name}"));
        assert_kept(&r.body, &format!("PUT by {name}"));
        assert_eq!(r.body["name"], json!(format!("renamed-by-{name}")));

        let patch = json!({"owner": "mallory", "user_groups": ["team-b"], "result": "pass"});
        let r = app.json("PATCH", &uri, token, &patch).await;
        assert_ok(&r, &format!("PATCH by {name}"));
        assert_kept(&r.body, &format!("PATCH by {name}"));
        assert_eq!(r.body["result"], "pass");

        for only in [
            json!({"owner": "mallory"}),
            json!({"user_groups": ["team-b"]}),
            json!({"owner": "mallory", "user_groups": []}),
        ] {
            let r = app.json("PATCH", &uri, token, &only).await;
            assert_eq!(
                (r.status, detail(&r)),
                (StatusCode::BAD_REQUEST, "No fields to update".to_owned()),
                "PATCH {only} by {name}"
            );
        }
        let stored = app.node(&nid).await;
        assert_eq!(stored.owner.as_deref(), Some("alice"), "after {name}");
        assert_eq!(stored.user_groups, ["team-a"], "after {name}");
    }

    // So mallory (in team-b) still may not edit it.
    let r = app
        .json(
            "PATCH",
            &uri,
            Some(&mallory.token),
            &json!({"result": "fail"}),
        )
        .await;
    assert_not_editor(&r, "PATCH by mallory");
    let body = json!({"nodes": [nid], "field": "processed_by_kcidb_bridge", "value": "true"});
    let r = app
        .json("PUT", "/latest/batch/nodeset", Some(&mallory.token), &body)
        .await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &json!(0)),
        "{}",
        r.text
    );
}
