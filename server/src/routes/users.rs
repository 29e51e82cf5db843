//! Login and the caller's identity: `/user/login` and `/whoami`.
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use maestro_common::UserRead;
use maestro_common::api::LoginResponse;
use serde_json::Value;

use crate::auth::{VerifiedUser, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::extract::query_pairs;
use crate::state::AppState;
use crate::store::StoredUser;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/user/login", post(login))
        .route("/whoami", get(whoami))
}

/// The public form of a stored user.
pub(crate) fn user_read(u: StoredUser) -> UserRead {
    UserRead {
        id: u.id.to_string(),
        email: u.email,
        is_active: u.is_active,
        is_superuser: u.is_superuser,
        is_verified: u.is_verified,
        username: u.username,
        groups: u.groups,
    }
}

fn missing_form_field(name: &str) -> ApiError {
    ApiError::unprocessable(&["body", name], "Field required", "missing", Value::Null)
}

async fn login(State(state): State<AppState>, body: Bytes) -> ApiResult<Json<LoginResponse>> {
    let form = query_pairs(std::str::from_utf8(&body).ok());
    let field = |name: &str| {
        form.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let username = field("username").ok_or_else(|| missing_form_field("username"))?;
    let password = field("password").ok_or_else(|| missing_form_field("password"))?;
    if let Some(grant) = field("grant_type")
        && grant != "password"
    {
        return Err(ApiError::unprocessable(
            &["body", "grant_type"],
            "String should match pattern '^password$'",
            "string_pattern_mismatch",
            Value::String(grant),
        ));
    }
    let bad = || ApiError::BadRequest("LOGIN_BAD_CREDENTIALS".into());
    let Some(user) = state.store.find_user_by_username(&username).await? else {
        return Err(bad());
    };
    let hash = user.hashed_password.clone();
    // argon2 costs ~100 ms of CPU: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !ok || !user.is_active {
        return Err(bad());
    }
    if !user.is_verified {
        return Err(ApiError::BadRequest("LOGIN_USER_NOT_VERIFIED".into()));
    }
    let access_token = state.tokens.issue(&user.id)?;
    Ok(Json(LoginResponse {
        access_token,
        token_type: "bearer".into(),
    }))
}

async fn whoami(VerifiedUser(user): VerifiedUser) -> Json<UserRead> {
    Json(user_read(user))
}
