//! No response body and no log line carries a password, a password hash or a token.
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::support::{PASSWORD, Resp, TestApp, assert_ok, checkout, password_hash};

const WRONG: &str = "Wrong-Guess-51d0e2";
const SELF_SET: &str = "Self-Chosen-8c1b44";
const ADMIN_SET: &str = "Admin-Set-3e9a7f";
const FORM_SET: &str = "Form-Updated-b62d19";
const INVITEE: &str = "Invitee-Chosen-0a7c35";
const IN_ERRORS: &str = "Error-Path-f4e812";

/// Everything written to the log, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The secrets seen so far, and every answer with the secrets it may carry by design.
#[derive(Default)]
struct Record {
    /// (what, needle): the secret and telling fragments of it.
    secrets: Vec<(String, String)>,
    /// (request, body, needles allowed in this body)
    answers: Vec<(String, String, Vec<String>)>,
}

impl Record {
    fn password(&mut self, what: &str, password: &str) {
        self.secrets.push((what.to_owned(), password.to_owned()));
    }

    /// A PHC hash, with its salt and digest on their own (a partial leak counts).
    fn hash(&mut self, what: &str, hash: &str) {
        if self.secrets.iter().any(|(_, s)| s == hash) {
            return;
        }
        self.secrets.push((what.to_owned(), hash.to_owned()));
        for part in hash.rsplit('$').take(2) {
            self.secrets
                .push((format!("{what} (part)"), part.to_owned()));
        }
    }

    /// A JWT, with its signature on its own.
    fn token(&mut self, what: &str, token: &str) {
        self.secrets.push((what.to_owned(), token.to_owned()));
        let signature = token.rsplit('.').next().unwrap();
        self.secrets
            .push((format!("{what} (signature)"), signature.to_owned()));
    }

    fn answer(&mut self, request: &str, r: &Resp, allowed: &[&str]) {
        let allowed = allowed.iter().map(|s| (*s).to_owned()).collect();
        self.answers
            .push((request.to_owned(), r.text.clone(), allowed));
    }

    /// Whether `needle` is part of one of the allowed secrets (a token's signature).
    fn allowed(allowed: &[String], needle: &str) -> bool {
        allowed.iter().any(|a| a.contains(needle))
    }
}

/// Records the stored hash of `username`.
async fn remember_hash(rec: &mut Record, app: &TestApp, username: &str) -> String {
    let hash = app.stored_user(username).await.hashed_password;
    rec.hash(&format!("hash of {username}"), &hash);
    hash
}

/// Sends, checks the status and records the answer.
async fn call(
    app: &TestApp,
    rec: &mut Record,
    (method, uri): (&str, &str),
    token: Option<&str>,
    body: &str,
    want: StatusCode,
) -> Resp {
    let body = (!body.is_empty()).then(|| body.to_owned());
    let r = app.send(method, uri, token, body).await;
    assert_eq!(r.status, want, "{method} {uri}: {}", r.text);
    rec.answer(&format!("{method} {uri}"), &r, &[]);
    r
}

/// Logs in; returns the access token and records the answer (which carries it).
async fn login(app: &TestApp, rec: &mut Record, username: &str, password: &str) -> String {
    let r = app
        .form(
            "/latest/user/login",
            &format!("username={username}&password={password}"),
        )
        .await;
    assert_ok(&r, &format!("login of {username}"));
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    rec.token(&format!("token of {username}"), &token);
    rec.answer("POST /latest/user/login", &r, &[&token]);
    token
}

/// Case 5: with every log event captured at TRACE, logins (good and bad), token use,
/// password changes (own, by an admin, by form), an invite accepted with a password, and
/// handled errors on requests carrying passwords and tokens leave no password, hash or
/// token in the log or in any answer (but the token a login or an invite is meant to give).
pub async fn no_secret_reaches_a_response_or_the_log(app: TestApp) {
    let root = app.add_user("root", true, &[]).await;
    let alice_id = app.add_user("alice", false, &[]).await.id();
    let mut rec = Record::default();
    for (what, p) in [
        ("initial password", PASSWORD),
        ("wrong password", WRONG),
        ("password set by the user", SELF_SET),
        ("password set by an admin", ADMIN_SET),
        ("password set by form", FORM_SET),
        ("password of an invitee", INVITEE),
        ("password in failed requests", IN_ERRORS),
    ] {
        rec.password(what, p);
    }
    rec.hash("initial hash", password_hash());
    rec.token("root's token", &root.token);
    let root_token = Some(root.token.as_str());

    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(FmtSpan::FULL)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);

    let login_uri = ("POST", "/latest/user/login");
    let bad = StatusCode::BAD_REQUEST;
    // Logins: good, wrong password, unknown user.
    let t1 = login(&app, &mut rec, "alice", PASSWORD).await;
    let form = format!("username=alice&password={WRONG}");
    call(&app, &mut rec, login_uri, None, &form, bad).await;
    let form = format!("username=nobody&password={WRONG}");
    call(&app, &mut rec, login_uri, None, &form, bad).await;

    // Token use, including answers that show users.
    let t = Some(t1.as_str());
    let ok = StatusCode::OK;
    call(&app, &mut rec, ("GET", "/latest/whoami"), t, "", ok).await;
    let node = checkout("c1").to_string();
    call(&app, &mut rec, ("POST", "/latest/node"), t, &node, ok).await;
    call(&app, &mut rec, ("GET", "/latest/users"), t, "", ok).await;
    let alice_uri = format!("/latest/user/{alice_id}");
    call(&app, &mut rec, ("GET", &alice_uri), t, "", ok).await;

    // Password changes: own, by an admin, by form; logins with the new ones.
    let me = ("PATCH", "/latest/user/me");
    let body = json!({"password": SELF_SET}).to_string();
    call(&app, &mut rec, me, t, &body, ok).await;
    remember_hash(&mut rec, &app, "alice").await;
    login(&app, &mut rec, "alice", SELF_SET).await;
    let body = json!({"password": ADMIN_SET}).to_string();
    call(&app, &mut rec, ("PATCH", &alice_uri), root_token, &body, ok).await;
    remember_hash(&mut rec, &app, "alice").await;
    let form = format!("username=alice&password={ADMIN_SET}&new_password={FORM_SET}");
    let update_password = ("POST", "/latest/user/update-password");
    call(&app, &mut rec, update_password, None, &form, ok).await;
    let alice_hash = remember_hash(&mut rec, &app, "alice").await;
    let t3 = login(&app, &mut rec, "alice", FORM_SET).await;
    let t = Some(t3.as_str());

    // A user created by invite, who chooses a password.
    let body = json!({"username": "bob", "email": "bob@example.org",
                      "send_email": false, "return_token": true});
    let r = app
        .json("POST", "/latest/user/invite", root_token, &body)
        .await;
    assert_ok(&r, "invite");
    let invite = r.body["token"].as_str().unwrap().to_owned();
    rec.token("invite token", &invite);
    rec.answer("POST /latest/user/invite", &r, &[&invite]);
    remember_hash(&mut rec, &app, "bob").await;
    let accept = ("POST", "/latest/user/accept-invite");
    let body = json!({"token": invite, "password": INVITEE}).to_string();
    call(&app, &mut rec, accept, None, &body, ok).await;
    remember_hash(&mut rec, &app, "bob").await;
    login(&app, &mut rec, "bob", INVITEE).await;

    // Handled errors on requests that carry passwords and tokens.
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let form = format!("username=alice&password={IN_ERRORS}&grant_type=magic");
    call(&app, &mut rec, login_uri, None, &form, unprocessable).await;
    let form = format!("username=alice&password={IN_ERRORS}");
    call(&app, &mut rec, login_uri, None, &form, bad).await;
    let form = format!("username=alice&password={IN_ERRORS}&new_password={IN_ERRORS}");
    call(&app, &mut rec, update_password, None, &form, bad).await;
    let body = json!({"password": IN_ERRORS, "username": "root"}).to_string();
    call(&app, &mut rec, me, t, &body, bad).await;
    let body = json!({"password": IN_ERRORS, "email": "not-an-email"}).to_string();
    call(&app, &mut rec, me, t, &body, unprocessable).await;
    let body = format!(r#"{{"password": "{IN_ERRORS}", "#);
    call(&app, &mut rec, me, t, &body, unprocessable).await;
    let body = json!({"password": IN_ERRORS, "groups": ["nope"]}).to_string();
    call(
        &app,
        &mut rec,
        ("PATCH", &alice_uri),
        root_token,
        &body,
        bad,
    )
    .await;
    let body = json!({"token": invite, "password": IN_ERRORS}).to_string();
    call(&app, &mut rec, accept, None, &body, bad).await;
    let body = json!({"token": t3, "password": IN_ERRORS}).to_string();
    let reset = ("POST", "/latest/user/reset-password");
    call(&app, &mut rec, reset, None, &body, bad).await;
    let forged = format!("{t3}x");
    let whoami = ("GET", "/latest/whoami");
    let unauthorized = StatusCode::UNAUTHORIZED;
    call(&app, &mut rec, whoami, Some(&forged), "", unauthorized).await;
    assert_eq!(
        app.stored_user("alice").await.hashed_password,
        alice_hash,
        "a failed request changed the password"
    );

    drop(guard);
    let log = logs.text();
    // The capture works: the request spans and events are there.
    assert!(
        log.contains("/latest/user/login"),
        "nothing captured:\n{log}"
    );
    assert!(log.contains("/latest/user/accept-invite"), "{log}");
    for (what, needle) in &rec.secrets {
        assert!(
            !log.contains(needle.as_str()),
            "the log shows the {what}:\n{log}"
        );
    }
    for (request, body, allowed) in &rec.answers {
        for (what, needle) in &rec.secrets {
            assert!(
                Record::allowed(allowed, needle) || !body.contains(needle.as_str()),
                "the answer to {request} shows the {what}: {body}"
            );
        }
    }
}
