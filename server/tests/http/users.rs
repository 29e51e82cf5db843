//! User management: `/users`, `/user/{id}` (GET, PATCH, DELETE), `PATCH /user/me`,
//! `/user/update-password`, `/user/register`, and legacy bcrypt passwords at login.
//!
//! argon2 takes seconds in debug builds, so tests hash as few new passwords as they can;
//! users made by the harness share one hash of `password`.
use axum::http::StatusCode;
use maestro_server::store::StoredUser;
use serde_json::{Value, json};

use crate::harness::{Resp, TestApp, checkout, detail};

const MISSING_ID: &str = "61bda8f2eb1a63d2b7152418";

const USER_READ_KEYS: [&str; 7] = [
    "id",
    "email",
    "is_active",
    "is_superuser",
    "is_verified",
    "username",
    "groups",
];

/// Fails when a response carries a password hash (or its field) or one of `secrets`.
fn assert_no_secrets(r: &Resp, secrets: &[&str]) {
    for needle in ["hashed_password", "$argon2", "$2b$", "$2a$", "$2y$"]
        .iter()
        .chain(secrets)
    {
        assert!(!r.text.contains(needle), "{needle:?} leaked in {}", r.text);
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

async fn form(app: &TestApp, uri: &str, body: &str) -> Resp {
    app.send("POST", uri, None, Some(body)).await
}

async fn login(app: &TestApp, username: &str, password: &str) -> Resp {
    form(
        app,
        "/latest/user/login",
        &format!("username={username}&password={password}"),
    )
    .await
}

async fn user_id(app: &TestApp, name: &str) -> String {
    app.stored_user(name).await.id.to_string()
}

fn status_detail(r: &Resp) -> (StatusCode, String) {
    (r.status, detail(r))
}

fn bad_request(d: &str) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, d.to_owned())
}

fn not_found(d: &str) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, d.to_owned())
}

#[tokio::test]
async fn users_listing_is_paginated_for_any_user_and_filters_exactly() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &["team-a"]).await;
    app.user("bob", false, &["team-a", "team-b"]).await;
    app.user("root", true, &[]).await;
    let mut carol = app.stored_user("bob").await;
    carol.id = maestro_server::nodes::ops::new_id();
    carol.username = "carol".into();
    carol.email = "Carol@Example.org".into();
    carol.is_active = false;
    carol.is_verified = false;
    carol.groups.clear();
    app.store().insert_user(&carol).await.unwrap();

    let r = app.get("/latest/users").await;
    assert_eq!(
        status_detail(&r),
        (StatusCode::UNAUTHORIZED, "Unauthorized".into())
    );
    let r = app.send("GET", "/latest/users", Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(keys(&r.body), ["items", "total", "limit", "offset"]);
    assert_eq!(
        (r.body["total"].clone(), r.body["limit"].clone()),
        (json!(4), json!(50))
    );
    assert_eq!(r.body["offset"], 0);
    let items = r.body["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "root", "carol"]);
    for u in items {
        // The Python server's listing items carry Beanie's `revision_id` second.
        let mut listed = USER_READ_KEYS.to_vec();
        listed.insert(1, "revision_id");
        assert_eq!(keys(u), listed);
    }
    assert_eq!(items[1]["groups"][1]["name"], "team-b");
    assert_no_secrets(&r, &[]);

    let cases: [(&str, &[&str]); 12] = [
        ("username=bob", &["bob"]),
        ("email=alice@example.org", &["alice"]),
        // Exact, as the Python server's filters.
        ("email=carol@example.org", &[]),
        ("is_superuser=true", &["root"]),
        ("is_superuser=false&is_active=true", &["alice", "bob"]),
        ("is_active=false", &["carol"]),
        ("is_verified=False", &["carol"]),
        ("groups.name=team-a", &["alice", "bob"]),
        ("groups.name=team-b&username=alice", &[]),
        ("limit=2", &["alice", "bob"]),
        ("limit=2&offset=3", &["carol"]),
        ("offset=10", &[]),
    ];
    for (q, want) in cases {
        let r = app
            .send("GET", &format!("/latest/users?{q}"), Some(&alice), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
        let got: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{q}");
    }
    let r = app
        .send(
            "GET",
            "/latest/users?limit=1&offset=1&groups.name=team-a",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (
            r.body["total"].clone(),
            r.body["limit"].clone(),
            r.body["offset"].clone()
        ),
        (json!(2), json!(1), json!(1))
    );

    for q in ["limit=0", "limit=x", "offset=-1", "offset=1.5"] {
        let r = app
            .send("GET", &format!("/latest/users?{q}"), Some(&alice), None)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(r.body["detail"][0]["loc"][0], "query", "{q}");
    }
    let r = app
        .send("GET", "/latest/users?is_active=maybe", Some(&alice), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("is_active"), "{}", r.text);
    for q in [
        "hashed_password=x",
        "id=x",
        "groups=team-a",
        "is_superuser__ne=true",
    ] {
        let r = app
            .send("GET", &format!("/latest/users?{q}"), Some(&alice), None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        let name = q.split('=').next().unwrap();
        assert!(
            detail(&r).ends_with(&format!(": {name}")),
            "{q}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn get_user_shows_user_read_to_any_user_and_404s_otherwise() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    app.user("bob", true, &["team-a"]).await;
    let bob_id = user_id(&app, "bob").await;
    let uri = format!("/latest/user/{bob_id}");
    assert_eq!(app.get(&uri).await.status, StatusCode::UNAUTHORIZED);
    let r = app.send("GET", &uri, Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(keys(&r.body), USER_READ_KEYS);
    assert_eq!(r.body["id"], bob_id.as_str());
    assert_eq!(r.body["email"], "bob@example.org");
    assert_eq!(r.body["is_superuser"], true);
    assert_eq!(r.body["groups"][0]["name"], "team-a");
    assert_no_secrets(&r, &[]);
    // `/user/me` has no GET: it falls through to `/user/{id}` with an invalid id.
    for id in [MISSING_ID, "xyz", "me"] {
        let r = app
            .send("GET", &format!("/latest/user/{id}"), Some(&alice), None)
            .await;
        assert_eq!(status_detail(&r), not_found("Not Found"), "{id}");
    }
    // The other methods on `/user/{id}` are GET, PATCH and DELETE.
    let r = app
        .send("POST", "/latest/user/verify", Some(&alice), Some("{}"))
        .await;
    assert_eq!(
        status_detail(&r),
        (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into())
    );
}

#[tokio::test]
async fn delete_user_is_for_superusers_and_leaves_the_users_nodes() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let root = app.user("root", true, &[]).await;
    let node = app.create(&alice, checkout("c1")).await;
    let alice_id = user_id(&app, "alice").await;
    let uri = format!("/latest/user/{alice_id}");

    let r = app.send("DELETE", &uri, None, None).await;
    assert_eq!(
        status_detail(&r),
        (StatusCode::UNAUTHORIZED, "Unauthorized".into())
    );
    let r = app.send("DELETE", &uri, Some(&alice), None).await;
    assert_eq!(
        status_detail(&r),
        (StatusCode::FORBIDDEN, "Forbidden".into())
    );
    let r = app.send("DELETE", &uri, Some(&root), None).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "null"));
    assert!(
        app.store()
            .find_user_by_username("alice")
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.stored(node["id"].as_str().unwrap()).await.is_some());

    for id in [alice_id.as_str(), MISSING_ID, "xyz", "me"] {
        let r = app
            .send("DELETE", &format!("/latest/user/{id}"), Some(&root), None)
            .await;
        assert_eq!(status_detail(&r), not_found("Not Found"), "{id}");
    }
}

#[tokio::test]
async fn a_deleted_users_token_is_refused_everywhere() {
    let app = TestApp::new().await;
    let gone = app.user("gone", true, &[]).await;
    let root = app.user("root", true, &[]).await;
    let gone_id = user_id(&app, "gone").await;
    let root_id = user_id(&app, "root").await;
    let r = app
        .send(
            "DELETE",
            &format!("/latest/user/{gone_id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let calls = [
        ("GET", "/latest/whoami".to_owned(), None),
        ("GET", "/latest/users".to_owned(), None),
        ("GET", format!("/latest/user/{root_id}"), None),
        ("PATCH", "/latest/user/me".to_owned(), Some("{}")),
        ("PATCH", format!("/latest/user/{root_id}"), Some("{}")),
        ("DELETE", format!("/latest/user/{root_id}"), None),
        ("POST", "/latest/user/register".to_owned(), Some("{}")),
        ("POST", "/latest/node".to_owned(), Some("{}")),
    ];
    for (method, uri, body) in &calls {
        let r = app.send(method, uri, Some(&gone), *body).await;
        assert_eq!(
            status_detail(&r),
            (StatusCode::UNAUTHORIZED, "Unauthorized".into()),
            "{method} {uri}"
        );
    }
    // The superuser it tried to delete is still there.
    assert!(
        app.store()
            .find_user_by_username("root")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_inactive_users_token_is_refused() {
    let app = TestApp::new().await;
    let alice = app.user("alice", true, &[]).await;
    let mut stored = app.stored_user("alice").await;
    stored.is_active = false;
    app.overwrite_user(&stored).await;
    let me = format!("/latest/user/{}", stored.id);
    let calls = [
        ("GET", "/latest/users", None),
        ("GET", me.as_str(), None),
        ("PATCH", "/latest/user/me", Some(r#"{"is_active": true}"#)),
        ("PATCH", me.as_str(), Some(r#"{"is_active": true}"#)),
        ("DELETE", me.as_str(), None),
        ("POST", "/latest/user/register", Some("{}")),
    ];
    for (method, uri, body) in calls {
        let r = app.send(method, uri, Some(&alice), body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    assert!(!app.stored_user("alice").await.is_active);
}

#[tokio::test]
async fn patch_me_changes_username_and_email_and_keeps_verification() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &["team-a"]).await;
    app.user("bob", false, &[]).await;

    let r = app.patch("/latest/user/me", &alice, &json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(keys(&r.body), USER_READ_KEYS);
    assert_eq!(r.body["username"], "alice");

    let r = app
        .patch("/latest/user/me", &alice, &json!({"username": "bob"}))
        .await;
    assert_eq!(
        status_detail(&r),
        bad_request("Username already exists: bob")
    );
    // Taken case-insensitively.
    let r = app
        .patch(
            "/latest/user/me",
            &alice,
            &json!({"email": "BOB@example.org"}),
        )
        .await;
    assert_eq!(
        status_detail(&r),
        bad_request("UPDATE_USER_EMAIL_ALREADY_EXISTS")
    );
    assert_eq!(app.stored_user("alice").await.email, "alice@example.org");

    let body = json!({"username": "alicia", "email": "alicia@example.org",
                      "groups": [], "unknown_field": 1});
    let r = app.patch("/latest/user/me", &alice, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["username"], "alicia");
    assert_eq!(r.body["email"], "alicia@example.org");
    // Quirk 19 fixed: an email change does not unverify (no verification route exists).
    assert_eq!(r.body["is_verified"], true);
    assert_eq!(r.body["groups"][0]["name"], "team-a");
    assert_no_secrets(&r, &[]);
    let stored = app.stored_user("alicia").await;
    assert_eq!(
        (stored.email.as_str(), stored.is_verified),
        ("alicia@example.org", true)
    );
    // The same user and token; whoami still works.
    let r = app.send("GET", "/latest/whoami", Some(&alice), None).await;
    assert_eq!(
        (r.status, r.body["username"].clone()),
        (StatusCode::OK, json!("alicia"))
    );
    // Changing only the case of one's own email is not a conflict with oneself.
    let r = app
        .patch(
            "/latest/user/me",
            &alice,
            &json!({"email": "Alicia@example.org"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["email"].clone()),
        (StatusCode::OK, json!("Alicia@example.org"))
    );

    let r = app.send("PATCH", "/latest/user/me", None, Some("{}")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Authentication comes before the body.
    let r = app
        .send("PATCH", "/latest/user/me", None, Some("{bad"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for bad in [
        "{bad",
        r#"{"email": "not-an-email"}"#,
        r#"{"username": ""}"#,
        r#"{"is_active": "maybe"}"#,
        r#"{"groups": "team-a"}"#,
        "[]",
    ] {
        let r = app
            .send("PATCH", "/latest/user/me", Some(&alice), Some(bad))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn patch_me_refuses_privilege_escalation() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &["team-a"]).await;
    app.user("root", true, &["admins"]).await;
    let r = app
        .patch("/latest/user/me", &alice, &json!({"groups": ["admins"]}))
        .await;
    assert_eq!(
        status_detail(&r),
        bad_request("User groups can only be updated by an admin user")
    );
    // The groups check comes first, before the username check.
    let r = app
        .patch(
            "/latest/user/me",
            &alice,
            &json!({"groups": ["team-a"], "username": "root"}),
        )
        .await;
    assert_eq!(
        status_detail(&r),
        bad_request("User groups can only be updated by an admin user")
    );
    let r = app
        .patch(
            "/latest/user/me",
            &alice,
            &json!({"is_superuser": true, "is_active": false, "is_verified": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.body["is_superuser"].clone(),
            r.body["is_active"].clone(),
            r.body["is_verified"].clone()
        ),
        (json!(false), json!(true), json!(true))
    );
    let stored = app.stored_user("alice").await;
    assert!(!stored.is_superuser && stored.is_active && stored.is_verified);
    let names: Vec<&str> = stored.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["team-a"]);
    // Still an ordinary user.
    let root_id = user_id(&app, "root").await;
    let r = app
        .patch(
            &format!("/latest/user/{root_id}"),
            &alice,
            &json!({"is_superuser": false}),
        )
        .await;
    assert_eq!(
        status_detail(&r),
        (StatusCode::FORBIDDEN, "Forbidden".into())
    );
    let alice_id = stored.id.to_string();
    let r = app
        .patch(
            &format!("/latest/user/{alice_id}"),
            &alice,
            &json!({"is_superuser": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!app.stored_user("alice").await.is_superuser);
    assert!(app.stored_user("root").await.is_superuser);
}

#[tokio::test]
async fn patch_me_rehashes_a_new_password() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let r = app
        .patch(
            "/latest/user/me",
            &alice,
            &json!({"password": "n3w-Secret"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_no_secrets(&r, &["n3w-Secret"]);
    let stored = app.stored_user("alice").await;
    assert!(stored.hashed_password.starts_with("$argon2id$"));
    assert!(!stored.hashed_password.contains("n3w-Secret"));
    let r = login(&app, "alice", "n3w-Secret").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The old hash (the harness's shared hash of `password`) is gone.
    app.user("bob", false, &[]).await;
    assert_ne!(
        stored.hashed_password,
        app.stored_user("bob").await.hashed_password
    );
}

#[tokio::test]
async fn admin_patch_assigns_groups_flags_and_email() {
    let app = TestApp::new().await;
    let root = app.user("root", true, &["team-a", "team-b"]).await;
    let alice = app.user("alice", false, &["team-a"]).await;
    app.user("bob", false, &[]).await;
    let alice_id = user_id(&app, "alice").await;
    let uri = format!("/latest/user/{alice_id}");

    let r = app.send("PATCH", &uri, None, Some("{}")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .patch(
            &uri,
            &root,
            &json!({"groups": ["team-b", "team-a", "team-b"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(keys(&r.body), USER_READ_KEYS);
    let names: Vec<&str> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team-b", "team-a"]);
    let team_b = app
        .store()
        .find_group_by_name("team-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.body["groups"][0]["id"], team_b.id.to_string());
    assert_no_secrets(&r, &[]);

    let r = app
        .patch(&uri, &root, &json!({"groups": ["team-a", "nope"]}))
        .await;
    assert_eq!(
        status_detail(&r),
        bad_request("User group does not exist with name: nope")
    );
    assert_eq!(app.stored_user("alice").await.groups.len(), 2);
    // Quirk 20 fixed: an empty list clears the groups.
    let r = app.patch(&uri, &root, &json!({"groups": []})).await;
    assert_eq!(
        (r.status, r.body["groups"].clone()),
        (StatusCode::OK, json!([]))
    );
    assert!(app.stored_user("alice").await.groups.is_empty());
    // Absent (or null) groups leave them alone.
    app.patch(&uri, &root, &json!({"groups": ["team-a"]})).await;
    let r = app
        .patch(&uri, &root, &json!({"groups": null, "username": "alice"}))
        .await;
    assert_eq!(r.body["groups"][0]["name"], "team-a");

    let r = app.patch(&uri, &root, &json!({"username": "bob"})).await;
    assert_eq!(
        status_detail(&r),
        bad_request("Username already exists: bob")
    );
    let r = app
        .patch(&uri, &root, &json!({"email": "bob@EXAMPLE.org"}))
        .await;
    assert_eq!(
        status_detail(&r),
        bad_request("UPDATE_USER_EMAIL_ALREADY_EXISTS")
    );

    // A changed email unverifies, unless is_verified is sent as well.
    let r = app
        .patch(&uri, &root, &json!({"email": "a1@example.org"}))
        .await;
    assert_eq!(
        (
            r.status,
            r.body["email"].clone(),
            r.body["is_verified"].clone()
        ),
        (StatusCode::OK, json!("a1@example.org"), json!(false))
    );
    let r = app
        .patch(
            &uri,
            &root,
            &json!({"email": "a2@example.org", "is_verified": true}),
        )
        .await;
    assert_eq!(
        (r.body["email"].clone(), r.body["is_verified"].clone()),
        (json!("a2@example.org"), json!(true))
    );
    // The same email is no change.
    let r = app
        .patch(&uri, &root, &json!({"email": "a2@example.org"}))
        .await;
    assert_eq!(r.body["is_verified"], true);

    let r = app
        .patch(
            &uri,
            &root,
            &json!({"is_superuser": true, "username": "alice2"}),
        )
        .await;
    assert_eq!(
        (r.body["is_superuser"].clone(), r.body["username"].clone()),
        (json!(true), json!("alice2"))
    );
    let r = app.patch(&uri, &root, &json!({"is_active": false})).await;
    assert_eq!(r.body["is_active"], false);
    let r = app.send("GET", "/latest/users", Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .patch(
            &uri,
            &root,
            &json!({"is_active": true, "is_superuser": false}),
        )
        .await;
    assert_eq!(
        (r.body["is_active"].clone(), r.body["is_superuser"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        app.send("GET", "/latest/users", Some(&alice), None)
            .await
            .status,
        StatusCode::OK
    );

    let r = app
        .patch(&format!("/latest/user/{MISSING_ID}"), &root, &json!({}))
        .await;
    assert_eq!(
        status_detail(&r),
        not_found(&format!("User not found with id: {MISSING_ID}"))
    );
    let r = app.patch("/latest/user/xyz", &root, &json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("not a valid ObjectId"), "{}", r.text);
    // The body is validated before the id.
    let r = app
        .send("PATCH", "/latest/user/xyz", Some(&root), Some("{bad"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .patch(&uri, &root, &json!({"is_superuser": "yes please"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A superuser's own PATCH /user/me still cannot set groups.
    let r = app
        .patch("/latest/user/me", &root, &json!({"groups": ["team-a"]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_patch_sets_a_password() {
    let app = TestApp::new().await;
    let root = app.user("root", true, &[]).await;
    app.user("alice", false, &[]).await;
    let uri = format!("/latest/user/{}", user_id(&app, "alice").await);
    let r = app
        .patch(&uri, &root, &json!({"password": "Adm1n-set"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_no_secrets(&r, &["Adm1n-set"]);
    assert!(
        app.stored_user("alice")
            .await
            .hashed_password
            .starts_with("$argon2id$")
    );
    assert_eq!(
        login(&app, "alice", "Adm1n-set").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn update_password_checks_the_form_credentials() {
    let app = TestApp::new().await;
    app.user("alice", false, &[]).await;
    let uri = "/latest/user/update-password";
    let r = form(&app, uri, "username=alice&password=wrong&new_password=x").await;
    assert_eq!(status_detail(&r), bad_request("LOGIN_BAD_CREDENTIALS"));
    let r = form(
        &app,
        uri,
        "username=nobody&password=password&new_password=x",
    )
    .await;
    assert_eq!(status_detail(&r), bad_request("LOGIN_BAD_CREDENTIALS"));
    for body in [
        "username=alice&password=password",
        "username=alice&new_password=x",
        "",
    ] {
        let r = form(&app, uri, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let mut stored = app.stored_user("alice").await;
    let old_hash = stored.hashed_password.clone();
    stored.is_active = false;
    app.overwrite_user(&stored).await;
    let r = form(&app, uri, "username=alice&password=password&new_password=x").await;
    assert_eq!(status_detail(&r), bad_request("LOGIN_BAD_CREDENTIALS"));
    // An unverified (but active) user may change their password.
    stored.is_active = true;
    stored.is_verified = false;
    app.overwrite_user(&stored).await;
    let r = form(
        &app,
        uri,
        "username=alice&password=password&new_password=Upd4ted%21",
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "null"));
    let stored = app.stored_user("alice").await;
    assert!(stored.hashed_password.starts_with("$argon2id$"));
    assert_ne!(stored.hashed_password, old_hash);
    assert!(maestro_server::auth::verify_password(
        "Upd4ted!",
        &stored.hashed_password
    ));
    // A token is neither needed nor looked at.
    let r = app
        .send(
            "POST",
            uri,
            Some("garbage"),
            Some("username=alice&password=wrong&new_password=x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn register_is_disabled_after_the_superuser_check() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    let root = app.user("root", true, &[]).await;
    let body = json!({"email": "new@example.org", "password": "x", "username": "new"});
    let r = app
        .send(
            "POST",
            "/latest/user/register",
            None,
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.post("/latest/user/register", &alice, &body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for bad in [
        "{bad",
        "{}",
        r#"{"email": "nope", "password": "x", "username": "n"}"#,
    ] {
        let r = app
            .send("POST", "/latest/user/register", Some(&root), Some(bad))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let r = app.post("/latest/user/register", &root, &body).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body,
        json!({"detail": "User registration is disabled; use /user/invite instead."})
    );
    assert!(
        app.store()
            .find_user_by_username("new")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn bcrypt_users_log_in_and_are_upgraded_to_argon2id() {
    let app = TestApp::new().await;
    app.user("legacy", false, &[]).await;
    let mut stored = app.stored_user("legacy").await;
    // The Python admin tool wrote `$2b$` hashes; cost 4 keeps the test fast.
    stored.hashed_password = bcrypt::hash("Old-pw 1", 4).unwrap();
    assert!(stored.hashed_password.starts_with("$2b$"));
    app.overwrite_user(&stored).await;

    let r = login(&app, "legacy", "wrong").await;
    assert_eq!(status_detail(&r), bad_request("LOGIN_BAD_CREDENTIALS"));
    assert!(
        app.stored_user("legacy")
            .await
            .hashed_password
            .starts_with("$2b$")
    );

    let r = login(&app, "legacy", "Old-pw%201").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_no_secrets(&r, &["Old-pw 1"]);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let upgraded = app.stored_user("legacy").await;
    assert!(upgraded.hashed_password.starts_with("$argon2id$"));
    // Nothing else changed.
    assert_eq!(
        StoredUser {
            hashed_password: stored.hashed_password.clone(),
            ..upgraded.clone()
        },
        stored
    );
    let r = app.send("GET", "/latest/whoami", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_no_secrets(&r, &["Old-pw 1"]);
    // The same password still works, now against the argon2id hash, which stays.
    let r = login(&app, "legacy", "Old-pw%201").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        app.stored_user("legacy").await.hashed_password,
        upgraded.hashed_password
    );

    // `$2a$` and `$2y$` hashes verify too (as update-password credentials here).
    for prefix in ["$2a$", "$2y$"] {
        let mut u = app.stored_user("legacy").await;
        let h = bcrypt::hash("Old-pw 1", 4).unwrap();
        u.hashed_password = format!("{prefix}{}", &h[4..]);
        app.overwrite_user(&u).await;
        let r = form(
            &app,
            "/latest/user/update-password",
            "username=legacy&password=Old-pw%201&new_password=Old-pw%201",
        )
        .await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (StatusCode::OK, "null"),
            "{prefix}"
        );
        assert!(
            app.stored_user("legacy")
                .await
                .hashed_password
                .starts_with("$argon2id$")
        );
    }
}
