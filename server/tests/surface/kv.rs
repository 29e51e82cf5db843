//! `/kv/{namespace}/{key}`: auth, round trips, and bodies as the Python server reads them.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use maestro_server::app;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{Resp, TestApp, assert_unauthorized};

/// A `POST` of raw `body` bytes with this `Content-Type` (none when `None`).
pub async fn post_raw(
    app_: &TestApp,
    uri: &str,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = app(app_.state.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, body, text }
}

/// The value under `uri` as `token` reads it (must answer 200).
async fn value(app: &TestApp, uri: &str, token: &str) -> Value {
    let r = app.send("GET", uri, Some(token), None).await;
    assert_eq!(r.status, StatusCode::OK, "GET {uri}: {}", r.text);
    r.body
}

/// Sets `uri` to the JSON string `v` and checks the `"OK"`.
async fn set(app: &TestApp, uri: &str, token: &str, v: &str) {
    let r = app.json("POST", uri, Some(token), &json!(v)).await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &json!("OK")), "{uri}");
}

pub async fn every_call_needs_an_active_user(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    set(&app, "/latest/kv/ns/k", &alice.token, "kept").await;
    let mut inactive = app.user_record("idle", false, &[]).await;
    inactive.is_active = false;
    let idle = app.insert(inactive).await;
    for token in [None, Some("not-a-token"), Some(idle.token.as_str())] {
        let r = app.send("GET", "/latest/kv/ns/k", token, None).await;
        assert_unauthorized(&r, "GET");
        // Authentication comes before the body: a bad body is still a 401.
        let r = app
            .send("POST", "/latest/kv/ns/k", token, Some("{bad".into()))
            .await;
        assert_unauthorized(&r, "POST with a bad body");
        let r = app
            .json("POST", "/latest/kv/ns/k", token, &json!("stolen"))
            .await;
        assert_unauthorized(&r, "POST");
        let r = app.send("DELETE", "/latest/kv/ns/k", token, None).await;
        assert_unauthorized(&r, "DELETE");
    }
    assert_eq!(
        value(&app, "/latest/kv/ns/k", &alice.token).await,
        json!("kept")
    );
}

pub async fn values_round_trip_under_one_key_per_namespace_and_key(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let bob = app.add_user("bob", false, &[]).await;
    let t = &alice.token;
    assert_eq!(value(&app, "/latest/kv/ns/k", t).await, Value::Null);
    set(&app, "/latest/kv/ns/k", t, "v1").await;
    assert_eq!(value(&app, "/latest/kv/ns/k", t).await, json!("v1"));
    set(&app, "/latest/kv/ns/k", t, "v2 ünïcödé ✓").await;
    // No per-user namespacing, and every prefix reaches the same value.
    for uri in ["/latest/kv/ns/k", "/v0/kv/ns/k", "/kv/ns/k"] {
        assert_eq!(
            value(&app, uri, &bob.token).await,
            json!("v2 ünïcödé ✓"),
            "{uri}"
        );
    }
    assert_eq!(value(&app, "/latest/kv/other/k", t).await, Value::Null);
    assert_eq!(value(&app, "/latest/kv/ns/k2", t).await, Value::Null);
    // The stored key is `<namespace>:<key>`, as the Python server's Redis key.
    set(&app, "/latest/kv/a:b/c", t, "joined").await;
    assert_eq!(value(&app, "/latest/kv/a/b:c", t).await, json!("joined"));
    // Percent-encoded path segments are decoded.
    set(&app, "/latest/kv/ns/my%20key", t, "spaced").await;
    let stored = app.store().kv_get("ns:my key").await.unwrap();
    assert_eq!(stored.as_deref(), Some("spaced"));
    let gone = json!("Key-value pair deleted successfully");
    for _ in 0..2 {
        // The same answer whether or not the key existed.
        let r = app.send("DELETE", "/latest/kv/ns/k", Some(t), None).await;
        assert_eq!((r.status, &r.body), (StatusCode::OK, &gone));
    }
    assert_eq!(value(&app, "/latest/kv/ns/k", t).await, Value::Null);
    assert_eq!(value(&app, "/latest/kv/a/b:c", t).await, json!("joined"));
    // A large value, near the request-body limit.
    let big = "x".repeat(1 << 20);
    set(&app, "/latest/kv/ns/big", t, &big).await;
    assert_eq!(value(&app, "/latest/kv/ns/big", t).await, json!(big));
}

pub async fn bodies_are_read_as_upstream_and_bad_ones_change_nothing(app: TestApp) {
    let alice = app.add_user("alice", false, &[]).await;
    let t = &alice.token;
    let uri = "/latest/kv/ns/k";
    let ok = |r: &Resp, what: &str| {
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::OK, &json!("OK")),
            "{what}"
        );
    };
    // JSON with or without a JSON `Content-Type`; anything else is the raw text.
    for (ct, body, stored) in [
        (None, "\"plain json\"", "plain json"),
        (Some("application/json"), "\"typed json\"", "typed json"),
        (
            Some("application/merge-patch+json; charset=utf-8"),
            "\"+json\"",
            "+json",
        ),
        (Some("text/plain"), "raw text", "raw text"),
        (Some("text/plain"), "\"quoted\"", "\"quoted\""),
        (Some("application/octet-stream"), "{\"a\": 1}", "{\"a\": 1}"),
    ] {
        ok(
            &post_raw(&app, uri, t, ct, body.as_bytes().to_vec()).await,
            body,
        );
        assert_eq!(value(&app, uri, t).await, json!(stored), "{ct:?} {body}");
    }
    set(&app, uri, t, "before").await;
    for (ct, body, kind) in [
        (None, &b"not json"[..], "json_invalid"),
        (Some("application/json"), b"{\"a\":", "json_invalid"),
        (Some("application/json"), b"42", "string_type"),
        (None, b"{\"value\": \"x\"}", "string_type"),
        (None, b"[\"x\"]", "string_type"),
        (Some("text/plain"), b"\xff\xfe", "string_unicode"),
    ] {
        let r = post_raw(&app, uri, t, ct, body.to_vec()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
        assert_eq!(r.body["detail"][0]["type"], kind, "{body:?}: {}", r.text);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body"]), "{body:?}");
        assert_eq!(value(&app, uri, t).await, json!("before"), "{body:?}");
    }
    // An empty or missing value deletes the key (and still answers "OK").
    for (ct, body) in [
        (None, &b""[..]),
        (None, b"\"\""),
        (None, b"null"),
        (Some("text/plain"), b""),
    ] {
        set(&app, uri, t, "again").await;
        ok(&post_raw(&app, uri, t, ct, body.to_vec()).await, "empty");
        assert_eq!(value(&app, uri, t).await, Value::Null, "{body:?}");
    }
}
