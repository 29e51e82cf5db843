//! `ApiError`: every error a handler can answer, with its status and `{"detail": ...}` body.
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::store::StoreError;

/// An error answer. Each variant documents its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is understood but not acceptable (bad value, bad transition, ...).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid token, or not allowed to edit this node (as the Python server answers).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: authenticated but not allowed (unverified user, not a superuser).
    #[error("Forbidden")]
    Forbidden,
    /// 404: the addressed thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: a unique key is taken.
    #[error("{0}")]
    Conflict(String),
    /// 409: the record was changed by another request while this one was applied (a
    /// conditional write lost its race); handlers retry before answering it.
    #[error("{0} was changed by another request while this one was applied")]
    Stale(String),
    /// 422: the request does not have the shape of the endpoint's model.
    #[error("validation failed")]
    Unprocessable(Vec<Value>),
    /// 413: the request (or the event it would publish) is larger than the server takes.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429: too many failed attempts; the client may retry after `retry_after` seconds.
    #[error("{detail}")]
    TooManyRequests {
        /// What was limited.
        detail: String,
        /// Seconds until the next attempt is taken (`Retry-After`).
        retry_after: u64,
    },
    /// 503: the store (or another shared resource) cannot serve the request now; the client
    /// may retry after `retry_after` seconds.
    #[error("{detail}")]
    Unavailable {
        /// What is unavailable.
        detail: String,
        /// Seconds to wait before retrying (`Retry-After`).
        retry_after: u64,
    },
    /// 504: the query did not finish in time.
    #[error("{0}")]
    Timeout(String),
    /// 500: our fault. The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Retry-After` of a 503 for an unavailable store: long enough not to hammer a
/// recovering database, short enough for a restart.
pub const STORE_RETRY_AFTER_SECS: u64 = 5;

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A 422 with one FastAPI-style problem item.
    pub fn unprocessable(loc: &[&str], msg: impl Into<String>, kind: &str, input: Value) -> Self {
        Self::Unprocessable(vec![
            json!({"type": kind, "loc": loc, "msg": msg.into(), "input": input}),
        ])
    }

    /// The 401 for a user who may not edit the node.
    pub fn not_node_editor() -> Self {
        Self::Unauthorized("Unauthorized to complete the operation")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(format!("Not found: {what}")),
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Stale(what) => Self::Stale(what),
            StoreError::TooLarge(what) => Self::PayloadTooLarge(what),
            StoreError::Invalid(what) => Self::BadRequest(what),
            StoreError::Unavailable(what) => Self::Unavailable {
                detail: what,
                retry_after: STORE_RETRY_AFTER_SECS,
            },
            StoreError::Backend(source) => Self::Internal(source.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut retry_after = None;
        let (status, detail) = match self {
            Self::BadRequest(d) => (StatusCode::BAD_REQUEST, Value::String(d)),
            Self::Unauthorized(d) => (StatusCode::UNAUTHORIZED, Value::String(d.to_owned())),
            Self::Forbidden => (StatusCode::FORBIDDEN, Value::String("Forbidden".into())),
            Self::NotFound(d) => (StatusCode::NOT_FOUND, Value::String(d)),
            Self::Conflict(d) => (StatusCode::CONFLICT, Value::String(d)),
            Self::Stale(what) => (
                StatusCode::CONFLICT,
                Value::String(format!(
                    "{what} kept being changed by other requests while this one was applied; \
                     read it again and retry"
                )),
            ),
            Self::Unprocessable(items) => (StatusCode::UNPROCESSABLE_ENTITY, Value::Array(items)),
            Self::PayloadTooLarge(d) => (StatusCode::PAYLOAD_TOO_LARGE, Value::String(d)),
            Self::TooManyRequests {
                detail,
                retry_after: secs,
            } => {
                retry_after = Some(secs);
                (StatusCode::TOO_MANY_REQUESTS, Value::String(detail))
            }
            Self::Unavailable {
                detail,
                retry_after: secs,
            } => {
                retry_after = Some(secs);
                (StatusCode::SERVICE_UNAVAILABLE, Value::String(detail))
            }
            Self::Timeout(d) => (StatusCode::GATEWAY_TIMEOUT, Value::String(d)),
            Self::Internal(cause) => {
                // Logged once here; the client gets a generic text (and may retry).
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Value::String("Internal server error, check the server logs".into()),
                )
            }
        };
        let mut resp = (status, Json(json!({ "detail": detail }))).into_response();
        if let Some(secs) = retry_after {
            // At least a second: `Retry-After: 0` invites a tight retry loop.
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}
