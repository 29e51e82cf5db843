//! One subscription held in memory: its interest, its cursor behind a lock that a listen
//! holds from start to answer, and what its idle-drop needs.
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use maestro_common::Timestamp;
use tokio::sync::watch;

use super::cursor::{Cursor, Interest};

/// One subscription held in memory.
pub(crate) struct Subscription {
    /// Its id.
    pub(crate) id: u64,
    /// Which events it receives.
    pub(crate) interest: Interest,
    /// Its durable name, if any.
    pub(crate) subscriber_id: Option<String>,
    /// When it was made.
    pub(crate) created: Timestamp,
    /// When it was last listened to, as `/stats/subscriptions` shows it.
    pub(crate) last_poll: Mutex<Option<Timestamp>>,
    /// When it was last listened to (or created).
    pub(crate) last_active: Mutex<Instant>,
    /// Listens in progress: a subscription being listened to is never idle.
    pub(crate) listening: AtomicUsize,
    /// Held by a listen from start to answer, so deliveries and acks stay in order.
    pub(crate) cursor: tokio::sync::Mutex<Cursor>,
    /// Counts listens: a new listen makes a waiting one answer a BEEP at once, so a
    /// client that gave up on a request is not kept waiting behind it.
    pub(crate) listens: watch::Sender<u64>,
}

impl Subscription {
    /// A subscription made now, at `cursor`.
    pub(crate) fn new(
        id: u64,
        interest: Interest,
        subscriber_id: Option<String>,
        cursor: Cursor,
    ) -> Self {
        Self {
            id,
            interest,
            subscriber_id,
            created: Timestamp::now(),
            last_poll: Mutex::new(None),
            last_active: Mutex::new(Instant::now()),
            listening: AtomicUsize::new(0),
            cursor: tokio::sync::Mutex::new(cursor),
            listens: watch::channel(0).0,
        }
    }

    /// Records a listen.
    pub(crate) fn touch(&self) {
        if let Ok(mut t) = self.last_active.lock() {
            *t = Instant::now();
        }
        if let Ok(mut p) = self.last_poll.lock() {
            *p = Some(Timestamp::now());
        }
    }

    /// Since when nobody listened; `None` while a listen is in progress.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        if self.listening.load(Ordering::Acquire) > 0 {
            return None;
        }
        self.last_active.lock().ok().map(|t| *t)
    }
}

/// Counts a listen in progress for as long as it lives (also when it is cancelled).
pub(crate) struct Listening<'a>(&'a AtomicUsize);

impl<'a> Listening<'a> {
    /// Counts a listen on `n` until dropped.
    pub(crate) fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::AcqRel);
        Self(n)
    }
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A durable subscription dropped from memory: what it takes to bring it back.
#[derive(Clone, Debug)]
pub(crate) struct Dormant {
    /// Which events it received.
    pub(crate) interest: Interest,
    /// Its durable name.
    pub(crate) subscriber_id: String,
}
