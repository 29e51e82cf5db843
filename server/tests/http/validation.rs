//! Answers shaped as the Python server's: `/users` items with Beanie's `revision_id`, and
//! 422s that list every invalid field of a body, in the model's field order, each with
//! pydantic's `type`, `loc`, `msg` and `input`.
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Resp, TestApp};

/// The `(type, loc)` of each problem of a 422.
fn problems(r: &Resp) -> Vec<(String, Value)> {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    r.body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("a list of problems: {}", r.text))
        .iter()
        .map(|p| {
            for key in ["type", "loc", "msg", "input"] {
                assert!(p.get(key).is_some(), "{key} in {p}");
            }
            (p["type"].as_str().unwrap().to_owned(), p["loc"].clone())
        })
        .collect()
}

#[tokio::test]
async fn users_items_carry_a_null_revision_id_second_and_user_reads_do_not() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &["team-a"]).await;
    let r = app.send("GET", "/latest/users", Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let item = &r.body["items"][0];
    let keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "revision_id",
            "email",
            "is_active",
            "is_superuser",
            "is_verified",
            "username",
            "groups"
        ]
    );
    assert_eq!(item["revision_id"], Value::Null);
    assert_eq!(item["username"], "alice");
    assert_eq!(item["groups"][0]["name"], "team-a");
    // `UserRead` answers keep their seven keys.
    for uri in [
        "/latest/whoami",
        &format!("/latest/user/{}", item["id"].as_str().unwrap()),
    ] {
        let r = app.send("GET", uri, Some(&alice), None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        assert!(r.body.get("revision_id").is_none(), "{uri}: {}", r.text);
    }
}

#[tokio::test]
async fn a_user_update_with_three_bad_fields_lists_three_in_model_order() {
    let app = TestApp::new().await;
    let alice = app.user("alice", false, &[]).await;
    // Out of order on purpose: pydantic lists by the model's fields, not the body's keys.
    let body = json!({"is_verified": [], "username": 5, "email": "no-at-sign"});
    let r = app.patch("/latest/user/me", &alice, &body).await;
    let found = problems(&r);
    assert_eq!(
        found,
        [
            ("value_error".to_owned(), json!(["body", "email"])),
            ("string_type".to_owned(), json!(["body", "username"])),
            ("bool_type".to_owned(), json!(["body", "is_verified"])),
        ],
        "{}",
        r.text
    );
    let detail = &r.body["detail"];
    assert_eq!(detail[1]["msg"], "Input should be a valid string");
    assert_eq!(detail[1]["input"], 5);
    assert_eq!(detail[2]["input"], json!([]));
    assert_eq!(detail[0]["input"], "no-at-sign");
    // Nothing was changed.
    assert_eq!(app.stored_user("alice").await.email, "alice@example.org");
}

#[tokio::test]
async fn an_invite_missing_a_field_with_a_bad_email_lists_both() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &[]).await;
    let body = json!({"email": "bad", "groups": ["a", "a"]});
    let r = app.post("/latest/user/invite", &admin, &body).await;
    assert_eq!(
        problems(&r),
        [
            ("missing".to_owned(), json!(["body", "username"])),
            ("value_error".to_owned(), json!(["body", "email"])),
            ("value_error".to_owned(), json!(["body", "groups"])),
        ],
        "{}",
        r.text
    );
    // A missing field's input is the body, as pydantic's.
    assert_eq!(r.body["detail"][0]["input"], body);
    assert_eq!(r.body["detail"][0]["msg"], "Field required");
}

#[tokio::test]
async fn a_node_with_two_bad_fields_lists_both() {
    let app = TestApp::new().await;
    let lab = app.user("lab", false, &[]).await;
    let body = json!({"kind": "checkout", "path": "not-a-list", "name": 5, "state": "bogus"});
    let r = app.post("/latest/node", &lab, &body).await;
    let found = problems(&r);
    assert_eq!(
        found,
        [
            ("string_type".to_owned(), json!(["body", "name"])),
            ("list_type".to_owned(), json!(["body", "path"])),
            ("enum".to_owned(), json!(["body", "state"])),
        ],
        "{}",
        r.text
    );
    assert_eq!(r.body["detail"][1]["msg"], "Input should be a valid list");
    assert!(
        r.body["detail"][2]["msg"]
            .as_str()
            .unwrap()
            .starts_with("Input should be 'running', "),
        "{}",
        r.text
    );
    // A single bad field is still one problem.
    let r = app
        .post(
            "/latest/node",
            &lab,
            &json!({"kind": "checkout", "path": ["x"]}),
        )
        .await;
    assert_eq!(
        problems(&r),
        [("missing".to_owned(), json!(["body", "name"]))]
    );
}
