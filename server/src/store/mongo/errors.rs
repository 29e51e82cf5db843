//! How the MongoDB store turns driver errors into store errors: the client's mistakes, time
//! limits, an unreachable database, duplicate keys.
use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};

use crate::store::{StoreError, StoredUser};

/// Mongo's `DuplicateKey` (E11000).
const DUPLICATE_KEY: i32 = 11000;

/// A driver error as a store error.
pub(super) fn backend(e: DriverError) -> StoreError {
    match error_code(&e) {
        // BadValue, invalid regex, regex too complex: the client's query (a pattern our
        // check let through, a value the server cannot take), not a failure of the store.
        Some(2 | 51091 | 51108 | 51109) => {
            let msg = match e.kind.as_ref() {
                ErrorKind::Command(c) => c.message.clone(),
                _ => e.to_string(),
            };
            return StoreError::Invalid(format!("The database refused the query: {msg}"));
        }
        // MaxTimeMSExpired: the query ran over `maxTimeMS`.
        Some(50) => {
            return StoreError::Unavailable("The query took too long and was stopped".into());
        }
        _ => {}
    }
    if matches!(
        e.kind.as_ref(),
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
    ) {
        tracing::warn!(error = %e, "MongoDB unreachable");
        return StoreError::Unavailable("The database is unreachable".into());
    }
    StoreError::Backend(Box::new(e))
}

/// A store error of our own making.
pub(super) fn backend_msg(msg: String) -> StoreError {
    StoreError::Backend(msg.into())
}

/// The server's error code, whether it came as a command error or a write error.
pub(super) fn error_code(e: &DriverError) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m.write_errors.as_ref()?.first().map(|w| w.code),
        _ => None,
    }
}

pub(super) fn is_duplicate_key(e: &DriverError) -> bool {
    error_code(e) == Some(DUPLICATE_KEY)
}

/// Names the taken key of a user write: the duplicate-key message names the index.
pub(super) fn user_conflict(e: DriverError, user: &StoredUser) -> StoreError {
    if !is_duplicate_key(&e) {
        return backend(e);
    }
    // "... index: username_1 dup key: { username: ... }"; checking the key pattern and not
    // just "username" keeps an email such as "username@x.org" from being misreported.
    let message = e.to_string();
    if message.contains("index: username") || message.contains("dup key: { username") {
        StoreError::Conflict(format!("username '{}' is taken", user.username))
    } else {
        StoreError::Conflict(format!("email '{}' is taken", user.email))
    }
}
