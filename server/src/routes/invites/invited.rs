//! The invited user: found (for a resend) or created, with the random password nobody knows
//! until the invite is accepted, and the invite email.
use rand::Rng;

use super::InviteRequest;
use crate::error::{ApiError, ApiResult};
use crate::nodes::ops::new_id;
use crate::state::AppState;
use crate::store::{StoreError, StoredUser};
use crate::users::{hash_password_blocking, resolve_groups};

/// Length of the random password an invited user gets until they choose one.
const INVITE_PASSWORD_LEN: usize = 43;

/// The user an invite is for, looked up by username, then by email.
pub(super) async fn find_existing(
    state: &AppState,
    req: &InviteRequest,
) -> ApiResult<Option<StoredUser>> {
    if let Some(user) = state.store.find_user_by_username(&req.username).await? {
        return Ok(Some(user));
    }
    Ok(state.store.find_user_by_email(&req.email).await?)
}

/// Whether an invite may be sent again to an existing (unverified) user.
pub(super) fn check_resend(existing: &StoredUser, req: &InviteRequest) -> ApiResult<()> {
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
pub(super) async fn create_invited_user(
    state: &AppState,
    req: &InviteRequest,
) -> ApiResult<StoredUser> {
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
pub(super) async fn send_invite_email(
    state: &AppState,
    user: &StoredUser,
    url: &str,
    token: &str,
) -> bool {
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
