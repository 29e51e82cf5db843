//! Email through a real (in-process) SMTP server: the invite and password-reset flows end
//! to end, a failing or missing SMTP server, bad reset tokens, and no token in the logs.
use std::sync::Arc;

use axum::http::StatusCode;
use maestro_server::state::Onboarding;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::support::{Logs, claims, login, now, post_anon, smtp_sink, with_mail};
use crate::harness::{TestApp, detail};

#[tokio::test]
async fn invite_and_password_reset_go_through_smtp_and_no_token_is_logged() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let (port, mut inbox) = smtp_sink().await;
    let mut app = TestApp::new().await;
    with_mail(&mut app, port);
    let admin = app.user("admin", true, &[]).await;

    let r = app
        .post(
            "/latest/user/invite",
            &admin,
            &json!({"username": "carol", "email": "carol@example.org"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["email_sent"], true);
    assert_eq!(
        (&r.body["token"], &r.body["invite_url"]),
        (&Value::Null, &Value::Null)
    );
    let mail = inbox.recv().await.unwrap();
    assert_eq!(mail.rcpt, ["<carol@example.org>"]);
    assert!(
        mail.data.contains("From: KernelCI <bot@kernelci.example>"),
        "{}",
        mail.data
    );
    assert_eq!(mail.subject(), "Invitation to the KernelCI API");
    let invite_token = mail.word_after("accept via API by using this token:");
    assert_eq!(claims(&invite_token)["purpose"], "invite");
    assert!(
        mail.body().contains("/user/accept-invite?token"),
        "{}",
        mail.body()
    );

    let r = post_anon(
        &app,
        "/latest/user/accept-invite",
        json!({"token": invite_token, "password": "first-pw"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let welcome = inbox.recv().await.unwrap();
    assert_eq!(welcome.rcpt, ["<carol@example.org>"]);
    assert_eq!(welcome.subject(), "Welcome to the KernelCI API");

    // Unknown and inactive accounts get the same 202 and no email.
    app.user("inactive", false, &[]).await;
    let mut inactive = app.stored_user("inactive").await;
    inactive.is_active = false;
    app.overwrite_user(&inactive).await;
    for email in ["nobody@example.org", "inactive@example.org"] {
        let r = post_anon(
            &app,
            "/latest/user/forgot-password",
            json!({"email": email}),
        )
        .await;
        assert_eq!((r.status, &r.body), (StatusCode::ACCEPTED, &Value::Null));
    }
    // Emails are matched ignoring case.
    let r = post_anon(
        &app,
        "/latest/user/forgot-password",
        json!({"email": "Carol@Example.org"}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body, r.text.as_str()),
        (StatusCode::ACCEPTED, &Value::Null, "null")
    );
    let mail = inbox.recv().await.unwrap();
    assert_eq!(
        mail.rcpt,
        ["<carol@example.org>"],
        "only carol's request sent an email"
    );
    assert_eq!(
        mail.subject(),
        "Reset Password Token for KernelCI API account"
    );
    let reset_token = mail.word_after("KernelCI API account is:");
    let c = claims(&reset_token);
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["sub", "password_fgpt", "aud", "exp"]);
    assert_eq!(c["aud"], "fastapi-users:reset");
    assert_eq!(c["sub"], app.stored_user("carol").await.id.to_string());
    assert!(
        c["password_fgpt"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$")
    );
    assert!((3590..=3600).contains(&(c["exp"].as_u64().unwrap() - now())));

    let r = post_anon(
        &app,
        "/latest/user/reset-password",
        json!({"token": reset_token, "password": "second-pw"}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &Value::Null),
        "{}",
        r.text
    );
    let done = inbox.recv().await.unwrap();
    assert_eq!(
        done.subject(),
        "Password reset successful for KernelCI API account"
    );
    let r = login(&app, "carol", "second-pw").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The password changed, so the fingerprint no longer matches: the token is spent.
    let r = post_anon(
        &app,
        "/latest/user/reset-password",
        json!({"token": reset_token, "password": "third-pw"}),
    )
    .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::BAD_REQUEST,
            "RESET_PASSWORD_BAD_TOKEN".to_owned()
        )
    );

    let logged = logs.text();
    assert!(
        logged.contains("/user/reset-password"),
        "the capture works: {logged}"
    );
    for secret in [&invite_token, &reset_token, &admin] {
        assert!(
            !logged.contains(secret.as_str()),
            "a token was logged: {logged}"
        );
    }
    for password in ["first-pw", "second-pw", "third-pw"] {
        assert!(!logged.contains(password), "a password was logged");
    }
}

#[tokio::test]
async fn without_a_working_smtp_server_invites_still_reach_the_admin() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut app = TestApp::new().await;
    // A port nobody listens on: every connection is refused.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    with_mail(&mut app, port);
    let admin = app.user("admin", true, &[]).await;
    app.user("alice", false, &[]).await;

    let r = app
        .post(
            "/latest/user/invite",
            &admin,
            &json!({"username": "erin", "email": "erin@example.org"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["email_sent"], false);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(r.body["invite_url"].as_str().unwrap().ends_with(&token));

    let r = post_anon(
        &app,
        "/latest/user/forgot-password",
        json!({"email": "alice@example.org"}),
    )
    .await;
    assert_eq!(
        (r.status, detail(&r)),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to send email".to_owned()
        )
    );

    // With no SMTP at all, a reset cannot be sent: 202 all the same, and a warning.
    app.state.onboarding = Arc::new(Onboarding::default());
    let r = post_anon(
        &app,
        "/latest/user/forgot-password",
        json!({"email": "alice@example.org"}),
    )
    .await;
    assert_eq!((r.status, &r.body), (StatusCode::ACCEPTED, &Value::Null));
    let r = post_anon(
        &app,
        "/latest/user/forgot-password",
        json!({"email": "nope"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let logged = logs.text();
    assert!(
        logged.contains("sending the invite email failed"),
        "{logged}"
    );
    assert!(logged.contains("SMTP is not configured"), "{logged}");
    assert!(
        !logged.contains(&token),
        "the invite token was logged: {logged}"
    );
}

#[tokio::test]
async fn reset_password_refuses_every_bad_token_alike() {
    let app = TestApp::new().await;
    let access = app.user("alice", false, &[]).await;
    app.user("inactive", false, &[]).await;
    let alice = app.stored_user("alice").await;
    let mut inactive = app.stored_user("inactive").await;
    inactive.is_active = false;
    app.overwrite_user(&inactive).await;

    let sign = |c: Value| app.state.tokens.sign_claims(&c).unwrap();
    // A valid argon2 hash, but of another string than alice's current hash.
    let wrong_fgpt = alice.hashed_password.clone();
    let reset = |id: &str| {
        json!({"sub": id, "password_fgpt": wrong_fgpt, "aud": "fastapi-users:reset",
               "exp": now() + 60})
    };
    let mut expired = reset(&alice.id.to_string());
    expired["exp"] = json!(now() - 10);
    let mut no_aud = reset(&alice.id.to_string());
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut no_fgpt = reset(&alice.id.to_string());
    no_fgpt.as_object_mut().unwrap().remove("password_fgpt");
    let invite = json!({"sub": alice.id.to_string(), "email": alice.email, "purpose": "invite",
                        "iat": now(), "exp": now() + 60});
    for token in [
        "garbage".to_owned(),
        access,
        sign(invite),
        sign(expired),
        sign(no_aud),
        sign(no_fgpt),
        sign(reset("65265b2d1e3ec4b1a6f4b0c9")),
        sign(reset("xyz")),
        sign(reset(&inactive.id.to_string())),
        sign(reset(&alice.id.to_string())),
    ] {
        let r = post_anon(
            &app,
            "/latest/user/reset-password",
            json!({"token": token, "password": "new"}),
        )
        .await;
        assert_eq!(
            (r.status, detail(&r)),
            (
                StatusCode::BAD_REQUEST,
                "RESET_PASSWORD_BAD_TOKEN".to_owned()
            ),
            "{token}"
        );
    }
    let r = post_anon(
        &app,
        "/latest/user/reset-password",
        json!({"password": "new"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.stored_user("alice").await, alice);
}
