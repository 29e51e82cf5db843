//! Login limits: hashing permits, failed-login counters per username and per address.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use maestro_server::app;
use maestro_server::login_limit::{LoginLimitConfig, LoginLimiter};
use tower::ServiceExt;

use crate::support::{PASSWORD, TestApp};

/// `POST /user/login` from `peer`: the status and the `Retry-After` header.
async fn login_from(app_: &TestApp, peer: &str, user: &str, pw: &str) -> (StatusCode, Option<u64>) {
    let addr: SocketAddr = peer.parse().unwrap();
    let mut req = Request::builder()
        .method("POST")
        .uri("/latest/user/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("username={user}&password={pw}")))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = app(app_.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v["detail"].is_string() || status == StatusCode::OK, "{v}");
    (status, retry)
}

pub async fn failed_logins_get_429_per_username_and_per_address(mut app: TestApp) {
    app.state.login_limits = Arc::new(LoginLimiter::new(LoginLimitConfig {
        per_username: 3,
        per_address: 6,
        window: Duration::from_secs(60),
    }));
    app.add_user("bob", false, &[]).await;
    let peer = "203.0.113.7:5000";
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, peer, "bob", "wrong").await.0,
            StatusCode::BAD_REQUEST
        );
    }
    // Blocked before the password is checked: even the right one is refused.
    let (status, retry) = login_from(&app, peer, "bob", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{retry:?}");
    // From elsewhere too: the username is spent.
    let (status, _) = login_from(&app, "198.51.100.1:1", "bob", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // An unknown name counts as a wrong password does.
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, peer, "nobody", "x").await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let (status, retry) = login_from(&app, peer, "nobody", "x").await;
    assert_eq!(
        (status, retry.is_some()),
        (StatusCode::TOO_MANY_REQUESTS, true)
    );
    // Six failures from `peer`: the address is spent for every name.
    app.add_user("carol", false, &[]).await;
    let (status, _) = login_from(&app, peer, "carol", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = login_from(&app, "198.51.100.2:1", "carol", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "another address logs in");
}

pub async fn password_checks_wait_for_a_hashing_permit(app: TestApp) {
    app.add_user("dora", false, &[]).await;
    let pool = maestro_server::hash_pool::pool();
    let mut held = Vec::new();
    for _ in 0..pool.size() {
        held.push(pool.acquire().await.unwrap());
    }
    let form = format!("username=dora&password={PASSWORD}");
    let login = app.form("/latest/user/login", &form);
    tokio::pin!(login);
    assert!(
        tokio::time::timeout(Duration::from_millis(1000), &mut login)
            .await
            .is_err(),
        "a login must wait while every hashing permit is taken"
    );
    drop(held);
    let r = tokio::time::timeout(Duration::from_secs(30), login)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
