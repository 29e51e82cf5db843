//! Access tokens (HS256 JWTs shaped as fastapi-users issues them), password hashing, and the
//! extractors that put the calling user in a handler's signature.
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use maestro_common::node::ObjectIdHex;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoredUser;

mod verified;

/// The audience every access token carries.
pub const TOKEN_AUDIENCE: &str = "fastapi-users:auth";

/// Signs and checks access tokens.
pub struct TokenKeys {
    secret: String,
    unified_secret: Option<String>,
    lifetime_secs: u64,
    verified: verified::VerifiedTokens,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
}

impl TokenKeys {
    /// Keys from the server secret and the optional secret shared with other KernelCI
    /// services, which is accepted for verification only.
    pub fn new(secret: String, unified_secret: Option<String>, lifetime_secs: u64) -> Self {
        Self {
            secret,
            unified_secret: unified_secret.filter(|s| !s.is_empty()),
            lifetime_secs,
            verified: verified::VerifiedTokens::default(),
        }
    }

    /// A new access token for `user_id`.
    pub fn issue(&self, user_id: &ObjectIdHex) -> Result<String, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            aud: vec![TOKEN_AUDIENCE.to_owned()],
            exp: Some(now + self.lifetime_secs),
        };
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .map_err(|e| ApiError::Internal(format!("signing a token: {e}")))
    }

    /// The user ids that `token` names under each accepted secret, in the order to try them.
    pub fn subjects(&self, token: &str) -> Vec<ObjectIdHex> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(subjects) = self.verified.get(token, now) {
            return subjects;
        }
        let decoded: Vec<(ObjectIdHex, Option<u64>)> = std::iter::once(&self.secret)
            .chain(self.unified_secret.as_ref())
            .filter_map(|secret| decode_subject(token, secret))
            .collect();
        if decoded.is_empty() {
            return Vec::new();
        }
        // The claims are the token's, whichever secret verified it: one `exp`.
        let exp = decoded[0].1;
        let subjects: Vec<ObjectIdHex> = decoded.into_iter().map(|(id, _)| id).collect();
        let kept = verified::Verified {
            subjects: subjects.clone(),
            exp,
        };
        self.verified.insert(token, kept);
        subjects
    }
}

/// The user a token names and its `exp`, if `secret` signed it and it is valid now.
fn decode_subject(token: &str, secret: &str) -> Option<(ObjectIdHex, Option<u64>)> {
    let mut v = Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&[TOKEN_AUDIENCE]);
    // `exp` is checked when present; a token without one is accepted, as by fastapi-users.
    v.required_spec_claims.clear();
    v.leeway = 0;
    // A token not valid yet (`nbf` in the future) is refused, as PyJWT does.
    v.validate_nbf = true;
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &v)
            .ok()?;
    let id = ObjectIdHex::parse(&data.claims.sub).ok()?;
    Some((id, data.claims.exp))
}

/// The claims of a token other than an access token (invite, password reset).
pub type TokenClaims = serde_json::Map<String, serde_json::Value>;

impl TokenKeys {
    /// Signs `claims` as an HS256 JWT with the server secret (never the unified one): the
    /// invite and password-reset tokens.
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, ApiError> {
        jsonwebtoken::encode(
            &Header::default(),
            claims,
            &EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .map_err(|e| ApiError::Internal(format!("signing a token: {e}")))
    }

    /// The claims of `token` if the server secret signed it (HS256) and its `exp`, when it
    /// has one, is not past. With `audience`, the token must have an `aud` naming it (as
    /// PyJWT checks reset tokens); without, a token that has any `aud` is refused (as
    /// python-jose checks invite tokens), so an access token is never an invite.
    pub fn verify_claims(&self, token: &str, audience: Option<&str>) -> Option<TokenClaims> {
        let mut v = Validation::new(jsonwebtoken::Algorithm::HS256);
        v.required_spec_claims.clear();
        if let Some(aud) = audience {
            v.set_audience(&[aud]);
            v.required_spec_claims.insert("aud".to_owned());
        }
        v.leeway = 0;
        v.validate_nbf = true;
        jsonwebtoken::decode::<TokenClaims>(
            token,
            &DecodingKey::from_secret(self.secret.as_bytes()),
            &v,
        )
        .ok()
        .map(|data| data.claims)
    }
}

fn argon2() -> Argon2<'static> {
    // The parameters of the Python server (pwdlib/argon2-cffi defaults), so hashes made by
    // either verify on the other and cost the same.
    let params = Params::new(65_536, 3, 4, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id. CPU-heavy: call from a blocking task.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
}

/// Whether `hash` is a bcrypt hash (`$2a$`, `$2b$`, `$2y$`): the Python server's admin tool
/// wrote those, and migrated users keep them until their next login upgrades them.
pub fn is_bcrypt_hash(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Whether a stored hash should be replaced by a fresh argon2id one once the password is
/// known (after a successful verification), as fastapi-users' `verify_and_update` does.
pub fn needs_rehash(hash: &str) -> bool {
    is_bcrypt_hash(hash)
}

/// Whether `password` matches `hash`, an argon2 PHC string or a legacy bcrypt hash.
/// CPU-heavy: call from a blocking task.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if is_bcrypt_hash(hash) {
        // A malformed hash is a mismatch, never an error the caller could leak.
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// The bearer token of a request, if the header has one.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Resolves the request's token to an active user, or `None`.
async fn user_from_parts(parts: &Parts, state: &AppState) -> Result<Option<StoredUser>, ApiError> {
    let Some(token) = bearer(parts) else {
        return Ok(None);
    };
    for id in state.tokens.subjects(token) {
        if let Some(user) = find_user(state, &id).await? {
            return Ok(user.is_active.then_some(user));
        }
    }
    Ok(None)
}

/// The user with this id, through the store's user cache when it has one: the rights are
/// still the store's (the cache is cleared by every user write), only the read is saved.
async fn find_user(state: &AppState, id: &ObjectIdHex) -> Result<Option<StoredUser>, ApiError> {
    let Some(cache) = state.store.user_cache() else {
        return Ok(state.store.find_user_by_id(id).await?);
    };
    let generation = match cache.get(id) {
        Ok(user) => return Ok(Some(user)),
        Err(generation) => generation,
    };
    let user = state.store.find_user_by_id(id).await?;
    if let Some(user) = &user {
        cache.insert(generation, user);
    }
    Ok(user)
}

/// An active user with a valid token; 401 `Unauthorized` otherwise.
pub struct CurrentUser(pub StoredUser);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        user_from_parts(parts, state)
            .await?
            .map(Self)
            .ok_or(ApiError::Unauthorized("Unauthorized"))
    }
}

/// The current user if `allowed` says yes: 401 without a valid token, 403 otherwise.
async fn current_user_if(
    parts: &mut Parts,
    state: &AppState,
    allowed: fn(&StoredUser) -> bool,
) -> Result<StoredUser, ApiError> {
    let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
    if allowed(&user) {
        Ok(user)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// A verified active user (`/whoami`); 401 without one, 403 when not verified.
pub struct VerifiedUser(pub StoredUser);

impl FromRequestParts<AppState> for VerifiedUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current_user_if(parts, state, |u| u.is_verified)
            .await
            .map(Self)
    }
}

/// An active superuser; 401 without a valid token, 403 for other users.
pub struct SuperUser(pub StoredUser);

impl FromRequestParts<AppState> for SuperUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current_user_if(parts, state, |u| u.is_superuser)
            .await
            .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_respect_secrets() {
        let id = ObjectIdHex::parse("6526448e7d140ee220971a0e").unwrap();
        let keys = TokenKeys::new("s1".into(), None, 60);
        let token = keys.issue(&id).unwrap();
        assert_eq!(keys.subjects(&token), vec![id.clone()]);
        assert!(
            TokenKeys::new("other".into(), None, 60)
                .subjects(&token)
                .is_empty()
        );
        let dual = TokenKeys::new("other".into(), Some("s1".into()), 60);
        assert_eq!(dual.subjects(&token), vec![id]);
        assert!(keys.subjects("not.a.token").is_empty());
    }

    #[test]
    fn a_token_is_checked_again_once_expired_and_never_kept_when_refused() {
        let keys = TokenKeys::new("s1".into(), None, 60);
        let now = jsonwebtoken::get_current_timestamp();
        let claims = |exp: u64| {
            serde_json::json!({"sub": "6526448e7d140ee220971a0e",
                               "aud": [TOKEN_AUDIENCE], "exp": exp})
        };
        let valid = keys.sign_claims(&claims(now + 3600)).unwrap();
        assert_eq!(keys.subjects(&valid).len(), 1);
        assert_eq!(keys.subjects(&valid).len(), 1, "from the cache");
        let expired = keys.sign_claims(&claims(now - 10)).unwrap();
        assert!(keys.subjects(&expired).is_empty());
        assert!(keys.subjects(&expired).is_empty());
        // Signed by another secret: refused however often it comes.
        let foreign = TokenKeys::new("s2".into(), None, 60)
            .sign_claims(&claims(now + 3600))
            .unwrap();
        assert!(keys.subjects(&foreign).is_empty());
        assert!(keys.subjects(&foreign).is_empty());
    }

    #[test]
    fn tokens_not_valid_yet_are_refused() {
        let keys = TokenKeys::new("s1".into(), None, 60);
        let now = jsonwebtoken::get_current_timestamp();
        let claims = |nbf: u64| {
            serde_json::json!({"sub": "6526448e7d140ee220971a0e",
                               "aud": [TOKEN_AUDIENCE], "nbf": nbf})
        };
        let later = keys.sign_claims(&claims(now + 3600)).unwrap();
        assert!(keys.subjects(&later).is_empty(), "nbf in an hour");
        assert!(keys.verify_claims(&later, Some(TOKEN_AUDIENCE)).is_none());
        let earlier = keys.sign_claims(&claims(now - 10)).unwrap();
        assert_eq!(keys.subjects(&earlier).len(), 1);
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("hunter2").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"));
        assert!(verify_password("hunter2", &h));
        assert!(!verify_password("hunter3", &h));
        assert!(!verify_password("hunter2", "garbage"));
        assert!(!needs_rehash(&h));
    }

    #[test]
    fn legacy_bcrypt_hashes_verify_and_need_a_rehash() {
        // Cost 4, the minimum, keeps the test fast.
        let h = bcrypt::hash("hunter2", 4).unwrap();
        assert!(h.starts_with("$2b$"));
        assert!(verify_password("hunter2", &h));
        assert!(!verify_password("hunter3", &h));
        assert!(needs_rehash(&h));
        for prefix in ["$2a$", "$2y$"] {
            let other = format!("{prefix}{}", &h[4..]);
            assert!(verify_password("hunter2", &other), "{prefix}");
            assert!(needs_rehash(&other));
        }
        assert!(!verify_password("hunter2", "$2b$04$truncated"));
    }
}
