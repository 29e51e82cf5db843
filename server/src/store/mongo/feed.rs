//! The feed of a server's [`EventLog`] from the database: every event committed through any
//! server on the database reaches the log, in sequence order, each once.
//!
//! Events come from three sources: this server's own writes (handed over right after their
//! commit, so a writer's event is in the log before it answers whenever the numbers below
//! are resolved), a change stream on `eventhistory` (the writes of other servers, a few
//! milliseconds after their commit; open only while other servers beat on the database,
//! see `registry.rs`: alone, a server needs none), and reads by sequence (at start, after
//! the stream broke, when the reorder buffer overflowed, and every second as a safety net;
//! every 50 ms where the database has no change streams but the server has company; at a
//! set interval instead of a stream where the operator chose that, see
//! [`FeedHandle::set_poll`]). [`Reorder`] passes them on in number
//! order; a missing number is waited for (the hole rule, see `sequence.rs`): its claim is
//! checked from 50 ms on, and after [`HOLE_WAIT`] without one the number is fenced.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{Document, doc};
use futures::StreamExt;
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::ChangeStreamEvent;
use mongodb::{Collection, Database};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::events;
use super::registry::{REAP_AFTER, Registry};
use super::sequence::{self, Claim, Start};
use crate::events::{EventLog, SharedEvent};

mod reorder;

use reorder::{Entry, Reorder};

/// How long a missing number is waited for before its writer is presumed gone and the number
/// is fenced. Writers claim their number a few round trips after taking it.
pub(super) const HOLE_WAIT: Duration = Duration::from_secs(1);
/// How long a missing number is left to the change stream before its claim is read.
const HOLE_GRACE: Duration = Duration::from_millis(50);
/// How often the claim of a missing number is read while it is waited for.
const HOLE_TICK: Duration = Duration::from_millis(25);
/// Reads by sequence: how often without a change stream, and as a safety net with one.
const POLL_WITHOUT_STREAM: Duration = Duration::from_millis(50);
const SAFETY_POLL: Duration = Duration::from_secs(1);
/// How often a change stream that failed to open is tried again.
const REOPEN: Duration = Duration::from_secs(2);
/// A server alone on its database this long closes its change stream.
const ALONE: Duration = Duration::from_secs(10);
/// How often the watermark is published.
const PUBLISH: Duration = Duration::from_secs(1);
/// Events read per query.
const PAGE: i64 = 512;
/// Numbers held above the first missing one, at most; the rest is read again later.
const PENDING_CAP: usize = 4_096;
/// After this long, a fence still waiting is reported in the log.
const FENCE_REPORT: Duration = Duration::from_secs(10);

/// What the writers and the feed task share.
struct Shared {
    log: Arc<EventLog>,
    order: Mutex<Reorder>,
    /// Wakes the task: a hole appeared, or a fence ended.
    wake: Notify,
    /// Milliseconds between reads by sequence in place of the change stream while other
    /// servers write; 0: the change stream.
    poll_ms: AtomicU64,
}

impl Shared {
    /// Records `entry` for `seq` and passes on what is in order now; under the lock, so
    /// the log gets events in order.
    fn insert(&self, entries: impl IntoIterator<Item = (u64, Entry)>) {
        let Ok(mut order) = self.order.lock() else {
            return;
        };
        for (seq, entry) in entries {
            order.insert(seq, entry);
        }
        let ready = order.take_ready(Instant::now());
        if !ready.is_empty() {
            self.log.push_resolved(ready);
        }
        if order.hole(Instant::now()).is_some() {
            self.wake.notify_one();
        }
    }

    fn next(&self) -> u64 {
        self.order.lock().map_or(0, |o| o.next())
    }
}

/// A server's feed; its task stops when the feed is dropped or [`Feed::stop`] is called.
pub(super) struct Feed {
    handle: FeedHandle,
    stop: CancellationToken,
    _guard: DropGuard,
}

/// What writers hand their outcomes to; cheap to clone into a task.
#[derive(Clone)]
pub(super) struct FeedHandle(Arc<Shared>);

impl FeedHandle {
    /// This server committed `event`.
    pub(super) fn offer(&self, event: SharedEvent) {
        self.0.insert([(event.seq(), Entry::Event(event))]);
    }

    /// Reads the history by sequence every `every` instead of opening a change stream
    /// (`None`: the change stream). On a database where a change stream costs a read of
    /// every write for every server (the MongoDB-wire test server wakes each stream on each
    /// oplog entry), one indexed read per interval per server costs less at high rates; on a
    /// replica set the change stream is cheaper and quicker.
    pub(super) fn set_poll(&self, every: Option<Duration>) {
        let ms = every.map_or(0, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.0.poll_ms.store(ms, Ordering::Relaxed);
        self.0.wake.notify_one();
    }

    /// This server gave up `seq`, and made it a hole.
    pub(super) fn offer_hole(&self, seq: u64) {
        self.0.insert([(seq, Entry::Hole)]);
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("next", &self.handle.0.next())
            .finish()
    }
}

/// The log a feed starts with and its reorder buffer: the log's head is the last number
/// resolved at start (events up to it are history, not pushed); what is known beyond waits
/// in the buffer.
fn initial(start: Start, capacity: usize) -> (Arc<EventLog>, Reorder) {
    let mut known: Vec<(u64, Entry)> = start
        .events
        .into_iter()
        .map(|e| (e.seq(), Entry::Event(Arc::new(e))))
        .chain(start.holes.into_iter().map(|h| (h, Entry::Hole)))
        .collect();
    known.sort_by_key(|(seq, _)| *seq);
    let mut order = Reorder::new(start.watermark + 1, PENDING_CAP);
    let now = Instant::now();
    for (seq, entry) in known {
        order.insert(seq, entry);
        // History: only resolved, never pushed.
        order.take_ready(now);
    }
    let log = Arc::new(EventLog::new(order.next() - 1, capacity));
    (log, order)
}

impl Feed {
    /// Starts feeding a log of `capacity` events from `db`, from `start`; the feed and its
    /// log.
    pub(super) fn start(
        db: &Database,
        registry: Arc<Registry>,
        start: Start,
        capacity: usize,
    ) -> (Self, Arc<EventLog>) {
        let (log, order) = initial(start, capacity);
        let shared = Arc::new(Shared {
            log: Arc::clone(&log),
            order: Mutex::new(order),
            wake: Notify::new(),
            poll_ms: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let task = Task {
            shared: Arc::clone(&shared),
            events: db.collection(events::EVENTS),
            claims: db.collection(sequence::CLAIMS),
            counters: db.collection(events::COUNTERS),
            registry,
            stop: stop.clone(),
            fence: None,
            last_reap: None,
            last_check: None,
            published: 0,
            last_error: None,
        };
        tokio::spawn(task.run());
        let feed = Self {
            handle: FeedHandle(shared),
            _guard: stop.clone().drop_guard(),
            stop,
        };
        (feed, log)
    }

    /// Where writers hand over their outcomes.
    pub(super) fn handle(&self) -> &FeedHandle {
        &self.handle
    }

    /// Stops the task (before the client closes).
    pub(super) fn stop(&self) {
        self.stop.cancel();
    }
}

/// A fence in progress: its number, when it started, whether it was reported.
struct Fencing {
    seq: u64,
    started: Instant,
    reported: bool,
    handle: JoinHandle<Result<bool, mongodb::error::Error>>,
}

struct Task {
    shared: Arc<Shared>,
    events: Collection<Document>,
    claims: Collection<Document>,
    counters: Collection<Document>,
    registry: Arc<Registry>,
    stop: CancellationToken,
    fence: Option<Fencing>,
    /// When the sessions of dead servers were last looked for.
    last_reap: Option<Instant>,
    /// When the claim of a missing number was last read.
    last_check: Option<Instant>,
    /// The watermark last published.
    published: u64,
    /// When an error was last logged, so an outage logs once in a while, not in a loop.
    last_error: Option<Instant>,
}

type Stream = ChangeStream<ChangeStreamEvent<Document>>;

/// The next change of `stream`; never, without a stream.
async fn next_change(
    stream: &mut Option<Stream>,
) -> Option<mongodb::error::Result<ChangeStreamEvent<Document>>> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self) {
        let mut stream: Option<Stream> = None;
        let mut stream_tried: Option<Instant> = None;
        // Reads by sequence are due: at start, and until one completes after a break.
        let mut catch_up = true;
        let mut last_read = Instant::now();
        let mut last_publish = Instant::now();
        let mut alone_since: Option<Instant> = None;
        loop {
            if self.stop.is_cancelled() {
                return;
            }
            let company = self.registry.has_company();
            let poll = match self.shared.poll_ms.load(Ordering::Relaxed) {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            };
            if poll.is_some() {
                stream = None;
            }
            if company {
                alone_since = None;
            } else {
                alone_since.get_or_insert_with(Instant::now);
            }
            if poll.is_none()
                && stream.is_none()
                && company
                && stream_tried.is_none_or(|t| t.elapsed() >= REOPEN)
            {
                stream_tried = Some(Instant::now());
                stream = self.open().await;
                // What committed while there was no stream is read by sequence.
                catch_up = true;
            }
            // Alone on the database for a while: this server's own commits are all there is,
            // and a stream would cost the database a read of each event for nothing.
            if stream.is_some() && alone_since.is_some_and(|t| t.elapsed() >= ALONE) {
                stream = None;
            }
            let overflowed = self
                .shared
                .order
                .lock()
                .is_ok_and(|mut o| o.take_overflow());
            let every = if !company {
                SAFETY_POLL
            } else if let Some(p) = poll {
                p
            } else if stream.is_some() {
                SAFETY_POLL
            } else {
                POLL_WITHOUT_STREAM
            };
            if catch_up || overflowed || last_read.elapsed() >= every {
                catch_up = !self.read_on().await;
                last_read = Instant::now();
            }
            let waiting = self.resolve_hole().await;
            if last_publish.elapsed() >= PUBLISH {
                last_publish = Instant::now();
                self.publish().await;
            }
            let tick = if waiting || catch_up {
                HOLE_TICK
            } else {
                every.min(PUBLISH)
            };
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                change = next_change(&mut stream) => match change {
                    Some(Ok(change)) => self.take(change),
                    Some(Err(e)) => {
                        self.report("the change stream of the event history broke", &e);
                        stream = None;
                    }
                    None => stream = None,
                },
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// Opens the change stream of inserted events; `None` where the server has none (a
    /// standalone `mongod`), then reads by sequence take its place.
    async fn open(&mut self) -> Option<Stream> {
        let opened = self
            .events
            .watch()
            .pipeline([doc! {"$match": {"operationType": "insert"}}])
            .await;
        match opened {
            Ok(s) => Some(s),
            Err(e) => {
                self.report(
                    "no change stream of the event history; reading it every 50 ms instead",
                    &e,
                );
                None
            }
        }
    }

    fn report(&mut self, what: &str, e: &dyn std::fmt::Display) {
        if self
            .last_error
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            self.last_error = Some(Instant::now());
            tracing::warn!(error = %e, "{what}");
        }
    }

    /// An inserted event from the change stream.
    fn take(&mut self, change: ChangeStreamEvent<Document>) {
        let Some(doc) = change.full_document else {
            return;
        };
        self.take_docs(vec![doc]);
    }

    fn take_docs(&mut self, docs: Vec<Document>) {
        let mut entries = Vec::with_capacity(docs.len());
        let next = self.shared.next();
        for doc in docs {
            // Passed on already (this server's own commits, mostly): not parsed again.
            let Some(seq) = sequence::number_of(&doc).filter(|s| *s >= next) else {
                continue;
            };
            match events::doc_to_event(doc) {
                Ok(e) => entries.push((seq, Entry::Event(Arc::new(e)))),
                Err(e) => self.report("an unreadable stored event", &e),
            }
        }
        self.shared.insert(entries);
    }

    /// Reads the history by sequence from the first unresolved number, page by page until a
    /// short page; `false` when it could not finish (the database failed, or the buffer is
    /// full until the missing number is resolved).
    async fn read_on(&mut self) -> bool {
        let mut from = self.shared.next();
        loop {
            let room = self.shared.order.lock().is_ok_and(|o| o.has_room());
            if !room {
                return false;
            }
            match sequence::events_from(&self.events, from, PAGE).await {
                Ok(docs) => {
                    let full = docs.len() as i64 >= PAGE;
                    if let Some(last) = docs.last().and_then(sequence::number_of) {
                        from = from.max(last + 1);
                    }
                    self.take_docs(docs);
                    if !full {
                        return true;
                    }
                }
                Err(e) => {
                    self.report("reading the event history", &e);
                    return false;
                }
            }
        }
    }

    /// Works on the number everything waits for, if any: reads its claim, fences it after
    /// [`HOLE_WAIT`]. Returns whether a number is still waited for.
    async fn resolve_hole(&mut self) -> bool {
        let hole = self
            .shared
            .order
            .lock()
            .ok()
            .and_then(|o| o.hole(Instant::now()));
        let Some((seq, waited)) = hole else {
            return false;
        };
        if !self.fence_done(seq).await || waited < HOLE_GRACE {
            return true;
        }
        // Once per tick, however many events arrive meanwhile.
        if self.last_check.is_some_and(|t| t.elapsed() < HOLE_TICK) {
            return true;
        }
        self.last_check = Some(Instant::now());
        match sequence::claim_of(&self.claims, seq).await {
            Ok(Claim::Hole) => self.shared.insert([(seq, Entry::Hole)]),
            Ok(Claim::Committed) => match sequence::event_at(&self.events, seq).await {
                Ok(Some(doc)) => self.take_docs(vec![doc]),
                // Claimed and committed together: seen with the next read.
                Ok(None) => {}
                Err(e) => self.report("reading a committed event", &e),
            },
            Ok(Claim::Unclaimed) if waited >= HOLE_WAIT => self.start_fence(seq),
            Ok(Claim::Unclaimed) => {}
            Err(e) => self.report("reading the claim of a missing event", &e),
        }
        true
    }

    /// Whether no fence is in progress (collecting the outcome of one that ended).
    async fn fence_done(&mut self, seq: u64) -> bool {
        let Some(fencing) = &mut self.fence else {
            return true;
        };
        if !fencing.handle.is_finished() {
            let waited = fencing.started.elapsed();
            if waited >= REAP_AFTER && self.last_reap.is_none_or(|t| t.elapsed() >= REAP_AFTER) {
                // The claim's transaction may be a dead server's: abort it.
                self.last_reap = Some(Instant::now());
                if let Err(e) = self.registry.reap().await {
                    self.report("aborting the transactions of dead servers", &e);
                }
            }
            let Some(fencing) = &mut self.fence else {
                return true;
            };
            if !fencing.reported && waited >= FENCE_REPORT {
                fencing.reported = true;
                tracing::warn!(
                    sequence = fencing.seq,
                    "events wait for a number claimed by a transaction that neither commits \
                     nor aborts (its server may have died); MongoDB aborts it after its \
                     transactionLifetimeLimitSeconds (60 s by default)"
                );
            }
            return false;
        }
        let Some(fencing) = self.fence.take() else {
            return true;
        };
        match fencing.handle.await {
            Ok(Ok(true)) => {
                tracing::info!(
                    sequence = fencing.seq,
                    waiting_for = seq,
                    "an event number nobody claimed was made a hole"
                );
                self.shared.insert([(fencing.seq, Entry::Hole)]);
            }
            // Committed after all: the next claim read finds it.
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.report("fencing a missing event number", &e),
            Err(e) => self.report("fencing a missing event number", &e),
        }
        true
    }

    fn start_fence(&mut self, seq: u64) {
        let (claims, shared) = (self.claims.clone(), Arc::clone(&self.shared));
        let handle = tokio::spawn(async move {
            let outcome = sequence::fence(&claims, seq).await;
            shared.wake.notify_one();
            outcome
        });
        self.fence = Some(Fencing {
            seq,
            started: Instant::now(),
            reported: false,
            handle,
        });
    }

    /// Publishes the resolved prefix as the watermark, when it moved.
    async fn publish(&mut self) {
        let resolved = self.shared.next().saturating_sub(1);
        if resolved <= self.published {
            return;
        }
        match sequence::publish_watermark(&self.counters, resolved).await {
            Ok(()) => self.published = resolved,
            Err(e) => self.report("publishing the event watermark", &e),
        }
    }
}
