//! A subscription's position in the event history, and the search for its next event: in
//! the in-memory [`EventLog`](crate::events::EventLog) while it still holds the position,
//! else in the store, page by page, so no backlog is ever cut short.
use std::collections::VecDeque;
use std::sync::Arc;

use crate::events::{Next, SharedEvent};
use crate::store::{Store, StoreResult};

/// Events of the window looked at per step (by channel and owner only: cheap).
const WINDOW_SCAN: usize = 1_024;

/// Events read from the store per page; what is left of a page is kept for the next listen.
/// Small: a listen takes one event, and the rest waits parsed in memory (several KiB per
/// event): with 256, 100 long-poll subscribers behind the window held ~180 MB (W4 at 1,000
/// events/s); 32 keeps that near 20 MB for one store query per 32 listens.
const STORE_PAGE: u64 = 32;

/// Which events a subscription receives.
#[derive(Clone, Debug)]
pub(crate) struct Interest {
    /// Its channel.
    pub(crate) channel: String,
    /// Its owner.
    pub(crate) user: String,
    /// Whether it receives other users' events too.
    pub(crate) promiscuous: bool,
}

impl Interest {
    /// Whether an event goes to this subscription: on its channel and, unless promiscuous,
    /// without an owner or owned by the subscriber.
    pub(crate) fn wants(&self, event: &SharedEvent) -> bool {
        self.wants_route(&event.record.channel, event.record.owner.as_deref())
    }

    /// As [`Interest::wants`], for an event on `channel` owned by `owner`.
    pub(crate) fn wants_route(&self, channel: &str, owner: Option<&str>) -> bool {
        channel == self.channel && (self.promiscuous || owner.is_none_or(|o| o == self.user))
    }
}

/// Where a subscription is.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    /// Every event up to this sequence was delivered or skipped.
    pub(crate) after: u64,
    /// For a durable subscription: the position last stored (acknowledged).
    pub(crate) acked: u64,
    /// The rest of the last store page: events above `after`, in order.
    backlog: VecDeque<SharedEvent>,
}

impl Cursor {
    /// A cursor after `seq`, with everything up to it acknowledged.
    pub(crate) fn at(seq: u64) -> Self {
        Self {
            after: seq,
            acked: seq,
            backlog: VecDeque::new(),
        }
    }

    /// Takes the first wanted event of `events` (advancing past skipped ones); `events` must
    /// be in order and above `after`.
    fn scan(
        &mut self,
        interest: &Interest,
        events: impl IntoIterator<Item = SharedEvent>,
    ) -> Option<SharedEvent> {
        for e in events {
            if e.seq() <= self.after {
                continue;
            }
            self.after = e.seq();
            if interest.wants(&e) {
                return Some(e);
            }
        }
        None
    }

    /// Reads the next store page into the backlog, up to the log's head; false when the
    /// store has nothing more.
    async fn load_page(&mut self, store: &dyn Store) -> StoreResult<bool> {
        // Read first: every number up to it is resolved. Beyond it, with several servers
        // on one database, an event may be stored while a lower number is still to come.
        let head = store.event_log().head();
        let page = store.events_after(self.after, STORE_PAGE).await?;
        self.backlog = page
            .into_iter()
            .take_while(|e| e.seq() <= head)
            .map(Arc::new)
            .collect();
        Ok(!self.backlog.is_empty())
    }

    /// The next wanted event after the cursor, moving the cursor onto it; `None` when the
    /// history holds nothing more for this subscription yet (the cursor is then at the
    /// head, past every skipped event).
    ///
    /// Cancel-safe: the cursor only moves over events that were fully looked at.
    pub(crate) async fn next(
        &mut self,
        store: &dyn Store,
        interest: &Interest,
    ) -> StoreResult<Option<SharedEvent>> {
        loop {
            while let Some(e) = self.backlog.pop_front() {
                if let Some(found) = self.scan(interest, [e]) {
                    return Ok(Some(found));
                }
            }
            let log = store.event_log();
            match log.next_wanted(self.after, WINDOW_SCAN, |c, o| interest.wants_route(c, o)) {
                Next::Empty => return Ok(None),
                Next::Event(e) => {
                    self.after = e.seq();
                    return Ok(Some(e));
                }
                Next::Passed(seq) => self.after = seq,
                Next::TooOld => {
                    if !self.load_page(store).await? {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::events::NewEvent;
    use crate::store::sqlite::SqliteStore;

    fn event(n: i64) -> NewEvent {
        NewEvent {
            channel: "node".into(),
            owner: None,
            data: json!({"n": n}),
            treeid: None,
            attributes: Map::new(),
        }
    }

    async fn publish(store: &SqliteStore, n: i64) {
        store
            .write_nodes_with_event(Vec::new(), Some(event(n)))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_event_missing_from_the_window_is_read_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        // A second handle on the same database: what it writes never reaches the first
        // one's window, as an event whose writer was cancelled after its commit.
        let other = SqliteStore::open(dir.path()).unwrap();
        publish(&store, 1).await;
        publish(&other, 2).await;
        publish(&store, 3).await;
        let interest = Interest {
            channel: "node".into(),
            user: "alice".into(),
            promiscuous: false,
        };
        let mut cursor = Cursor::at(0);
        let mut seen = Vec::new();
        while let Some(e) = cursor.next(&store, &interest).await.unwrap() {
            seen.push(e.record.data["n"].clone());
        }
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(cursor.after, 3);
    }
}
