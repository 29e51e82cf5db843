//! The feed's reorder buffer: sequence numbers arrive in commit order (which is not number
//! order once several writers run), and leave in number order, each once, only when every
//! lower number is resolved: its event seen, or the number known to be a hole.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::events::{Resolved, SharedEvent};

/// What is known of one number above the resolved prefix.
#[derive(Debug)]
pub(super) enum Entry {
    /// Its committed event.
    Event(SharedEvent),
    /// No event will ever have it (its writer failed, or a reader fenced it).
    Hole,
}

/// The numbers resolved so far and what is known beyond them.
#[derive(Debug)]
pub(super) struct Reorder {
    /// The first number not resolved yet; everything below it was passed on.
    next: u64,
    /// Known numbers above `next`, at most `cap` of them.
    pending: BTreeMap<u64, Entry>,
    cap: usize,
    /// Since when `next` has been missing while higher numbers were known.
    hole_since: Option<Instant>,
    /// Numbers were refused because `pending` was full: they are committed, and must be
    /// read again from the database once the buffer has room.
    overflowed: bool,
}

impl Reorder {
    /// A buffer whose first unresolved number is `next`, holding at most `cap` entries.
    pub(super) fn new(next: u64, cap: usize) -> Self {
        Self {
            next,
            pending: BTreeMap::new(),
            cap: cap.max(1),
            hole_since: None,
            overflowed: false,
        }
    }

    /// The first number not resolved yet.
    pub(super) fn next(&self) -> u64 {
        self.next
    }

    /// Records what is known of `seq`. A number already resolved is ignored, and so is a
    /// second entry for a number (the first one seen is as good); when the buffer is full,
    /// numbers above every known one are refused (and [`Reorder::take_overflow`] says so).
    pub(super) fn insert(&mut self, seq: u64, entry: Entry) {
        if seq < self.next || self.pending.contains_key(&seq) {
            return;
        }
        let above_all = self.pending.last_key_value().is_none_or(|(k, _)| seq > *k);
        if self.pending.len() >= self.cap && above_all {
            self.overflowed = true;
            return;
        }
        if self.pending.len() >= self.cap {
            // Room for a lower number (it may be the one everything waits for): the highest
            // one goes, to be read again later.
            self.pending.pop_last();
            self.overflowed = true;
        }
        self.pending.insert(seq, entry);
    }

    /// The events and holes that are now in order, moving the resolved prefix past them.
    pub(super) fn take_ready(&mut self, now: Instant) -> Vec<Resolved> {
        let mut out = Vec::new();
        let start = self.next;
        while let Some(entry) = self.pending.remove(&self.next) {
            out.push(match entry {
                Entry::Event(e) => Resolved::Event(e),
                Entry::Hole => Resolved::Hole(self.next),
            });
            self.next += 1;
        }
        if self.pending.is_empty() {
            self.hole_since = None;
        } else if self.next != start || self.hole_since.is_none() {
            // A new number is waited for: its time starts now.
            self.hole_since = Some(now);
        }
        out
    }

    /// The number everything waits for, and for how long, when higher numbers are known.
    pub(super) fn hole(&self, now: Instant) -> Option<(u64, Duration)> {
        self.hole_since
            .map(|since| (self.next, now.saturating_duration_since(since)))
    }

    /// Whether numbers were refused since the last call (the caller reads them again).
    pub(super) fn take_overflow(&mut self) -> bool {
        std::mem::take(&mut self.overflowed)
    }

    /// Whether the buffer has room for a page read from the database.
    pub(super) fn has_room(&self) -> bool {
        self.pending.len() < self.cap
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use maestro_common::Timestamp;
    use serde_json::{Map, Value};

    use super::*;
    use crate::events::{NewEvent, StoredEvent};

    fn ev(seq: u64) -> Entry {
        let new = NewEvent {
            channel: "node".into(),
            owner: None,
            data: Value::Null,
            treeid: None,
            attributes: Map::new(),
        };
        Entry::Event(Arc::new(StoredEvent::new(
            new,
            seq,
            format!("{seq:024x}"),
            Timestamp::now(),
        )))
    }

    /// The numbers of the events (holes as 0).
    fn seqs(ready: Vec<Resolved>) -> Vec<u64> {
        ready
            .iter()
            .map(|r| match r {
                Resolved::Event(e) => e.seq(),
                Resolved::Hole(_) => 0,
            })
            .collect()
    }

    #[test]
    fn numbers_leave_in_order_once_and_holes_are_skipped() {
        let t = Instant::now();
        let mut r = Reorder::new(5, 100);
        r.insert(6, ev(6));
        r.insert(8, ev(8));
        assert!(seqs(r.take_ready(t)).is_empty(), "5 is still to come");
        assert_eq!(r.hole(t + Duration::from_millis(30)).map(|h| h.0), Some(5));
        r.insert(5, ev(5));
        r.insert(6, ev(6));
        assert_eq!(seqs(r.take_ready(t)), [5, 6]);
        assert_eq!(r.next(), 7);
        r.insert(7, Entry::Hole);
        r.insert(4, ev(4));
        assert_eq!(
            seqs(r.take_ready(t)),
            [0, 8],
            "7 is a hole, 4 was passed already"
        );
        assert_eq!(r.hole(t), None);
    }

    #[test]
    fn the_wait_for_a_number_starts_when_it_becomes_the_first_missing() {
        let t0 = Instant::now();
        let mut r = Reorder::new(1, 100);
        r.insert(3, ev(3));
        r.take_ready(t0);
        let t1 = t0 + Duration::from_secs(1);
        r.insert(1, ev(1));
        r.take_ready(t1);
        // Now 2 is missing, since t1 (not t0).
        assert_eq!(
            r.hole(t1 + Duration::from_millis(5)),
            Some((2, Duration::from_millis(5)))
        );
    }

    #[test]
    fn a_full_buffer_keeps_the_lowest_numbers_and_says_it_refused_some() {
        let t = Instant::now();
        let mut r = Reorder::new(1, 3);
        for s in 2..=10 {
            r.insert(s, ev(s));
        }
        assert!(r.take_overflow());
        assert!(!r.take_overflow(), "said once");
        assert!(!r.has_room());
        r.insert(1, ev(1));
        assert!(r.take_overflow(), "4 made room for 1");
        assert_eq!(seqs(r.take_ready(t)), [1, 2, 3]);
        assert!(r.has_room());
        assert_eq!(r.next(), 4, "4 onwards are read again from the database");
    }
}
