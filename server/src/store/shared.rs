//! What several servers on one database share besides nodes and events: the `/push` and
//! `/pop` lists and the subscription ids. A store that several servers can use at once
//! (MongoDB) keeps them; one that only one server can use (SQLite) leaves them to the
//! server's memory, where they cost no database round trip.
use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{StoreError, StoreResult};

/// The shared parts of a store; the defaults are those of a store only one server uses.
#[async_trait]
pub trait SharedStore: Send + Sync {
    /// Whether several servers may use this store at once: then lists and subscription
    /// ids live in it, and each server's event log is fed from it.
    fn is_shared(&self) -> bool {
        false
    }

    /// Appends `item` to the list `name` (a shared store only).
    async fn list_push(&self, name: &str, item: &Map<String, Value>) -> StoreResult<()> {
        let _ = (name, item);
        Err(not_shared())
    }

    /// Takes the oldest item of the list `name`, if there is one: each item is taken once,
    /// by whichever server asks first (a shared store only).
    async fn list_pop(&self, name: &str) -> StoreResult<Option<Map<String, Value>>> {
        let _ = name;
        Err(not_shared())
    }

    /// A subscription id no server on this store gave before; `None` where the server
    /// makes its own.
    async fn new_subscription_id(&self) -> StoreResult<Option<u64>> {
        Ok(None)
    }
}

fn not_shared() -> StoreError {
    StoreError::Backend("this store keeps no shared lists".into())
}
