//! Onboarding and password recovery: `POST /user/invite`, `GET /user/invite/url`,
//! `POST /user/accept-invite`, `POST /user/forgot-password` and `POST /user/reset-password`.
//!
//! Invites go out by email when SMTP is configured. When it is not, or sending fails, or
//! no email was asked for, the answer carries the invite link and token so that the admin
//! can pass them on: an invite is never lost silently. Tokens and passwords are never
//! logged.
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jsonwebtoken::get_current_timestamp;
use maestro_common::UserRead;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};

use super::users::user_read;
use crate::auth::{SuperUser, TokenClaims};
use crate::error::{ApiError, ApiResult};
use crate::extract::{from_body, from_body_checked, json_body};
use crate::nodes::ops::{new_id, parse_id};
use crate::state::AppState;
use crate::store::{StoreError, StoredUser};
use crate::users::{
    email_problem, hash_password_blocking, resolve_groups, username_problem,
    verify_password_blocking,
};

pub(crate) mod base_url;

/// The audience of password-reset tokens, as fastapi-users sets it.
const RESET_AUDIENCE: &str = "fastapi-users:reset";

/// Lifetime of password-reset tokens: one hour, as fastapi-users.
const RESET_TOKEN_LIFETIME_SECS: u64 = 3600;

/// Length of the random password an invited user gets until they choose one.
const INVITE_PASSWORD_LEN: usize = 43;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/user/invite", post(invite))
        .route("/user/invite/url", get(invite_url))
        .route("/user/accept-invite", post(accept_invite))
        .route("/user/forgot-password", post(forgot_password))
        .route("/user/reset-password", post(reset_password))
}

/// The peer address when the server runs with connection info (`crate::run` does).
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The body of `POST /user/invite`.
#[derive(eserde::Deserialize)]
struct InviteRequest {
    username: String,
    email: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    is_superuser: bool,
    #[serde(default = "yes")]
    send_email: bool,
    #[serde(default)]
    return_token: bool,
    #[serde(default)]
    resend_if_exists: bool,
}

fn yes() -> bool {
    true
}

impl InviteRequest {
    fn from_json(body: &Bytes) -> ApiResult<Self> {
        let mut req: Self = from_body_checked(
            json_body(body)?,
            &["body"],
            &[username_problem, email_problem, groups_problem],
        )?;
        // As pydantic's EmailStr, the domain is normalised to lower case.
        if let Some((local, domain)) = req.email.split_once('@') {
            req.email = format!("{local}@{}", domain.to_lowercase());
        }
        Ok(req)
    }
}

/// The problem of a body's `groups` when they are strings but not unique.
fn groups_problem(body: &Value) -> Option<Value> {
    let groups = body.get("groups")?.as_array()?;
    let mut seen = std::collections::HashSet::new();
    let unique = groups
        .iter()
        .all(|g| g.as_str().is_none_or(|g| seen.insert(g)));
    (!unique).then(|| {
        json!({"type": "value_error", "loc": ["body", "groups"],
               "msg": "Value error, groups must be unique", "input": groups})
    })
}

/// The answer of `POST /user/invite`.
#[derive(Serialize)]
struct InviteResponse {
    user: UserRead,
    email_sent: bool,
    public_base_url: String,
    accept_invite_url: String,
    invite_url: Option<String>,
    token: Option<String>,
}

/// The answer of `GET /user/invite/url`.
#[derive(Serialize)]
struct InviteUrls {
    public_base_url: String,
    accept_invite_url: String,
}

/// The claims of an invite token, in the Python server's order, plus a fingerprint of the
/// password hash at issue time (as reset tokens have): accepting sets a new password, which
/// voids the token, so an invite is good once even if an admin unverifies the user later.
#[derive(Serialize)]
struct InviteClaims<'a> {
    sub: String,
    email: &'a str,
    purpose: &'static str,
    iat: u64,
    exp: u64,
    password_fgpt: String,
}

/// The claims of a password-reset token, as fastapi-users makes them.
#[derive(Serialize)]
struct ResetClaims {
    sub: String,
    password_fgpt: String,
    aud: &'static str,
    exp: u64,
}

/// `{"token": ..., "password": ...}`: the body of accept-invite and reset-password. No
/// `Debug`: it holds a password.
#[derive(eserde::Deserialize)]
struct TokenAndPassword {
    token: String,
    password: String,
}

/// `{"email": ...}`: the body of forgot-password.
#[derive(eserde::Deserialize)]
struct EmailOnly {
    email: String,
}

async fn invite(
    State(state): State<AppState>,
    _: SuperUser,
    peer: Peer,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<InviteResponse>> {
    let req = InviteRequest::from_json(&body)?;
    let user = match find_existing(&state, &req).await? {
        Some(existing) => {
            check_resend(&existing, &req)?;
            existing
        }
        None => create_invited_user(&state, &req).await?,
    };

    let public_base_url = public_base_url(&state, peer, &uri, &headers);
    let accept_invite_url = accept_url(&public_base_url);
    let now = get_current_timestamp();
    let password_fgpt = hash_password_blocking(user.hashed_password.clone()).await?;
    let token = state.tokens.sign_claims(&InviteClaims {
        sub: user.id.to_string(),
        email: &user.email,
        purpose: "invite",
        iat: now,
        exp: now + state.onboarding.invite_token_lifetime_secs,
        password_fgpt,
    })?;
    let invite_url = format!("{accept_invite_url}?token={token}");

    let email_sent = req.send_email && send_invite_email(&state, &user, &invite_url, &token).await;
    // Without an email the link must reach the admin, whatever `return_token` says.
    let reveal = req.return_token || !email_sent;
    if !email_sent && !req.return_token {
        tracing::info!(user = %user.id, "invite not emailed; the link is in the answer");
    }
    Ok(Json(InviteResponse {
        user: user_read(user),
        email_sent,
        public_base_url,
        accept_invite_url,
        invite_url: reveal.then_some(invite_url),
        token: reveal.then_some(token),
    }))
}

/// The user an invite is for, looked up by username, then by email.
async fn find_existing(state: &AppState, req: &InviteRequest) -> ApiResult<Option<StoredUser>> {
    if let Some(user) = state.store.find_user_by_username(&req.username).await? {
        return Ok(Some(user));
    }
    Ok(state.store.find_user_by_email(&req.email).await?)
}

/// Whether an invite may be sent again to an existing (unverified) user.
fn check_resend(existing: &StoredUser, req: &InviteRequest) -> ApiResult<()> {
    let refuse = |why: &str| Err(ApiError::BadRequest(why.to_owned()));
    if !req.resend_if_exists {
        return refuse("User already exists");
    }
    if existing.is_verified {
        return refuse("User already verified");
    }
    if existing.username != req.username {
        return refuse("Existing user has a different username");
    }
    if existing.email != req.email {
        return refuse("Existing user has a different email");
    }
    Ok(())
}

/// Creates the invited user: active, unverified, with a random password nobody knows.
async fn create_invited_user(state: &AppState, req: &InviteRequest) -> ApiResult<StoredUser> {
    let groups = resolve_groups(&*state.store, &req.groups).await?;
    crate::users::check_name_owns_no_nodes(&*state.store, &req.username).await?;
    let password = random_password();
    let hashed_password = hash_password_blocking(password).await?;
    let user = StoredUser {
        id: new_id(),
        email: req.email.clone(),
        hashed_password,
        is_active: true,
        is_superuser: req.is_superuser,
        is_verified: false,
        username: req.username.clone(),
        groups,
    };
    match state.store.insert_user(&user).await {
        Ok(()) => Ok(user),
        // Taken by a concurrent request since the lookup.
        Err(StoreError::Conflict(_)) => Err(ApiError::BadRequest("User already exists".into())),
        Err(e) => Err(e.into()),
    }
}

/// 43 characters of the URL-safe base64 alphabet (258 random bits), like Python's
/// `secrets.token_urlsafe(32)`.
fn random_password() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rngs::OsRng;
    (0..INVITE_PASSWORD_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Emails the invite; `false` when there is no SMTP server or sending failed.
async fn send_invite_email(state: &AppState, user: &StoredUser, url: &str, token: &str) -> bool {
    let Some(mailer) = &state.onboarding.mailer else {
        return false;
    };
    let body = format!(
        "Hello {},\n\nYou have been invited to access the KernelCI API.\n\n\
         Accept your invite and set your password using this link:\n\n  {url}\n\n\
         If you can't open the link, you can also accept via API by using this token:\n\n  \
         {token}\n\nIf you did not expect this invite, you can ignore this email.\n",
        user.username
    );
    match mailer
        .send(&user.email, "Invitation to the KernelCI API", body)
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(user = %user.id, error = %e, "sending the invite email failed");
            false
        }
    }
}

async fn invite_url(
    State(state): State<AppState>,
    _: SuperUser,
    peer: Peer,
    uri: Uri,
    headers: HeaderMap,
) -> Json<InviteUrls> {
    let public_base_url = public_base_url(&state, peer, &uri, &headers);
    Json(InviteUrls {
        accept_invite_url: accept_url(&public_base_url),
        public_base_url,
    })
}

fn accept_url(base: &str) -> String {
    format!("{base}/user/accept-invite")
}

/// The base of invite links for this request (see [`base_url::resolve`]).
fn public_base_url(state: &AppState, peer: Peer, uri: &Uri, headers: &HeaderMap) -> String {
    base_url::resolve(
        state.onboarding.public_base_url.as_deref(),
        peer.map(|Extension(ConnectInfo(addr))| addr),
        uri,
        headers,
    )
}

async fn accept_invite(State(state): State<AppState>, body: Bytes) -> ApiResult<Json<UserRead>> {
    let TokenAndPassword { token, password } = from_body(json_body(&body)?, &["body"])?;
    let claims = state
        .tokens
        .verify_claims(&token, None)
        .ok_or_else(|| ApiError::BadRequest("Invalid or expired invite token".into()))?;
    let invalid = || ApiError::BadRequest("Invalid invite token".into());
    if claims.get("purpose").and_then(Value::as_str) != Some("invite") {
        return Err(invalid());
    }
    let not_found = || ApiError::NotFound("User not found".into());
    let id = match claims.get("sub") {
        None | Some(Value::Null) => return Err(not_found()),
        Some(Value::String(s)) => parse_id(s)?,
        Some(other) => parse_id(&other.to_string())?,
    };
    let mut user = state
        .store
        .find_user_by_id(&id)
        .await?
        .ok_or_else(not_found)?;
    if !user.is_active {
        return Err(ApiError::BadRequest("User is inactive".into()));
    }
    if claims.get("email").and_then(Value::as_str) != Some(user.email.as_str()) {
        return Err(invalid());
    }
    if user.is_verified {
        return Err(ApiError::BadRequest("Invite already accepted".into()));
    }
    // Tokens of the Python server (or of before the fingerprint) have none: accepted as
    // they were. Ours are void once the password they were issued against changed.
    if let Some(fgpt) = claims.get("password_fgpt").and_then(Value::as_str) {
        let current =
            verify_password_blocking(user.hashed_password.clone(), fgpt.to_owned()).await?;
        if !current {
            return Err(ApiError::BadRequest("Invite already accepted".into()));
        }
    }
    let before = user.clone();
    user.hashed_password = hash_password_blocking(password).await?;
    user.is_verified = true;
    // Conditional on the unverified record read above: of two concurrent accepts of one
    // invite, one wins and the other gets 409.
    state.store.update_user(&user, &before).await?;

    let body = format!(
        "Hello {},\n\nYour KernelCI API account is ready: you can now log in as \
         \"{}\" with the password you chose.\n\nThanks,\nKernelCI SysAdmin\n",
        user.username, user.username
    );
    send_best_effort(&state, &user, "Welcome to the KernelCI API", body).await;
    Ok(Json(user_read(user)))
}

/// Sends a notification whose failure must not fail the request; failures are logged.
async fn send_best_effort(state: &AppState, user: &StoredUser, subject: &str, body: String) {
    if let Some(mailer) = &state.onboarding.mailer
        && let Err(e) = mailer.send(&user.email, subject, body).await
    {
        tracing::warn!(user = %user.id, error = %e, subject, "sending an email failed");
    }
}

/// Always 202 `null`, so that nobody learns which emails have accounts. An active user
/// gets a reset token by email.
async fn forgot_password(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let EmailOnly { email } = from_body_checked(json_body(&body)?, &["body"], &[email_problem])?;
    let accepted = || (StatusCode::ACCEPTED, Json(Value::Null)).into_response();
    let Some(user) = state.store.find_user_by_email(&email).await? else {
        return Ok(accepted());
    };
    if !user.is_active {
        return Ok(accepted());
    }
    let Some(mailer) = &state.onboarding.mailer else {
        // No token is made, so none can leak: the user must ask an admin.
        tracing::warn!(user = %user.id, "password reset asked, but SMTP is not configured");
        return Ok(accepted());
    };
    // The fingerprint ties the token to the current password: any change voids it.
    let hash = user.hashed_password.clone();
    let password_fgpt = hash_password_blocking(hash).await?;
    let token = state.tokens.sign_claims(&ResetClaims {
        sub: user.id.to_string(),
        password_fgpt,
        aud: RESET_AUDIENCE,
        exp: get_current_timestamp() + RESET_TOKEN_LIFETIME_SECS,
    })?;
    let body = format!(
        "Hello {},\n\nThe token to reset your password for KernelCI API account is:\n\n  \
         {token}\n\nThanks,\nKernelCI SysAdmin\n",
        user.username
    );
    let subject = "Reset Password Token for KernelCI API account";
    if let Err(e) = mailer.send(&user.email, subject, body).await {
        tracing::warn!(user = %user.id, error = %e, "sending the password-reset email failed");
        return Ok((
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"detail": "Failed to send email"})),
        )
            .into_response());
    }
    Ok(accepted())
}

/// The user a reset token names, if it is valid for their current password.
async fn reset_target(state: &AppState, claims: &TokenClaims) -> ApiResult<Option<StoredUser>> {
    let (Some(sub), Some(fgpt)) = (
        claims.get("sub").and_then(Value::as_str),
        claims.get("password_fgpt").and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let Ok(id) = parse_id(sub) else {
        return Ok(None);
    };
    let Some(user) = state.store.find_user_by_id(&id).await? else {
        return Ok(None);
    };
    if !user.is_active {
        return Ok(None);
    }
    let (hash, fgpt) = (user.hashed_password.clone(), fgpt.to_owned());
    let current = verify_password_blocking(hash, fgpt).await?;
    Ok(current.then_some(user))
}

async fn reset_password(State(state): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
    let TokenAndPassword { token, password } = from_body(json_body(&body)?, &["body"])?;
    let bad_token = || ApiError::BadRequest("RESET_PASSWORD_BAD_TOKEN".into());
    let claims = state
        .tokens
        .verify_claims(&token, Some(RESET_AUDIENCE))
        .ok_or_else(bad_token)?;
    let mut user = reset_target(&state, &claims).await?.ok_or_else(bad_token)?;
    let before = user.clone();
    user.hashed_password = hash_password_blocking(password).await?;
    // Conditional: a reset token is good for the one hash it was issued against.
    state.store.update_user(&user, &before).await?;
    let body = format!(
        "Hello {},\n\nThe password of your KernelCI API account was reset.\n\n\
         Thanks,\nKernelCI SysAdmin\n",
        user.username
    );
    send_best_effort(
        &state,
        &user,
        "Password reset successful for KernelCI API account",
        body,
    )
    .await;
    Ok(Json(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_passwords_are_43_urlsafe_characters() {
        let p = random_password();
        assert_eq!(p.len(), 43);
        assert!(
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(p, random_password());
    }
}
