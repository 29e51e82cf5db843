//! User-account operations behind the `/user...` endpoints: credential checks (upgrading
//! legacy bcrypt hashes), password hashing off the async workers, group resolution, and the
//! two flavours of `PATCH /user/...` (the caller's own, "safe", and a superuser's).
//!
//! Nothing here logs or returns a password, a hash or a token.
use std::collections::HashSet;

use axum::body::Bytes;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, FilterValue, UserGroupRef};
use serde_json::{Value, json};

use crate::auth::{hash_password, needs_rehash, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, StoreError, StoredUser};

/// Hashes `password` with argon2id on a blocking thread (it costs ~100 ms of CPU and
/// 64 MiB), one per core at a time (`hash_pool`).
pub async fn hash_password_blocking(password: String) -> ApiResult<String> {
    crate::hash_pool::run("password hashing", move || hash_password(&password)).await?
}

/// Checks `password` against `hash` (argon2 or bcrypt) on a blocking thread, one per core
/// at a time (`hash_pool`).
pub async fn verify_password_blocking(password: String, hash: String) -> ApiResult<bool> {
    crate::hash_pool::run("password verification", move || {
        verify_password(&password, &hash)
    })
    .await
}

/// The user named `username` when `password` is theirs, whatever their active or verified
/// state (the caller decides what those mean). Usernames are matched exactly.
pub async fn check_credentials(
    store: &dyn Store,
    username: &str,
    password: &str,
) -> ApiResult<Option<StoredUser>> {
    let Some(user) = store.find_user_by_username(username).await? else {
        // Spend the time a real check takes, so that the answer's delay does not tell
        // which usernames exist (fastapi-users does the same).
        // One permit and one blocking run, as for a known user: the dummy hash is made (the
        // first time) in the same run, so a queue for permits does not tell either.
        let password = password.to_owned();
        crate::hash_pool::run("password verification", move || {
            dummy_hash().map(|hash| verify_password(&password, &hash))
        })
        .await??;
        return Ok(None);
    };
    let ok = verify_password_blocking(password.to_owned(), user.hashed_password.clone()).await?;
    Ok(ok.then_some(user))
}

/// An argon2id hash of a random password, made once, to verify against for unknown users.
fn dummy_hash() -> ApiResult<String> {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = HASH.get() {
        return Ok(h.clone());
    }
    let h = crate::auth::hash_password(&hex::encode(rand::random::<[u8; 16]>()))?;
    Ok(HASH.get_or_init(|| h).clone())
}

/// [`check_credentials`], then, as fastapi-users' `verify_and_update`, replaces a legacy
/// (bcrypt) hash by an argon2id hash of the same password, so migrated users keep their
/// passwords. A failed upgrade is logged and does not fail the authentication.
pub async fn authenticate(
    store: &dyn Store,
    username: &str,
    password: &str,
) -> ApiResult<Option<StoredUser>> {
    let Some(user) = check_credentials(store, username, password).await? else {
        return Ok(None);
    };
    if needs_rehash(&user.hashed_password)
        && let Err(e) = upgrade_hash(store, &user, password).await
    {
        tracing::warn!(user_id = %user.id, error = %e, "could not upgrade a legacy password hash");
    }
    Ok(Some(user))
}

async fn upgrade_hash(store: &dyn Store, user: &StoredUser, password: &str) -> ApiResult<()> {
    let new_hash = hash_password_blocking(password.to_owned()).await?;
    // Re-read the record: it may have changed while we hashed. Only the hash just verified
    // is replaced, so a concurrent password change or other edit is not overwritten.
    match store.find_user_by_id(&user.id).await? {
        Some(mut fresh) if fresh.hashed_password == user.hashed_password => {
            let before = fresh.clone();
            fresh.hashed_password = new_hash;
            store.update_user(&fresh, &before).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The embedded group records for `names`, resolved from the group store by name; duplicate
/// names are kept once. 400 `User group does not exist with name: <name>` for an unknown one.
pub async fn resolve_groups(store: &dyn Store, names: &[String]) -> ApiResult<Vec<UserGroupRef>> {
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for name in names {
        if !seen.insert(name.as_str()) {
            continue;
        }
        let group = store.find_group_by_name(name).await?.ok_or_else(|| {
            ApiError::BadRequest(format!("User group does not exist with name: {name}"))
        })?;
        groups.push(UserGroupRef {
            id: group.id.to_string(),
            name: group.name,
        });
    }
    Ok(groups)
}

/// The body of `PATCH /user/me` and `PATCH /user/{id}` (`UserUpdateRequest`). Every field is
/// optional; `null` counts as absent and unknown fields are ignored. No `Debug`: it holds a
/// password.
#[derive(Default, eserde::Deserialize)]
pub struct UserUpdate {
    /// New password, hashed before it is stored.
    #[serde(default)]
    pub password: Option<String>,
    /// New email; unique ignoring case.
    #[serde(default)]
    pub email: Option<String>,
    /// New username; unique.
    #[serde(default)]
    pub username: Option<String>,
    /// Group names; a superuser's update replaces the user's groups with them.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Superuser updates only.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// Superuser updates only.
    #[serde(default)]
    pub is_superuser: Option<bool>,
    /// Superuser updates only.
    #[serde(default)]
    pub is_verified: Option<bool>,
}

impl UserUpdate {
    /// Decodes and validates a JSON body; 422 when it does not fit the model.
    pub fn from_json(body: &Bytes) -> ApiResult<Self> {
        crate::extract::from_body_checked(
            object_body(body)?,
            &["body"],
            &[email_problem, username_problem],
        )
    }
}

/// The problem of a body's `email` when it is a string but no email address (pydantic's
/// `EmailStr`).
pub fn email_problem(body: &Value) -> Option<Value> {
    let email = body.get("email")?.as_str()?;
    match check_email_syntax(email) {
        Err(ApiError::Unprocessable(mut problems)) => problems.pop(),
        _ => None,
    }
}

/// The problem of a body's `username` when it is empty (`min_length=1`).
pub fn username_problem(body: &Value) -> Option<Value> {
    body.get("username")?.as_str()?.is_empty().then(|| {
        json!({"type": "string_too_short", "loc": ["body", "username"],
               "msg": "String should have at least 1 character", "input": "",
               "ctx": {"min_length": 1}})
    })
}

/// A JSON body that must be an object, as a pydantic model requires (serde alone would also
/// take an array for a struct); 422 otherwise.
pub fn object_body(body: &Bytes) -> ApiResult<Value> {
    let value = crate::extract::json_body(body)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::unprocessable(
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
            value,
        ))
    }
}

/// A light version of pydantic's `EmailStr` check: `local@domain.tld`, no spaces. 422 else.
pub fn check_email_syntax(email: &str) -> ApiResult<()> {
    let reason = match email.split_once('@') {
        None => Some("An email address must have an @-sign."),
        Some(("", _)) => Some("There must be something before the @-sign."),
        Some((_, domain)) if domain.contains('@') => {
            Some("An email address must have exactly one @-sign.")
        }
        Some((_, domain))
            if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') =>
        {
            Some("The part after the @-sign is not valid. It should have a period.")
        }
        _ if email.chars().any(char::is_whitespace) => {
            Some("The email address contains invalid characters.")
        }
        _ => None,
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(ApiError::unprocessable(
            &["body", "email"],
            format!("value is not a valid email address: {reason}"),
            "value_error",
            Value::String(email.to_owned()),
        )),
    }
}

fn username_taken(name: &str) -> ApiError {
    ApiError::BadRequest(format!("Username already exists: {name}"))
}

fn email_taken() -> ApiError {
    ApiError::BadRequest("UPDATE_USER_EMAIL_ALREADY_EXISTS".into())
}

/// How many times an account update that lost a race is applied again to a fresh read of
/// the record before the caller gets 409.
const STALE_RETRIES: usize = 8;

/// 400 unless `name` is free for a new or renamed account: no user has it, and no node is
/// owned by it. Nodes are owned by username, so a name that still owns nodes (of a deleted
/// account, say) would hand them to whoever took it.
pub async fn check_username_free(store: &dyn Store, name: &str) -> ApiResult<()> {
    if store.find_user_by_username(name).await?.is_some() {
        return Err(username_taken(name));
    }
    check_name_owns_no_nodes(store, name).await
}

/// 400 when nodes are owned by `name` (and so no new account may take it).
pub async fn check_name_owns_no_nodes(store: &dyn Store, name: &str) -> ApiResult<()> {
    let owner = Filter::eq("owner", FilterValue::Str(name.to_owned()));
    if store.count_nodes(&owner).await? > 0 {
        return Err(ApiError::BadRequest(format!(
            "Username {name} owns nodes of a former account and cannot be taken"
        )));
    }
    Ok(())
}

/// Sets `user.username` to `name`; 400 when the name is not free.
async fn set_username(store: &dyn Store, user: &mut StoredUser, name: &str) -> ApiResult<()> {
    if name != user.username {
        check_username_free(store, name).await?;
        user.username = name.to_owned();
    }
    Ok(())
}

/// Sets `user.email` to `email`; 400 `UPDATE_USER_EMAIL_ALREADY_EXISTS` when another user has
/// it, ignoring case. Returns whether the email changed.
async fn set_email(store: &dyn Store, user: &mut StoredUser, email: &str) -> ApiResult<bool> {
    if email == user.email {
        return Ok(false);
    }
    // The user's own record does not conflict: changing only the case of one's email is
    // allowed (fastapi-users refuses it, finding the user itself).
    if let Some(other) = store.find_user_by_email(email).await?
        && other.id != user.id
    {
        return Err(email_taken());
    }
    user.email = email.to_owned();
    Ok(true)
}

/// Stores `user` over `read`, the record it was made from. `Ok(false)` when the record
/// changed since it was read (nothing was written); a unique-key race lost after the checks
/// is answered as the check would.
async fn save(store: &dyn Store, user: &StoredUser, read: &StoredUser) -> ApiResult<bool> {
    match store.update_user(user, read).await {
        Ok(()) => Ok(true),
        Err(StoreError::Stale(_)) => Ok(false),
        Err(StoreError::Conflict(_)) => match store.find_user_by_username(&user.username).await? {
            Some(other) if other.id != user.id => Err(username_taken(&user.username)),
            _ => Err(email_taken()),
        },
        Err(StoreError::NotFound(_)) => Err(user_not_found(&user.id)),
        Err(e) => Err(e.into()),
    }
}

fn user_not_found(id: &ObjectIdHex) -> ApiError {
    ApiError::NotFound(format!("User not found with id: {id}"))
}

/// Who is updating an account: its user (through `/user/me`) or a superuser.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Updater {
    Own,
    Admin,
}

/// Applies `update` to `user`, checking it against the record as it is now. `hashed` is the
/// new password, already hashed.
async fn apply_update(
    store: &dyn Store,
    user: &mut StoredUser,
    update: &UserUpdate,
    hashed: Option<&str>,
    by: Updater,
) -> ApiResult<()> {
    if let Some(name) = &update.username {
        set_username(store, user, name).await?;
    }
    if by == Updater::Admin
        && let Some(names) = &update.groups
    {
        user.groups = resolve_groups(store, names).await?;
    }
    if let Some(email) = &update.email {
        let changed = set_email(store, user, email).await?;
        // Diverges from the Python server on purpose (quirk 19): a user's own email change
        // there sets `is_verified=false`, and as no verification route exists the user is
        // then locked out of login and /whoami. We keep `is_verified` for them; an admin's
        // change unverifies unless `is_verified` is sent too.
        if changed && by == Updater::Admin {
            user.is_verified = false;
        }
    }
    if by == Updater::Admin {
        if let Some(v) = update.is_active {
            user.is_active = v;
        }
        if let Some(v) = update.is_superuser {
            user.is_superuser = v;
        }
        if let Some(v) = update.is_verified {
            user.is_verified = v;
        }
    }
    if let Some(h) = hashed {
        user.hashed_password = h.to_owned();
    }
    Ok(())
}

/// Applies `update` to `read` and stores the result conditionally on `read`; when another
/// request changed the record meanwhile, re-reads it and applies `update` again (its checks
/// then run against the record that is written over), at most [`STALE_RETRIES`] times.
async fn update_with_retries(
    store: &dyn Store,
    mut read: StoredUser,
    update: UserUpdate,
    by: Updater,
) -> ApiResult<StoredUser> {
    // Hashed once, outside the retries: it is the costly part.
    let hashed = match &update.password {
        Some(password) => Some(hash_password_blocking(password.clone()).await?),
        None => None,
    };
    for _ in 0..=STALE_RETRIES {
        let mut user = read.clone();
        apply_update(store, &mut user, &update, hashed.as_deref(), by).await?;
        if save(store, &user, &read).await? {
            return Ok(user);
        }
        read = store
            .find_user_by_id(&read.id)
            .await?
            .ok_or_else(|| user_not_found(&read.id))?;
    }
    Err(ApiError::Conflict(format!(
        "user {} kept changing while this update was applied; retry",
        read.id
    )))
}

/// `PATCH /user/me`: the caller's own update. Groups cannot be set, and `is_active`,
/// `is_superuser` and `is_verified` are ignored, so no one can raise their own rights.
pub async fn update_own_account(
    store: &dyn Store,
    me: StoredUser,
    update: UserUpdate,
) -> ApiResult<StoredUser> {
    if update.groups.as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(ApiError::BadRequest(
            "User groups can only be updated by an admin user".into(),
        ));
    }
    update_with_retries(store, me, update, Updater::Own).await
}

/// `PATCH /user/{id}` by a superuser: every field applies. `groups` replaces the user's
/// groups, and an empty list clears them (quirk 20: the Python server leaves them unchanged).
/// A changed email unverifies the user unless `is_verified` is sent too.
pub async fn update_account_as_admin(
    store: &dyn Store,
    target: StoredUser,
    update: UserUpdate,
) -> ApiResult<StoredUser> {
    update_with_retries(store, target, update, Updater::Admin).await
}
