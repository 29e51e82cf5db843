//! `/push` and `/pop` on a store that several servers share: the items live in the store
//! (each taken once, by whichever server's consumer asks first), and a waiting consumer is
//! woken at once by a push through its own server, or finds a push through another one
//! within [`POLL`].
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::store::{Store, StoreResult};

/// How often a waiting consumer looks for items pushed through another server.
pub const POLL: Duration = Duration::from_millis(100);

/// The consumers of this server waiting on each list.
#[derive(Default)]
pub struct SharedLists {
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

impl SharedLists {
    fn notifier(&self, name: &str) -> Arc<Notify> {
        let Ok(mut waiting) = self.waiting.lock() else {
            return Arc::new(Notify::new());
        };
        // Forget the notifiers nobody waits on any more (only the map holds them).
        if waiting.len() > 64 {
            waiting.retain(|_, n| Arc::strong_count(n) > 1);
        }
        Arc::clone(waiting.entry(name.to_owned()).or_default())
    }

    /// Appends `item` to `name` in the store and wakes this server's consumers of it.
    pub async fn push(
        &self,
        store: &dyn Store,
        name: &str,
        item: Map<String, Value>,
    ) -> StoreResult<()> {
        store.list_push(name, &item).await?;
        self.notifier(name).notify_waiters();
        Ok(())
    }

    /// Waits until `name` has an item and takes it.
    ///
    /// Cancel-safe: an item being taken when the caller goes away is put back (see
    /// `MongoStore::list_pop`).
    pub async fn pop(&self, store: &dyn Store, name: &str) -> StoreResult<Map<String, Value>> {
        let notify = self.notifier(name);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so that a push in between is not missed.
            notified.as_mut().enable();
            if let Some(item) = store.list_pop(name).await? {
                return Ok(item);
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
