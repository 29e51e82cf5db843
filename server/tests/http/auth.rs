//! Tokens and who may write: login, whoami, and the 401s of every write endpoint.
use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{TestApp, checkout, detail};

#[tokio::test]
async fn login_issues_a_fastapi_users_token_that_whoami_accepts() {
    let app = TestApp::new().await;
    app.user("alice", false, &["team-a"]).await;
    let r = app
        .send(
            "POST",
            "/latest/user/login",
            None,
            Some("username=alice&password=password"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "token_type"]);
    assert_eq!(r.body["token_type"], "bearer");
    let token = r.body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&base64_decode(payload)).unwrap();
    assert_eq!(claims["aud"], json!(["fastapi-users:auth"]));
    assert_eq!(claims["sub"], app.stored_user("alice").await.id.to_string());
    let r = app.send("GET", "/latest/whoami", Some(token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "email",
            "is_active",
            "is_superuser",
            "is_verified",
            "username",
            "groups"
        ]
    );
    assert_eq!(r.body["groups"][0]["name"], "team-a");
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn login_errors_match_fastapi_users() {
    let app = TestApp::new().await;
    app.user("alice", false, &[]).await;
    let r = app
        .send(
            "POST",
            "/latest/user/login",
            None,
            Some("username=alice&password=wrong"),
        )
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (StatusCode::BAD_REQUEST, "LOGIN_BAD_CREDENTIALS".to_owned())
    );
    let r = app
        .send(
            "POST",
            "/latest/user/login",
            None,
            Some("username=nobody&password=x"),
        )
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (StatusCode::BAD_REQUEST, "LOGIN_BAD_CREDENTIALS".to_owned())
    );
    let r = app
        .send("POST", "/latest/user/login", None, Some("username=alice"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .send(
            "POST",
            "/latest/user/login",
            None,
            Some("username=alice&password=password&grant_type=magic"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut alice = app.stored_user("alice").await;
    alice.is_verified = false;
    app.overwrite_user(&alice).await;
    let r = app
        .send(
            "POST",
            "/latest/user/login",
            None,
            Some("username=alice&password=password"),
        )
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::BAD_REQUEST,
            "LOGIN_USER_NOT_VERIFIED".to_owned()
        )
    );
    let token = app.state.tokens.issue(&alice.id).unwrap();
    let r = app.send("GET", "/latest/whoami", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    alice.is_active = false;
    app.overwrite_user(&alice).await;
    let r = app
        .send(
            "POST",
            "/latest/user/login",
            None,
            Some("username=alice&password=password"),
        )
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (StatusCode::BAD_REQUEST, "LOGIN_BAD_CREDENTIALS".to_owned())
    );
    let r = app.send("GET", "/latest/whoami", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_write_needs_a_valid_token_of_an_active_user() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let n = app.create(&alice, checkout("c1")).await;
    let nid = n["id"].as_str().unwrap();
    let other_secret = maestro_server::auth::TokenKeys::new("other".into(), None, 60)
        .issue(&app.stored_user("alice").await.id)
        .unwrap();
    let body = n.to_string();
    let writes = [
        ("POST", "/latest/node".to_owned()),
        ("PUT", format!("/latest/node/{nid}")),
        ("PATCH", format!("/latest/node/{nid}")),
        ("PUT", format!("/latest/nodes/{nid}")),
        ("PUT", "/latest/batch/nodeset".to_owned()),
    ];
    for (method, uri) in &writes {
        for token in [None, Some("garbage"), Some(other_secret.as_str())] {
            let r = app.send(method, uri, token, Some(&body)).await;
            assert_eq!(
                (r.status, detail(&r)),
                (StatusCode::UNAUTHORIZED, "Unauthorized".to_owned()),
                "{method} {uri} {token:?}"
            );
        }
        // Authentication is checked before the body: an anonymous bad body is still 401.
        let r = app.send(method, uri, None, Some("{bad")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn only_owners_superusers_and_group_members_may_edit() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let bob = app.user("bob", false, &[]).await;
    let admin = app.user("root", true, &[]).await;
    let editor = app.user("ed", false, &["node:edit:any"]).await;
    let lab = app
        .user("lab", false, &["runtime:lava-collabora:node-editor"])
        .await;
    let team = app.user("carol", false, &["team-a"]).await;
    let mut body = checkout("c1");
    body["user_groups"] = json!(["team-a"]);
    body["data"]["runtime"] = json!("lava-collabora");
    let n = app.create(&alice, body).await;
    let uri = format!("/latest/node/{}", n["id"].as_str().unwrap());
    let r = app.patch(&uri, &bob, &json!({"result": "fail"})).await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::UNAUTHORIZED,
            "Unauthorized to complete the operation".to_owned()
        )
    );
    let r = app.put(&uri, &bob, &n).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for token in [&alice, &admin, &editor, &team] {
        let r = app.patch(&uri, token, &json!({"result": "pass"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["owner"], "alice");
    }
    // Editors of the runtime named in data.runtime may edit too.
    let r = app.patch(&uri, &lab, &json!({"result": "pass"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
