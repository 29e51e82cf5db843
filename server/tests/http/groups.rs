//! `/user-groups`: superusers only; create, read, list with paging and the name filter,
//! and deletion refused while a user holds the group.
use axum::http::StatusCode;
use serde_json::json;

use crate::harness::{Resp, TestApp, detail};

const MISSING_ID: &str = "65265b2d1e3ec4b1a6f4b0c9";

async fn get(app: &TestApp, token: &str, uri: &str) -> Resp {
    app.send("GET", uri, Some(token), None).await
}

#[tokio::test]
async fn user_groups_need_a_superuser() {
    let app = TestApp::new().await;
    let user = app.user("alice", false, &["team-a"]).await;
    let group = app.store().find_group_by_name("team-a").await.unwrap();
    let one = format!("/latest/user-groups/{}", group.unwrap().id);
    let body = json!({"name": "x"}).to_string();
    for (method, uri, body) in [
        ("GET", "/latest/user-groups", None),
        ("POST", "/latest/user-groups", Some(body.as_str())),
        ("GET", one.as_str(), None),
        ("DELETE", one.as_str(), None),
    ] {
        let r = app.send(method, uri, None, body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(r.body, json!({"detail": "Unauthorized"}));
        let r = app.send(method, uri, Some(&user), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(r.body, json!({"detail": "Forbidden"}));
    }
    // Nothing was created or deleted on the way.
    assert!(app.store().find_group_by_name("x").await.unwrap().is_none());
    assert!(
        app.store()
            .find_group_by_name("team-a")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn user_groups_are_created_read_and_listed() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &[]).await;

    let r = app
        .post("/latest/user-groups", &admin, &json!({"name": "team-a"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "name"]);
    assert_eq!(r.body["name"], "team-a");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post("/latest/user-groups", &admin, &json!({"name": "team-a"}))
        .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::BAD_REQUEST,
            "User group already exists with name: team-a".to_owned()
        )
    );
    let r = app.post("/latest/user-groups", &admin, &json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "name"]));
    let r = app
        .post("/latest/user-groups", &admin, &json!({"name": 7}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    let r = get(&app, &admin, &format!("/latest/user-groups/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"id": id, "name": "team-a"}));
    let r = get(&app, &admin, &format!("/latest/user-groups/{MISSING_ID}")).await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::NOT_FOUND,
            format!("User group not found with id: {MISSING_ID}")
        )
    );
    let r = get(&app, &admin, "/latest/user-groups/nope").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("is not a valid ObjectId"), "{}", r.text);

    for name in ["team-b", "team-c"] {
        let r = app
            .post("/latest/user-groups", &admin, &json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = get(&app, &admin, "/latest/user-groups").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["items", "total", "limit", "offset"]);
    assert_eq!(
        (r.body["total"].clone(), r.body["limit"].clone()),
        (json!(3), json!(50))
    );
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team-a", "team-b", "team-c"]);

    let r = get(&app, &admin, "/latest/user-groups?limit=1&offset=1").await;
    assert_eq!(r.body["total"], 3);
    assert_eq!(
        r.body["items"],
        json!([{"id": r.body["items"][0]["id"], "name": "team-b"}])
    );
    assert_eq!(
        (r.body["limit"].clone(), r.body["offset"].clone()),
        (json!(1), json!(1))
    );

    let r = get(&app, &admin, "/latest/user-groups?name=team-c").await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["name"], "team-c");
    let r = get(&app, &admin, "/latest/user-groups?name=team").await;
    assert_eq!(
        (r.body["total"].clone(), r.body["items"].clone()),
        (json!(0), json!([]))
    );

    for bad in ["limit=0", "limit=x", "offset=-1"] {
        let r = get(&app, &admin, &format!("/latest/user-groups?{bad}")).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }
    let r = get(&app, &admin, "/latest/user-groups?colour=blue").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("colour"), "{}", r.text);
}

#[tokio::test]
async fn a_group_held_by_a_user_cannot_be_deleted() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &[]).await;
    app.user("alice", false, &["team-a"]).await;
    let held = app
        .store()
        .find_group_by_name("team-a")
        .await
        .unwrap()
        .unwrap();
    let r = app
        .post("/latest/user-groups", &admin, &json!({"name": "unused"}))
        .await;
    let unused = r.body["id"].as_str().unwrap().to_owned();

    let uri = format!("/latest/user-groups/{}", held.id);
    let r = app.send("DELETE", &uri, Some(&admin), None).await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::CONFLICT,
            "User group is assigned to users and cannot be deleted. Remove it from users first."
                .to_owned()
        )
    );
    assert!(
        app.store()
            .find_group_by_id(&held.id)
            .await
            .unwrap()
            .is_some()
    );

    let uri = format!("/latest/user-groups/{unused}");
    let r = app.send("DELETE", &uri, Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());
    let r = app.send("DELETE", &uri, Some(&admin), None).await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::NOT_FOUND,
            format!("User group not found with id: {unused}")
        )
    );
    let r = app
        .send("DELETE", "/latest/user-groups/xyz", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
