//! Invites and accept-invite: who may invite, every error path in order, the public base
//! URL rules, and invite → accept → login. Emails and password resets are in `mail`.
//! argon2 is slow in debug builds, so few passwords are hashed.
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::{TestApp, detail};
use support::{claims, login, now, post_anon, request};

mod mail;
mod support;

#[tokio::test]
async fn invites_need_a_superuser() {
    let app = TestApp::new().await;
    let user = app.user("alice", false, &[]).await;
    let body = json!({"username": "bob", "email": "bob@example.org"});
    for token in [None, Some(user.as_str())] {
        let expected = if token.is_some() {
            (StatusCode::FORBIDDEN, "Forbidden")
        } else {
            (StatusCode::UNAUTHORIZED, "Unauthorized")
        };
        let r = request(
            &app,
            "POST",
            "/latest/user/invite",
            token,
            Some(body.clone()),
            &[],
            None,
        )
        .await;
        assert_eq!((r.status, detail(&r).as_str()), expected);
        let r = request(
            &app,
            "GET",
            "/latest/user/invite/url",
            token,
            None,
            &[],
            None,
        )
        .await;
        assert_eq!((r.status, detail(&r).as_str()), expected);
    }
    assert!(
        app.store()
            .find_user_by_username("bob")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_invite_without_smtp_carries_its_link_and_accepting_it_enables_login() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &["team-a"]).await;
    let body = json!({"username": "bob", "email": "Bob@Example.ORG", "groups": ["team-a"],
                      "is_superuser": true});
    let r = app.post("/latest/user/invite", &admin, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "user",
            "email_sent",
            "public_base_url",
            "accept_invite_url",
            "invite_url",
            "token"
        ]
    );
    let user = &r.body["user"];
    assert_eq!(user["username"], "bob");
    assert_eq!(user["email"], "Bob@example.org", "the domain is normalised");
    assert_eq!(
        (
            &user["is_active"],
            &user["is_verified"],
            &user["is_superuser"]
        ),
        (&json!(true), &json!(false), &json!(true))
    );
    assert_eq!(user["groups"][0]["name"], "team-a");
    // No SMTP: not emailed, so the link is in the answer although return_token is false.
    assert_eq!(r.body["email_sent"], false);
    assert_eq!(r.body["public_base_url"], "http://localhost");
    assert_eq!(
        r.body["accept_invite_url"],
        "http://localhost/user/accept-invite"
    );
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["invite_url"],
        format!("http://localhost/user/accept-invite?token={token}")
    );
    let c = claims(&token);
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    // The Python server's claims, in its order, then the fingerprint that makes it single-use.
    assert_eq!(
        keys,
        ["sub", "email", "purpose", "iat", "exp", "password_fgpt"]
    );
    assert_eq!(
        (&c["sub"], &c["email"], &c["purpose"]),
        (&user["id"], &user["email"], &json!("invite"))
    );
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        604_800
    );
    let stored = app.stored_user("bob").await;
    assert!(stored.hashed_password.starts_with("$argon2id$"));

    // The random password is unknown, so bob can't log in before accepting.
    assert_eq!(
        detail(&login(&app, "bob", "s3cret").await),
        "LOGIN_BAD_CREDENTIALS"
    );
    // An access token is no invite token (it has an audience).
    let r = post_anon(
        &app,
        "/latest/user/accept-invite",
        json!({"token": admin, "password": "x"}),
    )
    .await;
    assert_eq!(detail(&r), "Invalid or expired invite token");

    let r = post_anon(
        &app,
        "/latest/user/accept-invite",
        json!({"token": token, "password": "s3cret"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["is_verified"], true);
    assert_eq!(r.body["id"], user["id"]);
    let r = login(&app, "bob", "s3cret").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let bob = r.body["access_token"].as_str().unwrap();
    let r = app.send("GET", "/latest/whoami", Some(bob), None).await;
    assert_eq!(
        (r.status, &r.body["username"]),
        (StatusCode::OK, &json!("bob"))
    );

    let r = post_anon(
        &app,
        "/latest/user/accept-invite",
        json!({"token": token, "password": "again"}),
    )
    .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::BAD_REQUEST,
            "Invite already accepted".to_owned()
        )
    );
}

#[tokio::test]
async fn invite_requests_are_validated_and_existing_users_checked() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &[]).await;
    app.user("alice", false, &[]).await;
    let invite = |body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move { app.post("/latest/user/invite", &admin, &body).await }
    };

    for (body, loc) in [
        (json!({"email": "x@example.org"}), "username"),
        (json!({"username": "x"}), "email"),
        (json!({"username": "x", "email": "not-an-address"}), "email"),
        (
            json!({"username": "x", "email": "x@example.org", "groups": ["a", "a"]}),
            "groups",
        ),
        (
            json!({"username": "x", "email": "x@example.org", "send_email": null}),
            "send_email",
        ),
    ] {
        let r = invite(body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", loc]), "{body}");
    }
    let r = invite(json!({"username": "x", "email": "x@example.org", "groups": ["nope"]})).await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::BAD_REQUEST,
            "User group does not exist with name: nope".to_owned()
        )
    );
    assert!(
        app.store()
            .find_user_by_username("x")
            .await
            .unwrap()
            .is_none()
    );

    let cases = [
        // By username, then by email; without resend_if_exists, always refused.
        (
            json!({"username": "alice", "email": "new@example.org"}),
            "User already exists",
        ),
        (
            json!({"username": "new", "email": "alice@example.org"}),
            "User already exists",
        ),
        (
            json!({"username": "alice", "email": "alice@example.org", "resend_if_exists": true}),
            "User already verified",
        ),
    ];
    for (body, expected) in cases {
        let r = invite(body.clone()).await;
        assert_eq!(
            (r.status, detail(&r)),
            (StatusCode::BAD_REQUEST, expected.to_owned()),
            "{body}"
        );
    }

    // An unverified user may be invited again, as they are; nothing else changes.
    let r =
        invite(json!({"username": "bob", "email": "bob@example.org", "return_token": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let first = r.body["token"].as_str().unwrap().to_owned();
    let bob = app.stored_user("bob").await;
    let cases = [
        (
            json!({"username": "bob", "email": "bob@example.org"}),
            "User already exists",
        ),
        (
            json!({"username": "bobby", "email": "bob@example.org", "resend_if_exists": true}),
            "Existing user has a different username",
        ),
        (
            json!({"username": "bob", "email": "other@example.org", "resend_if_exists": true}),
            "Existing user has a different email",
        ),
    ];
    for (body, expected) in cases {
        let r = invite(body.clone()).await;
        assert_eq!(
            (r.status, detail(&r)),
            (StatusCode::BAD_REQUEST, expected.to_owned()),
            "{body}"
        );
    }
    let r = invite(
        json!({"username": "bob", "email": "bob@example.org", "resend_if_exists": true,
                          "is_superuser": true, "send_email": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["id"], bob.id.to_string());
    assert_eq!(
        r.body["user"]["is_superuser"], false,
        "the request's flags are ignored"
    );
    assert_eq!(app.stored_user("bob").await, bob);
    // send_email false: the link is the only way to the user, so it is returned.
    assert!(r.body["token"].is_string() && r.body["invite_url"].is_string());
    assert_eq!(
        claims(r.body["token"].as_str().unwrap())["sub"],
        claims(&first)["sub"]
    );
}

#[tokio::test]
async fn accept_invite_checks_token_then_user_in_order() {
    let app = TestApp::new().await;
    app.user("alice", false, &[]).await;
    app.user("carol", false, &[]).await;
    let alice = app.stored_user("alice").await;
    let mut carol = app.stored_user("carol").await;
    carol.is_verified = false;
    carol.is_active = false;
    app.overwrite_user(&carol).await;
    let mut dave = carol.clone();
    dave.id = maestro_server::nodes::ops::new_id();
    dave.username = "dave".into();
    dave.email = "dave@example.org".into();
    dave.is_active = true;
    app.store().insert_user(&dave).await.unwrap();

    let sign = |c: Value| app.state.tokens.sign_claims(&c).unwrap();
    let invite = |id: &str, email: &str| json!({"sub": id, "email": email, "purpose": "invite", "iat": now(), "exp": now() + 60});
    let other_key = maestro_server::auth::TokenKeys::new("other".into(), None, 60)
        .sign_claims(&invite(&dave.id.to_string(), &dave.email))
        .unwrap();
    let mut expired = invite(&dave.id.to_string(), &dave.email);
    expired["exp"] = json!(now() - 10);
    let mut wrong_purpose = invite(&dave.id.to_string(), &dave.email);
    wrong_purpose["purpose"] = json!("reset");
    let unknown = "65265b2d1e3ec4b1a6f4b0c9";
    let cases = [
        (
            "not-a-jwt".to_owned(),
            400,
            "Invalid or expired invite token",
        ),
        (other_key, 400, "Invalid or expired invite token"),
        (sign(expired), 400, "Invalid or expired invite token"),
        (sign(wrong_purpose), 400, "Invalid invite token"),
        (
            sign(invite(unknown, "x@example.org")),
            404,
            "User not found",
        ),
        (sign(json!({"purpose": "invite"})), 404, "User not found"),
        (
            sign(invite(&carol.id.to_string(), &carol.email)),
            400,
            "User is inactive",
        ),
        (
            sign(invite(&dave.id.to_string(), "old@example.org")),
            400,
            "Invalid invite token",
        ),
        (
            sign(invite(&alice.id.to_string(), &alice.email)),
            400,
            "Invite already accepted",
        ),
    ];
    for (token, status, expected) in cases {
        let r = post_anon(
            &app,
            "/latest/user/accept-invite",
            json!({"token": token, "password": "pw"}),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), detail(&r)),
            (status, expected.to_owned()),
            "{token}"
        );
    }
    let r = post_anon(
        &app,
        "/latest/user/accept-invite",
        json!({"token": sign(invite("xyz", "x@example.org")), "password": "pw"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("is not a valid ObjectId"), "{}", r.text);
    let r = post_anon(&app, "/latest/user/accept-invite", json!({"token": "t"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "password"]));
    // Nothing changed.
    assert_eq!(app.stored_user("dave").await, dave);
}

#[tokio::test]
async fn the_public_base_url_trusts_forwarding_headers_from_local_proxies_only() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &[]).await;
    let url = |headers: &'static [(&'static str, &'static str)], peer: Option<&'static str>| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let r = request(
                app,
                "GET",
                "/latest/user/invite/url",
                Some(&admin),
                None,
                headers,
                peer,
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let base = r.body["public_base_url"].as_str().unwrap().to_owned();
            assert_eq!(
                r.body["accept_invite_url"],
                format!("{base}/user/accept-invite")
            );
            base
        }
    };
    let xf: &[(&str, &str)] = &[
        ("host", "api.internal:8001"),
        ("x-forwarded-host", "kernelci.example.org, proxy.internal"),
        ("x-forwarded-proto", "https"),
    ];
    assert_eq!(
        url(&[("host", "api.internal:8001")], None).await,
        "http://api.internal:8001"
    );
    assert_eq!(
        url(xf, Some("127.0.0.1:40000")).await,
        "https://kernelci.example.org"
    );
    assert_eq!(
        url(xf, Some("[fd00::2]:40000")).await,
        "https://kernelci.example.org"
    );
    // A client on the internet, or one whose address is unknown, is not trusted.
    assert_eq!(
        url(xf, Some("8.8.8.8:40000")).await,
        "http://api.internal:8001"
    );
    assert_eq!(url(xf, None).await, "http://api.internal:8001");
    let forwarded: &[(&str, &str)] = &[
        ("host", "api.internal"),
        (
            "forwarded",
            "for=203.0.113.9;host=\"fwd.example.org\";proto=https, host=second",
        ),
        ("x-forwarded-host", "ignored.example.org"),
    ];
    assert_eq!(
        url(forwarded, Some("10.0.0.2:1")).await,
        "https://fwd.example.org"
    );
    let host_only: &[(&str, &str)] = &[("x-forwarded-host", "kci.local:8080")];
    assert_eq!(
        url(host_only, Some("10.0.0.2:1")).await,
        "http://kci.local:8080"
    );

    // PUBLIC_BASE_URL wins over everything; its trailing slash is dropped.
    let mut cfg = maestro_server::Config::embedded("unused".into());
    cfg.public_base_url = Some("https://api.kernelci.org/".into());
    let onboarding = maestro_server::onboarding(&cfg).unwrap();
    assert!(onboarding.mailer.is_none());
    let mut app = app;
    app.state.onboarding = Arc::new(onboarding);
    let r = request(
        &app,
        "GET",
        "/latest/user/invite/url",
        Some(&admin),
        None,
        xf,
        Some("127.0.0.1:1"),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"public_base_url": "https://api.kernelci.org",
               "accept_invite_url": "https://api.kernelci.org/user/accept-invite"})
    );
}

#[tokio::test]
async fn the_served_app_knows_its_peer_and_honours_a_local_proxy() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &[]).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(maestro_server::run(
        app.state.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /latest/user/invite/url HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin}\r\n\
         X-Forwarded-Host: kernelci.example.org\r\nX-Forwarded-Proto: https\r\n\
         Connection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains(r#""public_base_url":"https://kernelci.example.org""#),
        "{resp}"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_invite_is_good_once_even_if_the_user_is_unverified_again() {
    let app = TestApp::new().await;
    let admin = app.user("admin", true, &[]).await;
    let body = json!({"username": "carol", "email": "carol@example.org"});
    let r = app.post("/latest/user/invite", &admin, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let accept = json!({"token": token, "password": "Carol-Chose-This-1"});
    let r = app.post("/latest/user/accept-invite", "", &accept).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/latest/user/{id}"),
            &admin,
            &json!({"is_verified": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let before = app.stored_user("carol").await;
    let again = json!({"token": token, "password": "Mallory-Sets-This-2"});
    let r = app.post("/latest/user/accept-invite", "", &again).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(detail(&r), "Invite already accepted");
    assert_eq!(app.stored_user("carol").await, before, "nothing changed");
}
