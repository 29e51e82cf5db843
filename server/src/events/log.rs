//! `EventLog`: the most recent events in sequence order, in memory, with a watch channel
//! that wakes listeners when the head moves. Stores push to it right after each commit, in
//! sequence order (the MongoDB store through its feed, which also names the numbers that
//! no event will ever have: holes); readers that fall behind its window read the store.
//!
//! The window is bounded by count and by bytes, and keeps events serialised (compact JSON):
//! a parsed `serde_json` tree costs 10 to 40 times its text, so a window of parsed events
//! could not be bounded by bytes honestly. Only a short hot tail (the newest events, which
//! live listeners read) is also kept parsed, so that fan-out to many listeners shares one
//! tree per event instead of decoding it for each.
use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::value::RawValue;
use tokio::sync::watch;

use super::{NewEvent, SharedEvent, StoredEvent};
use crate::store::{StoreError, StoreResult};

mod next;
pub use next::Next;

/// Events kept in memory by default.
// Several seconds at 1,000 events/s; readers further behind page from the store.
pub const DEFAULT_CAPACITY: usize = 4_096;

/// Serialised bytes the window keeps by default (64 MiB).
pub const DEFAULT_WINDOW_BYTES: usize = 64 << 20;

/// The largest event accepted by default (512 KiB of serialised `data` and attributes):
/// ample for node events (whole node `data`) and publications, and 128 of them fit the
/// default window.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 512 << 10;

/// The hot tail kept parsed: at most this many events and this many serialised bytes.
const HOT_COUNT: usize = 256;
const HOT_BYTES: usize = 2 << 20;

/// Serialised bytes one [`EventLog::since`] returns at most (at least one event): a reader
/// does not parse a whole window at once.
const SINCE_BYTES: usize = 8 << 20;

/// Holes remembered in the window's range, at most; beyond, the window is emptied (readers
/// then read the store).
const MAX_HOLES: usize = 4_096;

/// What a store passes on for one sequence number, in order.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// Its committed event.
    Event(SharedEvent),
    /// No event will ever have this number.
    Hole(u64),
}

/// The size limits of a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLimits {
    /// Serialised bytes of the window.
    pub window_bytes: usize,
    /// Serialised bytes of one event's `data` and attributes; larger events are refused.
    pub max_event_bytes: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            window_bytes: DEFAULT_WINDOW_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// What [`EventLog::since`] found.
#[derive(Debug)]
pub enum Since {
    /// The events after the asked sequence (possibly none: nothing new yet).
    Events(Vec<SharedEvent>),
    /// Some events after the asked sequence are no longer in memory: read the store.
    TooOld,
}

/// One event of the window: its text, and its tree while it is in the hot tail.
#[derive(Debug)]
struct Slot {
    seq: u64,
    json: Box<[u8]>,
    parsed: Option<SharedEvent>,
    /// Its channel and owner, which say who receives it without decoding `json`.
    channel: Box<str>,
    owner: Option<Box<str>>,
}

impl Slot {
    /// Its event: the parsed one of the hot tail, or decoded from its text.
    fn event(&self) -> Option<SharedEvent> {
        if let Some(e) = &self.parsed {
            return Some(e.clone());
        }
        match serde_json::from_slice::<StoredEvent>(&self.json) {
            Ok(e) => Some(Arc::new(e)),
            Err(err) => {
                tracing::warn!(error = %err, seq = self.seq, "decoding an event");
                None
            }
        }
    }
}

/// The window and its byte counts.
#[derive(Debug, Default)]
struct Window {
    slots: VecDeque<Slot>,
    bytes: usize,
    /// How many of the newest slots are parsed, and their bytes.
    hot_len: usize,
    hot_bytes: usize,
    /// The holes among the window's numbers (and just past its newest event).
    holes: BTreeSet<u64>,
    /// The newest number resolved: the last event's, or a later hole's.
    resolved: u64,
}

impl Window {
    fn pop_front(&mut self) {
        if let Some(old) = self.slots.pop_front() {
            self.bytes -= old.json.len();
            if old.parsed.is_some() {
                self.hot_len -= 1;
                self.hot_bytes -= old.json.len();
            }
            // Holes below the oldest event left cannot matter to a reader of the window.
            self.holes = self.holes.split_off(&old.seq);
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.holes.clear();
        (self.bytes, self.hot_len, self.hot_bytes) = (0, 0, 0);
    }

    /// Whether every number from `from` up to (not including) `to` is a hole.
    fn holes_only(&self, from: u64, to: u64) -> bool {
        to <= from || self.holes.range(from..to).count() as u64 == to - from
    }

    /// The slots after `after`, up to the first number missing that is not a hole (an
    /// event committed through another handle of the store: the store has it); `None` when
    /// the window does not reach back to `after + 1` (or a run of holes up to its first).
    fn run_after(&self, after: u64) -> Option<impl Iterator<Item = &Slot>> {
        let first = self.slots.front()?;
        if !self.holes_only(after + 1, first.seq) {
            return None;
        }
        let start = self.slots.partition_point(|s| s.seq <= after);
        let mut prev = after;
        Some(self.slots.iter().skip(start).take_while(move |slot| {
            let contiguous = self.holes_only(prev + 1, slot.seq);
            prev = slot.seq;
            contiguous
        }))
    }

    /// Drops the trees of the oldest hot slots beyond the hot tail's bounds.
    fn cool(&mut self) {
        while self.hot_len > HOT_COUNT || (self.hot_len > 1 && self.hot_bytes > HOT_BYTES) {
            let idx = self.slots.len() - self.hot_len;
            if let Some(slot) = self.slots.get_mut(idx) {
                slot.parsed = None;
                self.hot_bytes -= slot.json.len();
            }
            self.hot_len -= 1;
        }
    }
}

/// Recent events and the newest sequence number.
#[derive(Debug)]
pub struct EventLog {
    window: RwLock<Window>,
    capacity: usize,
    window_bytes: AtomicUsize,
    max_event_bytes: AtomicUsize,
    head: watch::Sender<u64>,
}

/// Counts the bytes written to it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The compact-JSON size of `value`, without building the text.
fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    let mut c = Counter(0);
    // Serialising a `Value` cannot fail.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

impl EventLog {
    /// An empty log whose newest stored event is `head` (0 for an empty history), keeping
    /// at most `capacity` events, with the default byte limits.
    pub fn new(head: u64, capacity: usize) -> Self {
        let limits = EventLimits::default();
        Self {
            window: RwLock::new(Window {
                resolved: head,
                ..Window::default()
            }),
            capacity: capacity.max(1),
            window_bytes: AtomicUsize::new(limits.window_bytes),
            max_event_bytes: AtomicUsize::new(limits.max_event_bytes),
            head: watch::channel(head).0,
        }
    }

    /// Sets the byte limits (from the configuration, at start).
    pub fn set_limits(&self, limits: EventLimits) {
        self.window_bytes
            .store(limits.window_bytes.max(1), Ordering::Relaxed);
        self.max_event_bytes
            .store(limits.max_event_bytes.max(1), Ordering::Relaxed);
    }

    /// The largest event accepted, in serialised bytes of `data` and attributes.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes.load(Ordering::Relaxed)
    }

    /// `TooLarge` when `event` is over the size cap; stores call it before writing.
    pub fn admit(&self, event: &NewEvent) -> StoreResult<()> {
        self.check_size(json_len(&event.data) + json_len(&event.attributes))
    }

    /// As [`EventLog::admit`], giving the event's `data` serialised: a store that keeps
    /// texts builds them around it ([`super::text`]) instead of serialising it again.
    pub fn admit_serialised(&self, event: &NewEvent) -> StoreResult<Box<RawValue>> {
        let data = serde_json::value::to_raw_value(&event.data)
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        self.check_size(data.get().len() + json_len(&event.attributes))?;
        Ok(data)
    }

    fn check_size(&self, size: usize) -> StoreResult<()> {
        let max = self.max_event_bytes();
        if size > max {
            return Err(StoreError::TooLarge(format!(
                "The event would be {size} bytes of serialised data, over the limit of {max} bytes"
            )));
        }
        Ok(())
    }

    /// Appends committed events; they must come in increasing sequence order.
    pub fn push(&self, events: impl IntoIterator<Item = SharedEvent>) {
        self.push_resolved(events.into_iter().map(Resolved::Event));
    }

    /// Appends a committed event with its text as the window keeps it (what serialising
    /// it gives: [`super::text::texts`]).
    pub fn push_serialised(&self, event: SharedEvent, json: Box<[u8]>) {
        self.push_items(std::iter::once((Resolved::Event(event), Some(json))));
    }

    /// Appends committed events and holes, in increasing sequence order: a reader of the
    /// window passes a hole without asking the store for it.
    pub fn push_resolved(&self, items: impl IntoIterator<Item = Resolved>) {
        self.push_items(items.into_iter().map(|item| (item, None)));
    }

    /// As [`EventLog::push_resolved`], each event with its text when the store has it.
    fn push_items(&self, items: impl IntoIterator<Item = (Resolved, Option<Box<[u8]>>)>) {
        let mut newest = None;
        let max_bytes = self.window_bytes.load(Ordering::Relaxed);
        {
            let Ok(mut w) = self.window.write() else {
                return;
            };
            for (item, text) in items {
                let e = match item {
                    Resolved::Hole(seq) => {
                        if seq > w.resolved {
                            w.resolved = seq;
                            w.holes.insert(seq);
                            if w.holes.len() > MAX_HOLES {
                                w.clear();
                            }
                        }
                        continue;
                    }
                    Resolved::Event(e) => e,
                };
                if w.slots.back().is_some_and(|last| last.seq >= e.seq()) {
                    continue;
                }
                newest = Some(e.seq());
                w.resolved = w.resolved.max(e.seq());
                let json = match text
                    .map_or_else(|| serde_json::to_vec(&*e).map(Vec::into_boxed_slice), Ok)
                {
                    Ok(j) => j,
                    Err(err) => {
                        // Readers behind this event go to the store, which has it.
                        tracing::warn!(error = %err, seq = e.seq(), "serialising an event");
                        w.clear();
                        continue;
                    }
                };
                while !w.slots.is_empty()
                    && (w.slots.len() >= self.capacity || w.bytes + json.len() > max_bytes)
                {
                    w.pop_front();
                }
                w.bytes += json.len();
                w.hot_len += 1;
                w.hot_bytes += json.len();
                w.slots.push_back(Slot {
                    seq: e.seq(),
                    json,
                    channel: e.record.channel.as_str().into(),
                    owner: e.record.owner.as_deref().map(Into::into),
                    parsed: Some(e),
                });
                w.cool();
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

    /// Serialised bytes and events in the window (for tests and health reports).
    pub fn usage(&self) -> (usize, usize) {
        self.window
            .read()
            .map(|w| (w.bytes, w.slots.len()))
            .unwrap_or_default()
    }

    /// Up to `max` events with a sequence above `after` (fewer when they are large).
    pub fn since(&self, after: u64, max: usize) -> Since {
        let head = self.head();
        if after >= head {
            return Since::Events(Vec::new());
        }
        let Ok(w) = self.window.read() else {
            return Since::TooOld;
        };
        let Some(run) = w.run_after(after) else {
            return Since::TooOld;
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for slot in run.take(max) {
            if !out.is_empty() && bytes + slot.json.len() > SINCE_BYTES {
                break;
            }
            bytes += slot.json.len();
            match slot.event() {
                Some(e) => out.push(e),
                None => return Since::TooOld,
            }
        }
        if out.is_empty() {
            Since::TooOld
        } else {
            Since::Events(out)
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

    #[test]
    fn readers_pass_holes_but_not_numbers_missing_from_the_window() {
        let log = EventLog::new(3, 16);
        log.push_resolved([
            Resolved::Hole(4),
            Resolved::Event(ev(5)),
            Resolved::Hole(6),
            Resolved::Hole(7),
        ]);
        assert_eq!(log.head(), 5, "holes do not move the head");
        assert_eq!(seqs(log.since(3, 10)), vec![5], "4 is a hole");
        assert_eq!(seqs(log.since(5, 10)), Vec::<u64>::new());
        log.push([ev(8), ev(10)]);
        // 9 is no hole: a reader must not pass it without the store.
        assert_eq!(seqs(log.since(3, 10)), vec![5, 8]);
        assert_eq!(seqs(log.since(8, 10)), vec![u64::MAX]);
        assert_eq!(seqs(log.since(9, 10)), vec![10]);
        assert_eq!(
            seqs(log.since(2, 10)),
            vec![u64::MAX],
            "3 is not in the window"
        );
    }

    fn big(seq: u64, bytes: usize) -> SharedEvent {
        let new = NewEvent {
            channel: "node".into(),
            owner: None,
            data: Value::String("x".repeat(bytes)),
            treeid: Some("t".into()),
            attributes: Map::new(),
        };
        Arc::new(StoredEvent::new(
            new,
            seq,
            format!("{seq:024x}"),
            Timestamp::now(),
        ))
    }

    #[test]
    fn the_window_is_bounded_by_bytes_and_round_trips_cold_events() {
        let log = EventLog::new(0, 4096);
        log.set_limits(EventLimits {
            window_bytes: 1 << 20,
            max_event_bytes: 1 << 20,
        });
        let pushed: Vec<SharedEvent> = (1..=400).map(|s| big(s, 10_000)).collect();
        log.push(pushed.iter().cloned());
        let (bytes, count) = log.usage();
        assert!(bytes <= 1 << 20, "{bytes}");
        assert!(count < 110 && count > 90, "{count}");
        let Since::Events(got) = log.since(400 - count as u64, 1000) else {
            panic!("in the window");
        };
        assert_eq!(got.len(), count);
        // Cold (serialised) events come back equal to what was pushed, hot ones too.
        for e in [&got[0], &got[got.len() - 1]] {
            assert_eq!(**e, *pushed[e.seq() as usize - 1]);
        }
    }

    #[test]
    fn events_over_the_cap_are_refused() {
        let log = EventLog::new(0, 16);
        log.set_limits(EventLimits {
            window_bytes: 1 << 20,
            max_event_bytes: 1000,
        });
        let event = |n| NewEvent {
            channel: "c".into(),
            owner: None,
            data: Value::String("x".repeat(n)),
            treeid: None,
            attributes: Map::new(),
        };
        assert!(log.admit(&event(900)).is_ok());
        assert!(matches!(
            log.admit(&event(1000)),
            Err(StoreError::TooLarge(_))
        ));
    }
}
