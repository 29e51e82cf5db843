//! Early refusals say `Connection: close`; answers that read the body keep the connection.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use maestro_server::app;
use serde_json::json;
use tower::ServiceExt;

use crate::support::{TestApp, checkout};

/// Status and `Connection` header of a request.
async fn connection_of(
    app_: &TestApp,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Option<String>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let resp = app(app_.state.clone()).oneshot(req).await.unwrap();
    let conn = resp
        .headers()
        .get("connection")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status(), conn)
}

pub async fn refusals_before_the_body_say_connection_close(app: TestApp) {
    let bob = app.add_user("bob", false, &[]).await;
    let body = Some(checkout("c").to_string());
    let close = Some("close".to_owned());
    let r = connection_of(&app, "POST", "/latest/node", None, body.clone()).await;
    assert_eq!(r, (StatusCode::UNAUTHORIZED, close.clone()));
    let r = connection_of(
        &app,
        "POST",
        "/latest/user-groups",
        Some(&bob.token),
        Some(json!({"name": "g"}).to_string()),
    )
    .await;
    assert_eq!(r, (StatusCode::FORBIDDEN, close.clone()));
    // Read bodies keep the connection open, errors included.
    let r = connection_of(&app, "POST", "/latest/node", Some(&bob.token), body).await;
    assert_eq!(r, (StatusCode::OK, None));
    let r = connection_of(
        &app,
        "POST",
        "/latest/node",
        Some(&bob.token),
        Some("{".into()),
    )
    .await;
    assert_eq!(r, (StatusCode::UNPROCESSABLE_ENTITY, None));
    let r = connection_of(&app, "GET", "/latest/nodes", None, None).await;
    assert_eq!(r, (StatusCode::OK, None));
}
