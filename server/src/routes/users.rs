//! User endpoints: login, `/whoami`, the user listing, reading, updating and deleting users,
//! `/user/update-password`, and the disabled `/user/register`.
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use maestro_common::UserRead;
use maestro_common::api::LoginResponse;
use maestro_common::node::ObjectIdHex;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{CurrentUser, SuperUser, VerifiedUser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{from_body_checked, query_pairs};
use crate::login_limit::client_address;
use crate::routes::nodes::page_param;
use crate::state::AppState;
use crate::store::{StoredUser, UserFilter};
use crate::users::{
    UserUpdate, authenticate, check_credentials, email_problem, hash_password_blocking,
    object_body, update_account_as_admin, update_own_account,
};

/// Default page size of `/users`, as `/nodes`.
const DEFAULT_LIMIT: u64 = 50;

pub(crate) fn router() -> Router<AppState> {
    // Fixed `/user/...` paths take precedence over `/user/{id}` in axum, whatever the order.
    Router::new()
        .route("/user/login", post(login))
        .route("/user/logout", post(logout))
        .route("/user/update-password", post(update_password))
        .route("/user/register", post(register))
        .route("/whoami", get(whoami))
        .route("/users", get(list_users))
        .route(
            "/user/me",
            get(get_me_fallthrough)
                .patch(update_me)
                .delete(delete_me_fallthrough),
        )
        .route(
            "/user/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
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

/// An item of `/users`: the Python server lists the whole user document less its password
/// hash, so Beanie's `revision_id` (always null) comes second (kernelci-api.md section 9.1).
#[derive(Serialize)]
struct UserListItem {
    id: String,
    revision_id: Option<String>,
    email: String,
    is_active: bool,
    is_superuser: bool,
    is_verified: bool,
    username: String,
    groups: Vec<maestro_common::UserGroupRef>,
}

impl UserListItem {
    fn of(u: StoredUser) -> Self {
        let UserRead {
            id,
            email,
            is_active,
            is_superuser,
            is_verified,
            username,
            groups,
        } = user_read(u);
        Self {
            id,
            revision_id: None,
            email,
            is_active,
            is_superuser,
            is_verified,
            username,
            groups,
        }
    }
}

fn missing_form_field(name: &str) -> ApiError {
    ApiError::unprocessable(&["body", name], "Field required", "missing", Value::Null)
}

/// A form-encoded body (`application/x-www-form-urlencoded`); the last value of a field wins.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &Bytes) -> Self {
        Self(query_pairs(std::str::from_utf8(body).ok()))
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn required(&self, name: &str) -> ApiResult<String> {
        self.get(name).ok_or_else(|| missing_form_field(name))
    }

    /// The `username` and `password` of an OAuth2 password-grant form (`grant_type`, if
    /// sent, must be `password`), as FastAPI's `OAuth2PasswordRequestForm` validates them.
    fn credentials(&self) -> ApiResult<(String, String)> {
        let username = self.required("username")?;
        let password = self.required("password")?;
        if let Some(grant) = self.get("grant_type")
            && grant != "password"
        {
            return Err(ApiError::unprocessable(
                &["body", "grant_type"],
                "String should match pattern '^password$'",
                "string_pattern_mismatch",
                Value::String(grant),
            ));
        }
        Ok((username, password))
    }
}

fn bad_credentials() -> ApiError {
    ApiError::BadRequest("LOGIN_BAD_CREDENTIALS".into())
}

/// The peer address when the server runs with connection info (`crate::run` does).
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The address failed logins are counted against.
fn login_address(peer: Peer, headers: &HeaderMap) -> Option<IpAddr> {
    client_address(peer.map(|Extension(ConnectInfo(a))| a.ip()), headers)
}

async fn login(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<LoginResponse>> {
    let (username, password) = Form::parse(&body).credentials()?;
    let address = login_address(peer, &headers);
    state.login_limits.check(&username, address)?;
    // A legacy bcrypt hash is upgraded to argon2id once the password is verified.
    let user = authenticate(&*state.store, &username, &password).await?;
    let Some(user) = user.filter(|u| u.is_active) else {
        state.login_limits.failed(&username, address);
        return Err(bad_credentials());
    };
    state.login_limits.succeeded(&username);
    if !user.is_verified {
        return Err(ApiError::BadRequest("LOGIN_USER_NOT_VERIFIED".into()));
    }
    let access_token = state.tokens.issue(&user.id)?;
    Ok(Json(LoginResponse {
        access_token,
        token_type: "bearer".into(),
    }))
}

/// `POST /user/logout`: verified user; 204. Access tokens are stateless JWTs, so there is
/// nothing to revoke, as with fastapi-users' JWT strategy.
async fn logout(VerifiedUser(_): VerifiedUser) -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

async fn whoami(VerifiedUser(user): VerifiedUser) -> Json<UserRead> {
    Json(user_read(user))
}

/// A page of `/users`.
#[derive(Serialize)]
struct UserPage {
    items: Vec<UserListItem>,
    total: u64,
    limit: u64,
    offset: u64,
}

/// `true`/`false` (any case) of a boolean user filter; 400 otherwise.
fn bool_filter(name: &str, raw: &str) -> ApiResult<bool> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid value for {name}: '{raw}' (expected true or false)"
        )))
    }
}

/// `GET /users`: any active user. `limit`/`offset` page; every other parameter is an exact
/// filter on a known field; an unknown parameter is a 400 naming it.
async fn list_users(
    State(state): State<AppState>,
    CurrentUser(_): CurrentUser,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<UserPage>> {
    let (mut limit, mut offset) = (None, None);
    let mut filters = Vec::new();
    for (k, v) in query_pairs(q.as_deref()) {
        let filter = match k.as_str() {
            "limit" => {
                limit = Some(v);
                continue;
            }
            "offset" => {
                offset = Some(v);
                continue;
            }
            "username" => UserFilter::Username(v),
            "email" => UserFilter::Email(v),
            "is_active" => UserFilter::IsActive(bool_filter(&k, &v)?),
            "is_superuser" => UserFilter::IsSuperuser(bool_filter(&k, &v)?),
            "is_verified" => UserFilter::IsVerified(bool_filter(&k, &v)?),
            "groups.name" => UserFilter::Group(v),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "Unsupported filter parameter for /users: {k}"
                )));
            }
        };
        filters.push(filter);
    }
    let limit = page_param("limit", limit.as_deref(), 1, DEFAULT_LIMIT)?;
    let offset = page_param("offset", offset.as_deref(), 0, 0)?;
    let (users, total) = state.store.list_users(&filters, offset, limit).await?;
    Ok(Json(UserPage {
        items: users.into_iter().map(UserListItem::of).collect(),
        total,
        limit,
        offset,
    }))
}

/// 404 `Not Found`, as fastapi-users answers for a missing user or an invalid id.
fn user_not_found() -> ApiError {
    ApiError::NotFound("Not Found".into())
}

/// The user that `raw` names, or 404 (an invalid id is a 404 too).
async fn user_or_404(state: &AppState, raw: &str) -> ApiResult<StoredUser> {
    let id = ObjectIdHex::parse(raw).map_err(|_| user_not_found())?;
    state
        .store
        .find_user_by_id(&id)
        .await?
        .ok_or_else(user_not_found)
}

/// `GET /user/{id}`: any active user.
async fn get_user(
    State(state): State<AppState>,
    CurrentUser(_): CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<UserRead>> {
    Ok(Json(user_read(user_or_404(&state, &id).await?)))
}

/// `GET /user/me` does not exist upstream: it falls through to `/user/{id}` and, `me` not
/// being an id, answers 404.
async fn get_me_fallthrough(CurrentUser(_): CurrentUser) -> ApiError {
    user_not_found()
}

/// `DELETE /user/{id}`: superuser. 200 `null` (quirk 18: not 204); the user's nodes stay.
async fn delete_user(
    State(state): State<AppState>,
    SuperUser(_): SuperUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = ObjectIdHex::parse(&id).map_err(|_| user_not_found())?;
    if state.store.delete_user(&id).await? {
        Ok(Json(Value::Null))
    } else {
        Err(user_not_found())
    }
}

/// `DELETE /user/me`: as `DELETE /user/{id}` with an invalid id.
async fn delete_me_fallthrough(SuperUser(_): SuperUser) -> ApiError {
    user_not_found()
}

/// `PATCH /user/me`: the caller's own account, without privilege changes.
async fn update_me(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    body: Bytes,
) -> ApiResult<Json<UserRead>> {
    let update = UserUpdate::from_json(&body)?;
    let user = update_own_account(&*state.store, me, update).await?;
    Ok(Json(user_read(user)))
}

/// `PATCH /user/{id}`: superuser; how groups are assigned.
async fn update_user(
    State(state): State<AppState>,
    SuperUser(_): SuperUser,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<UserRead>> {
    // As FastAPI: the body is validated (422) before the handler parses the id (400).
    let update = UserUpdate::from_json(&body)?;
    let id = ObjectIdHex::parse(&raw_id).map_err(ApiError::BadRequest)?;
    let target = state
        .store
        .find_user_by_id(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("User not found with id: {raw_id}")))?;
    let user = update_account_as_admin(&*state.store, target, update).await?;
    Ok(Json(user_read(user)))
}

/// `POST /user/update-password`: form `username`, `password`, `new_password`; no token. The
/// user need not be verified, but must be active.
async fn update_password(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let form = Form::parse(&body);
    let (username, password) = form.credentials()?;
    let new_password = form.required("new_password")?;
    // The same counters as login: this is a password check too.
    let address = login_address(peer, &headers);
    state.login_limits.check(&username, address)?;
    // No legacy-hash upgrade here: the hash is replaced right below anyway.
    let user = check_credentials(&*state.store, &username, &password).await?;
    let Some(mut user) = user.filter(|u| u.is_active) else {
        state.login_limits.failed(&username, address);
        return Err(bad_credentials());
    };
    state.login_limits.succeeded(&username);
    let before = user.clone();
    user.hashed_password = hash_password_blocking(new_password).await?;
    state.store.update_user(&user, &before).await?;
    Ok(Json(Value::Null))
}

/// The body `/user/register` validates (`UserCreate`) before refusing; only its shape matters.
#[derive(eserde::Deserialize)]
#[allow(dead_code)]
struct RegisterBody {
    email: String,
    password: String,
    username: String,
}

/// `POST /user/register`: disabled. Superuser only, then the body is validated (422), then
/// always 404.
async fn register(SuperUser(_): SuperUser, body: Bytes) -> ApiResult<Json<Value>> {
    let _: RegisterBody = from_body_checked(object_body(&body)?, &["body"], &[email_problem])?;
    Err(ApiError::NotFound(
        "User registration is disabled; use /user/invite instead.".into(),
    ))
}
