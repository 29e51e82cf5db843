//! Client mistakes that must be 4xx answers, never 500.
use axum::http::StatusCode;

use crate::support::{TestApp, detail};

pub async fn many_query_parameters_are_answered(app: TestApp) {
    for n in [1_000, 5_000] {
        let q: Vec<String> = (0..n).map(|i| format!("data.f{i}=v")).collect();
        let r = app
            .send("GET", &format!("/latest/nodes?{}", q.join("&")), None, None)
            .await;
        assert!(
            r.status.is_client_error() || r.status == StatusCode::OK,
            "{n}: {} {}",
            r.status,
            r.text
        );
        let r = app
            .send("GET", &format!("/latest/count?{}", q.join("&")), None, None)
            .await;
        assert!(
            r.status.is_client_error() || r.status == StatusCode::OK,
            "{n}: {} {}",
            r.status,
            r.text
        );
        if r.status.is_client_error() {
            assert!(!detail(&r).is_empty(), "{}", r.text);
        }
    }
}

pub async fn odd_dates_and_regexes_are_not_500(app: TestApp) {
    app.create(
        &app.add_user("bob", false, &[]).await.token,
        crate::support::checkout("c1"),
    )
    .await;
    for q in [
        "created__gt=0000-01-01T00:00:00",
        "created__lt=0000-01-01",
        "created=0000-06-01T12:00:00",
        "updated__gte=9999-12-31T23:59:59",
        "created__gt=-0001-01-01T00:00:00",
        "name__re=a**",
        "name__re=a++",
        "name__re=(?P<x>a)",
        "name__re=x{2,1}",
        "name__re=\\p{Greek}",
    ] {
        let (k, v) = q.split_once('=').unwrap();
        let v: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        for path in ["/latest/nodes", "/latest/count"] {
            let r = app
                .send("GET", &format!("{path}?{k}={v}"), None, None)
                .await;
            assert!(
                r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST,
                "{path}?{q}: {} {}",
                r.status,
                r.text
            );
            if r.status == StatusCode::BAD_REQUEST {
                assert!(!detail(&r).is_empty(), "{q}: {}", r.text);
            }
        }
    }
    let r = app.send("GET", "/latest/events?path=a**", None, None).await;
    assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text);
}

pub async fn logout_is_served_as_upstream(app: TestApp) {
    let bob = app.add_user("bob", false, &[]).await;
    let r = app
        .send("POST", "/latest/user/logout", Some(&bob.token), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.text.is_empty());
    let r = app.send("POST", "/latest/user/logout", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let mut carol = app.user_record("carol", false, &[]).await;
    carol.is_verified = false;
    let carol = app.insert(carol).await;
    let r = app
        .send("POST", "/latest/user/logout", Some(&carol.token), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}
