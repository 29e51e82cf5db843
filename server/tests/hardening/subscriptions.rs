//! Subscriptions per user are bounded (429 beyond), and freed by unsubscribing.
use std::sync::Arc;

use axum::http::StatusCode;
use maestro_server::pubsub::{PubSub, PubSubConfig};

use crate::support::{TestApp, detail};

pub async fn subscriptions_per_user_are_bounded(mut app: TestApp) {
    app.state.pubsub = Arc::new(PubSub::new(PubSubConfig {
        max_per_user: 2,
        ..PubSubConfig::default()
    }));
    let bob = app.add_user("bob", false, &[]).await;
    let carol = app.add_user("carol", false, &[]).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = app
            .send("POST", "/latest/subscribe/node", Some(&bob.token), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        ids.push(r.body["id"].as_u64().unwrap());
    }
    let r = app
        .send("POST", "/latest/subscribe/node", Some(&bob.token), None)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(detail(&r).contains("bob"), "{}", r.text);
    let r = app
        .send("POST", "/latest/subscribe/node", Some(&carol.token), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "another user is not limited: {}",
        r.text
    );
    let r = app
        .send(
            "POST",
            &format!("/latest/unsubscribe/{}", ids[0]),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .send("POST", "/latest/subscribe/node", Some(&bob.token), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "freed by the unsubscribe: {}",
        r.text
    );
}
