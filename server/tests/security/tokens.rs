//! Who may write at all: every write endpoint against bad tokens, and superuser endpoints
//! against valid tokens of other users.
use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{SECRET, TestApp, TestUser, assert_unauthorized, checkout, id, leaf};

const AUDIENCE: &str = "fastapi-users:auth";

/// One write request.
struct Write {
    method: &'static str,
    uri: String,
    body: Option<Value>,
    /// Whether only superusers may call it.
    superuser_only: bool,
    /// What a superuser gets, to show the request itself is fine.
    ok_status: StatusCode,
}

fn write(method: &'static str, uri: String, body: Option<Value>, ok: u16) -> Write {
    Write {
        method,
        uri,
        body,
        superuser_only: false,
        ok_status: StatusCode::from_u16(ok).unwrap(),
    }
}

fn admin_write(method: &'static str, uri: String, body: Option<Value>, ok: u16) -> Write {
    Write {
        superuser_only: true,
        ..write(method, uri, body, ok)
    }
}

/// Every write endpoint, with a body a superuser's request would succeed with (in this
/// order): `node` is a node of the superuser, `target` a user, `spare` an unused group.
fn writes(node: &Value, target: &str, spare: &str) -> Vec<Write> {
    let nid = id(node);
    let mut renamed = node.clone();
    renamed["name"] = json!("renamed");
    vec![
        write("POST", "/latest/node".into(), Some(checkout("new")), 200),
        write("PUT", format!("/latest/node/{nid}"), Some(renamed), 200),
        write(
            "PATCH",
            format!("/latest/node/{nid}"),
            Some(json!({"result": "fail"})),
            200,
        ),
        write(
            "PUT",
            format!("/latest/nodes/{nid}"),
            Some(json!({"node": node, "child_nodes": [leaf("t1")]})),
            200,
        ),
        write(
            "PUT",
            "/latest/batch/nodeset".into(),
            Some(json!({"nodes": [nid], "field": "processed_by_kcidb_bridge", "value": "true"})),
            200,
        ),
        write(
            "PATCH",
            "/latest/user/me".into(),
            Some(json!({"username": "pwned", "is_superuser": true})),
            200,
        ),
        admin_write(
            "PATCH",
            format!("/latest/user/{target}"),
            Some(json!({"is_superuser": true, "groups": ["node:edit:any"]})),
            200,
        ),
        admin_write("DELETE", format!("/latest/user/{target}"), None, 200),
        admin_write(
            "POST",
            "/latest/user-groups".into(),
            Some(json!({"name": "evil"})),
            200,
        ),
        admin_write("DELETE", format!("/latest/user-groups/{spare}"), None, 204),
        admin_write(
            "POST",
            "/latest/user/invite".into(),
            Some(
                json!({"username": "eve", "email": "eve@example.org", "is_superuser": true,
                        "send_email": false, "return_token": true}),
            ),
            200,
        ),
        // Disabled, but superuser-gated before it says so.
        admin_write(
            "POST",
            "/latest/user/register".into(),
            Some(json!({"email": "eve@example.org", "password": "x", "username": "eve"})),
            404,
        ),
    ]
}

async fn send(app: &TestApp, w: &Write, token: Option<&str>) -> crate::support::Resp {
    app.send(
        w.method,
        &w.uri,
        token,
        w.body.as_ref().map(Value::to_string),
    )
    .await
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn sign(claims: &Value, secret: &str, alg: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// `alg: none`, no signature.
fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    )
}

/// `token` with one character of its signature changed.
fn tamper_signature(token: &str) -> String {
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = sig.chars().collect();
    sig[5] = if sig[5] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", sig.into_iter().collect::<String>())
}

/// `token`'s header and signature around other claims.
fn swap_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        b64url(claims.to_string().as_bytes()),
        parts[2]
    )
}

/// Every kind of token that must not authenticate. All but the last two name `root`, an
/// active superuser who owns the node, so any token accepted by mistake would succeed.
async fn bad_tokens(app: &TestApp, root: &TestUser, mallory: &TestUser) -> Vec<(String, String)> {
    let now = jsonwebtoken::get_current_timestamp();
    let sub = root.id();
    let valid = json!({"sub": sub, "aud": [AUDIENCE], "exp": now + 3600});
    // The helper signs exactly as the server: a token made like this is accepted.
    let control = sign(&valid, SECRET, Algorithm::HS256);
    let r = app
        .send("GET", "/latest/whoami", Some(&control), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "control token: {}", r.text);

    let (header, payload) = {
        let mut parts = root.token.split('.');
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let inactive = {
        let mut u = app.user_record("ghost", true, &[]).await;
        u.is_active = false;
        app.insert(u).await
    };
    let deleted = app.add_user("gone", true, &[]).await;
    assert!(app.store().delete_user(&deleted.user.id).await.unwrap());
    let invite = app
        .state
        .tokens
        .sign_claims(
            &json!({"sub": sub, "email": root.user.email, "purpose": "invite",
                             "iat": now, "exp": now + 3600}),
        )
        .unwrap();
    vec![
        ("empty".into(), String::new()),
        ("garbage".into(), "not.a.jwt".into()),
        (
            "expired".into(),
            sign(
                &json!({"sub": sub, "aud": [AUDIENCE], "exp": now - 60}),
                SECRET,
                Algorithm::HS256,
            ),
        ),
        ("tampered signature".into(), tamper_signature(&root.token)),
        (
            "another user's signature".into(),
            swap_payload(&mallory.token, &valid),
        ),
        ("alg none".into(), unsigned(&valid)),
        (
            "HS256 without signature".into(),
            format!("{header}.{payload}."),
        ),
        (
            "HS512 with the right secret".into(),
            sign(&valid, SECRET, Algorithm::HS512),
        ),
        (
            "another secret".into(),
            sign(&valid, "another-secret", Algorithm::HS256),
        ),
        (
            "no aud".into(),
            sign(
                &json!({"sub": sub, "exp": now + 3600}),
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "wrong aud".into(),
            sign(
                &json!({"sub": sub, "aud": ["fastapi-users:reset"], "exp": now + 3600}),
                SECRET,
                Algorithm::HS256,
            ),
        ),
        ("invite token".into(), invite),
        (
            "no sub".into(),
            sign(
                &json!({"aud": [AUDIENCE], "exp": now + 3600}),
                SECRET,
                Algorithm::HS256,
            ),
        ),
        ("inactive superuser".into(), inactive.token),
        ("deleted superuser".into(), deleted.token),
    ]
}

/// Case 1: no token, or a token that is expired, forged, signed with another secret,
/// without `aud`, or of an inactive or deleted user: every write endpoint answers 401
/// `{"detail":"Unauthorized"}` and the store is unchanged.
pub async fn bad_tokens_are_refused_by_every_write_endpoint(app: TestApp) {
    let root = app.add_user("root", true, &[]).await;
    let mallory = app.add_user("mallory", false, &[]).await;
    let spare = app.group("spare").await;
    // Exists, so that the control request below can assign it.
    app.group("node:edit:any").await;
    let node = app.create(&root.token, checkout("c1")).await;
    let tokens = bad_tokens(&app, &root, &mallory).await;
    let writes = writes(&node, &mallory.id(), &spare.id.to_string());

    let before = app.snapshot().await;
    for w in &writes {
        let r = send(&app, w, None).await;
        assert_unauthorized(&r, &format!("{} {} without a token", w.method, w.uri));
        for (label, token) in &tokens {
            let r = send(&app, w, Some(token)).await;
            assert_unauthorized(&r, &format!("{} {} with token: {label}", w.method, w.uri));
        }
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed the store"
    );

    // The same requests with a valid superuser token succeed: the 401s above are the tokens'.
    for w in &writes {
        let r = send(&app, w, Some(&root.token)).await;
        assert_eq!(
            r.status, w.ok_status,
            "control {} {}: {}",
            w.method, w.uri, r.text
        );
    }
}

/// Case 1, second half: valid tokens of users who are not superusers (a plain user, a
/// member of `node:edit:any`, a runtime admin) get 403 `Forbidden` from every superuser
/// endpoint, including a `PATCH /user/{id}` of their own account, and nothing changes.
pub async fn non_superusers_get_403_from_superuser_endpoints(app: TestApp) {
    let root = app.add_user("root", true, &[]).await;
    let victim = app.add_user("victim", false, &[]).await;
    let spare = app.group("spare").await;
    let node = app.create(&root.token, checkout("c1")).await;
    let users = [
        app.add_user("mallory", false, &["team-b"]).await,
        app.add_user("ed", false, &["node:edit:any"]).await,
        app.add_user("lab", false, &["runtime:lava-x:node-admin"])
            .await,
    ];
    let before = app.snapshot().await;
    for user in &users {
        for target in [victim.id(), user.id()] {
            for w in writes(&node, &target, &spare.id.to_string())
                .iter()
                .filter(|w| w.superuser_only)
            {
                let r = send(&app, w, Some(&user.token)).await;
                assert_eq!(
                    (r.status, &r.body),
                    (StatusCode::FORBIDDEN, &json!({"detail": "Forbidden"})),
                    "{} {} as {}: {}",
                    w.method,
                    w.uri,
                    user.user.username,
                    r.text
                );
            }
        }
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed the store"
    );
}
