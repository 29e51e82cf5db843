//! The cache of authenticated users (`store/user_cache.rs`): every user change made on this
//! server takes effect on the next request, with the user already cached.
use axum::http::StatusCode;
use serde_json::json;

use crate::harness::TestApp;

async fn user_id(app: &TestApp, name: &str) -> String {
    app.stored_user(name).await.id.to_string()
}

async fn whoami(app: &TestApp, token: &str) -> crate::harness::Resp {
    app.send("GET", "/latest/whoami", Some(token), None).await
}

#[tokio::test]
async fn a_deactivated_users_token_is_refused_at_once() {
    let app = TestApp::new().await;
    let root = app.user("root", true, &[]).await;
    let alice = app.user("alice", false, &[]).await;
    // Cached by these requests.
    for _ in 0..2 {
        assert_eq!(whoami(&app, &alice).await.status, StatusCode::OK);
    }
    let uri = format!("/latest/user/{}", user_id(&app, "alice").await);
    let r = app.patch(&uri, &root, &json!({"is_active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(whoami(&app, &alice).await.status, StatusCode::UNAUTHORIZED);
    let r = app.patch(&uri, &root, &json!({"is_active": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(whoami(&app, &alice).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_deleted_or_directly_edited_user_is_seen_at_once() {
    let app = TestApp::new().await;
    let root = app.user("root", true, &[]).await;
    let alice = app.user("alice", false, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    assert_eq!(whoami(&app, &alice).await.status, StatusCode::OK);
    assert_eq!(whoami(&app, &bob).await.status, StatusCode::OK);
    // A change through the store itself (as the admin command makes), not the routes.
    let mut stored = app.stored_user("bob").await;
    stored.is_superuser = true;
    app.overwrite_user(&stored).await;
    assert_eq!(whoami(&app, &bob).await.body["is_superuser"], true);
    let uri = format!("/latest/user/{}", user_id(&app, "alice").await);
    let r = app.send("DELETE", &uri, Some(&root), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(whoami(&app, &alice).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_rename_is_seen_at_once() {
    let app = TestApp::new().await;
    let root = app.user("root", true, &[]).await;
    let alice = app.user("alice", false, &[]).await;
    assert_eq!(whoami(&app, &alice).await.body["username"], "alice");
    let uri = format!("/latest/user/{}", user_id(&app, "alice").await);
    let r = app.patch(&uri, &root, &json!({"username": "alice2"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(whoami(&app, &alice).await.body["username"], "alice2");
}

#[tokio::test]
async fn a_group_change_takes_effect_at_once() {
    let app = TestApp::new().await;
    let root = app.user("root", true, &["team-a"]).await;
    let bob = app.user("bob", false, &[]).await;
    let mut node = crate::harness::checkout("c");
    node["user_groups"] = json!(["team-a"]);
    let id = app.create(&root, node).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let may_edit = format!("/latest/maestro/node/{id}/may-edit");
    let bob_uri = format!("/latest/user/{}", user_id(&app, "bob").await);
    let asks = |token: String| {
        let (app, may_edit) = (&app, may_edit.clone());
        async move { app.send("GET", &may_edit, Some(&token), None).await.body["may_edit"].clone() }
    };
    assert_eq!(asks(bob.clone()).await, false);
    let r = app
        .patch(&bob_uri, &root, &json!({"groups": ["team-a"]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(asks(bob.clone()).await, true);
    let r = app
        .patch(
            &format!("/latest/node/{id}"),
            &bob,
            &json!({"state": "available"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.patch(&bob_uri, &root, &json!({"groups": []})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(asks(bob.clone()).await, false);
    let r = app
        .patch(
            &format!("/latest/node/{id}"),
            &bob,
            &json!({"state": "closing"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}
