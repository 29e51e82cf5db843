//! `EventLog`: the most recent events in sequence order, in memory, with a watch channel
//! that wakes listeners when the head moves. Stores push to it right after each commit,
//! in commit order; readers that fall behind its window read the store instead.
use std::collections::VecDeque;
use std::sync::RwLock;

use tokio::sync::watch;

use super::SharedEvent;

/// Events kept in memory by default.
// ~7 KiB each with their parsed payload: 4,096 keep the server near 30 MiB for the window,
// several seconds at 1,000 events/s; readers further behind page from the store.
pub const DEFAULT_CAPACITY: usize = 4_096;

/// What [`EventLog::since`] found.
#[derive(Debug)]
pub enum Since {
    /// The events after the asked sequence (possibly none: nothing new yet).
    Events(Vec<SharedEvent>),
    /// Some events after the asked sequence are no longer in memory: read the store.
    TooOld,
}

/// Recent events and the newest sequence number.
#[derive(Debug)]
pub struct EventLog {
    window: RwLock<VecDeque<SharedEvent>>,
    capacity: usize,
    head: watch::Sender<u64>,
}

impl EventLog {
    /// An empty log whose newest stored event is `head` (0 for an empty history).
    pub fn new(head: u64, capacity: usize) -> Self {
        Self {
            window: RwLock::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
            head: watch::channel(head).0,
        }
    }

    /// Appends committed events; they must come in increasing sequence order.
    pub fn push(&self, events: impl IntoIterator<Item = SharedEvent>) {
        let mut newest = None;
        {
            let Ok(mut window) = self.window.write() else {
                return;
            };
            for e in events {
                if window.back().is_some_and(|last| last.seq() >= e.seq()) {
                    continue;
                }
                newest = Some(e.seq());
                if window.len() == self.capacity {
                    window.pop_front();
                }
                window.push_back(e);
            }
        }
        if let Some(seq) = newest {
            self.head.send_replace(seq);
        }
    }

    /// The newest sequence number stored.
    pub fn head(&self) -> u64 {
        *self.head.borrow()
    }

    /// A receiver that changes whenever the head moves.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Up to `max` events with a sequence above `after`.
    pub fn since(&self, after: u64, max: usize) -> Since {
        let head = self.head();
        if after >= head {
            return Since::Events(Vec::new());
        }
        let Ok(window) = self.window.read() else {
            return Since::TooOld;
        };
        match window.front() {
            // Sequences have no holes in the window's range, except where a write failed
            // after taking a number; a reader at `after` needs `after + 1` onwards.
            Some(first) if first.seq() <= after + 1 => {
                let start = window.partition_point(|e| e.seq() <= after);
                Since::Events(window.iter().skip(start).take(max).cloned().collect())
            }
            _ => Since::TooOld,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use maestro_common::Timestamp;
    use serde_json::{Map, Value};

    use super::*;
    use crate::events::{NewEvent, StoredEvent};

    fn ev(seq: u64) -> SharedEvent {
        let new = NewEvent {
            channel: "node".into(),
            owner: None,
            data: Value::Null,
            treeid: None,
            attributes: Map::new(),
        };
        Arc::new(StoredEvent::new(
            new,
            seq,
            format!("{seq:024x}"),
            Timestamp::now(),
        ))
    }

    fn seqs(s: Since) -> Vec<u64> {
        match s {
            Since::Events(v) => v.iter().map(|e| e.seq()).collect(),
            Since::TooOld => vec![u64::MAX],
        }
    }

    #[test]
    fn serves_the_window_and_sends_older_readers_to_the_store() {
        let log = EventLog::new(10, 4);
        assert_eq!(seqs(log.since(10, 10)), Vec::<u64>::new());
        assert_eq!(seqs(log.since(3, 10)), vec![u64::MAX]);
        log.push((11..=16).map(ev));
        assert_eq!(log.head(), 16);
        assert_eq!(seqs(log.since(12, 10)), vec![13, 14, 15, 16]);
        assert_eq!(seqs(log.since(14, 1)), vec![15]);
        assert_eq!(
            seqs(log.since(11, 10)),
            vec![u64::MAX],
            "12 fell out of the window"
        );
        log.push([ev(15)]);
        assert_eq!(log.head(), 16, "old sequences are ignored");
    }
}
