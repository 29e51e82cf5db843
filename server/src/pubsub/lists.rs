//! Named in-memory queues of `/push` and `/pop` (kernelci-api.md section 8.8): each item
//! goes to exactly one consumer, and a consumer that goes away before an item arrives
//! takes none.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::Notify;

/// One queue and the consumers waiting on it.
#[derive(Default)]
struct List {
    items: VecDeque<Map<String, Value>>,
    notify: Arc<Notify>,
}

/// All queues, by name.
#[derive(Default)]
pub struct Lists {
    lists: Mutex<HashMap<String, List>>,
}

impl Lists {
    /// Appends `item` to `name` and wakes one waiting consumer.
    pub fn push(&self, name: &str, item: Map<String, Value>) {
        let Ok(mut lists) = self.lists.lock() else {
            return;
        };
        let list = lists.entry(name.to_owned()).or_default();
        list.items.push_back(item);
        list.notify.notify_one();
    }

    /// Takes the first item of `name` if there is one, else the notifier to wait on.
    fn try_pop(&self, name: &str) -> Result<Map<String, Value>, Arc<Notify>> {
        let Ok(mut lists) = self.lists.lock() else {
            return Err(Arc::new(Notify::new()));
        };
        let list = lists.entry(name.to_owned()).or_default();
        match list.items.pop_front() {
            Some(item) => {
                if list.items.is_empty() {
                    // An empty queue costs nothing to forget; its waiters hold the notifier.
                    let notify = Arc::clone(&list.notify);
                    if Arc::strong_count(&notify) == 2 {
                        lists.remove(name);
                    }
                } else {
                    // More items: pass the wake-up on to the next consumer.
                    list.notify.notify_one();
                }
                Ok(item)
            }
            None => Err(Arc::clone(&list.notify)),
        }
    }

    /// Waits until `name` has an item and takes it.
    ///
    /// Cancel-safe: an item is only taken in the same poll that returns it, so dropping
    /// the future (the client went away) never loses one.
    pub async fn pop(&self, name: &str) -> Map<String, Value> {
        loop {
            let notify = match self.try_pop(name) {
                Ok(item) => return item,
                Err(notify) => notify,
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before checking again, so a push in between is not missed.
            notified.as_mut().enable();
            if let Ok(item) = self.try_pop(name) {
                return item;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn item(n: i64) -> Map<String, Value> {
        json!({"data": n}).as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn items_go_to_one_consumer_in_order() {
        let lists = Arc::new(Lists::default());
        lists.push("q", item(1));
        lists.push("q", item(2));
        assert_eq!(lists.pop("q").await["data"], 1);
        let waiter = tokio::spawn({
            let lists = Arc::clone(&lists);
            async move { lists.pop("q").await }
        });
        assert_eq!(lists.pop("q").await["data"], 2);
        lists.push("q", item(3));
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert_eq!(got.unwrap().unwrap()["data"], 3);
    }

    #[tokio::test]
    async fn a_cancelled_pop_takes_nothing() {
        let lists = Lists::default();
        let cancelled = tokio::time::timeout(Duration::from_millis(20), lists.pop("q")).await;
        assert!(cancelled.is_err());
        lists.push("q", item(1));
        assert_eq!(lists.pop("q").await["data"], 1);
    }
}
