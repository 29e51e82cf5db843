//! The error answers that many operations share, as `IntoResponses` sets that the paths'
//! `responses(...)` name: one place for each status's description and body.
// Never built: these types only describe answers for the document.
#![allow(dead_code)]
use utoipa::IntoResponses;

use super::{Error, ValidationError};

/// An operation for any active user.
#[derive(IntoResponses)]
pub(crate) enum Auth {
    /// No valid token (missing, malformed, expired, naming no user) or an inactive account.
    #[response(status = 401)]
    Unauthorized(Error),
}

/// An operation for superusers (or, for `/whoami` and `/user/logout`, verified users).
#[derive(IntoResponses)]
pub(crate) enum Admin {
    /// No valid token, or an inactive account.
    #[response(status = 401)]
    Unauthorized(Error),
    /// The user is not a superuser (or not verified).
    #[response(status = 403)]
    Forbidden(Error),
}

/// A request whose body, query or path does not fit the model.
#[derive(IntoResponses)]
pub(crate) enum Invalid {
    /// Every field that does not fit, FastAPI's shape.
    #[response(status = 422)]
    Unprocessable(ValidationError),
}

/// A value the operation does not accept (bad id, filter, state change, ...).
#[derive(IntoResponses)]
pub(crate) enum BadRequest {
    /// What was not accepted.
    #[response(status = 400)]
    BadRequest(Error),
}

/// An operation on one addressed thing.
#[derive(IntoResponses)]
pub(crate) enum NotFound {
    /// It does not exist.
    #[response(status = 404)]
    NotFound(Error),
}

/// An operation that reads or writes the store.
#[derive(IntoResponses)]
pub(crate) enum Store {
    /// The store cannot answer now; retry after `Retry-After` seconds.
    #[response(status = 503, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Unavailable(Error),
}
