//! The subscriptions of `/subscribe` and `/listen` (kernelci-api.md section 8): each one a
//! cursor in the stored event history, so nothing published after a subscribe is lost,
//! however slowly it is read. Durable subscriptions (`subscriber_id`) keep their position
//! in the store and resume from it, after an idle drop or a restart.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use maestro_common::Timestamp;
use serde_json::Value;

use crate::store::{Store, StoreError, SubscriberState};

mod api;
pub mod cloudevent;
mod counts;
mod cursor;
pub mod lists;
pub(crate) mod recent;
pub mod shared_lists;
mod subscription;

pub use api::{PubSubError, SubscriptionInfo, SubscriptionStats};
pub use cloudevent::{DEFAULT_SOURCE, Message};
pub use counts::SubscriptionCounts;
use cursor::{Cursor, Interest};
use subscription::{Dormant, Listening, Subscription};

/// Default seconds a listen waits before a BEEP.
pub const DEFAULT_KEEP_ALIVE_SECS: u64 = 45;

/// Default seconds a `/pop` waits for an item: under the 60 s at which Python clients
/// give up, so that an empty list answers instead of leaving the connection hanging.
pub const DEFAULT_POP_TIMEOUT_SECS: u64 = 55;

/// Default seconds without a listen after which a subscription is dropped.
pub const DEFAULT_IDLE_SECS: u64 = 900;

/// CloudEvents of recent events kept for `/listen`: live long-poll subscribers read near the
/// head, as the event log's parsed hot tail (256 events).
const LISTEN_TEXTS: usize = 256;

/// Dropped durable subscriptions remembered by id, so their next listen resumes them.
const MAX_DORMANT: usize = 100_000;

/// Settings of the pub/sub service.
#[derive(Clone, Debug)]
pub struct PubSubConfig {
    /// How long a listen waits for an event before answering a BEEP; `None`: until one comes.
    pub keep_alive: Option<Duration>,
    /// Subscriptions without a listen for this long are dropped.
    pub idle_timeout: Duration,
    /// `source` of the CloudEvents.
    pub source: String,
    /// Subscriptions one user may hold in memory at once (each costs a cursor, and a
    /// listen holds a connection).
    pub max_per_user: usize,
    /// How long a `/pop` waits for an item before answering 204; `None`: until one comes.
    pub pop_timeout: Option<Duration>,
}

/// Default bound of subscriptions per user.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_USER: usize = 256;

impl Default for PubSubConfig {
    fn default() -> Self {
        Self {
            keep_alive: Some(Duration::from_secs(DEFAULT_KEEP_ALIVE_SECS)),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_SECS),
            source: DEFAULT_SOURCE.to_owned(),
            max_per_user: DEFAULT_MAX_SUBSCRIPTIONS_PER_USER,
            pop_timeout: Some(Duration::from_secs(DEFAULT_POP_TIMEOUT_SECS)),
        }
    }
}

impl PubSubConfig {
    /// The settings of the server configuration.
    pub fn from_config(cfg: &crate::Config) -> Self {
        Self {
            keep_alive: (cfg.keep_alive_secs > 0).then(|| Duration::from_secs(cfg.keep_alive_secs)),
            idle_timeout: Duration::from_secs(cfg.subscription_idle_secs.max(1)),
            source: if cfg.cloud_events_source.is_empty() {
                DEFAULT_SOURCE.to_owned()
            } else {
                cfg.cloud_events_source.clone()
            },
            max_per_user: cfg.max_subscriptions_per_user.max(1),
            pop_timeout: (cfg.pop_timeout_secs > 0)
                .then(|| Duration::from_secs(cfg.pop_timeout_secs)),
        }
    }
}

/// The subscription registry, the queues of `/push` and `/pop`, and their settings.
pub struct PubSub {
    cfg: PubSubConfig,
    next_id: AtomicU64,
    subs: RwLock<HashMap<u64, Arc<Subscription>>>,
    dormant: Mutex<BTreeMap<u64, Dormant>>,
    /// The `/push` and `/pop` queues, when the store does not keep them.
    pub lists: lists::Lists,
    /// This server's consumers of the `/push` and `/pop` lists a shared store keeps.
    pub shared_lists: shared_lists::SharedLists,
    /// The CloudEvents of recent events as `/listen` sends them, built once per event.
    messages: recent::RecentTexts<Arc<str>>,
}

impl Default for PubSub {
    /// A registry with the default settings (45 s keep-alive, 15 min idle drop).
    fn default() -> Self {
        Self::new(PubSubConfig::default())
    }
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl PubSub {
    /// An empty registry.
    pub fn new(cfg: PubSubConfig) -> Self {
        Self {
            cfg,
            next_id: AtomicU64::new(0),
            subs: RwLock::new(HashMap::new()),
            dormant: Mutex::new(BTreeMap::new()),
            lists: lists::Lists::default(),
            shared_lists: shared_lists::SharedLists::default(),
            messages: recent::RecentTexts::new(LISTEN_TEXTS),
        }
    }

    /// The settings.
    pub fn config(&self) -> &PubSubConfig {
        &self.cfg
    }

    /// A new subscription id: from a store several servers share, unique among them (so a
    /// server never takes another's subscription for one of its own); else from the clock.
    async fn allocate_id(&self, store: &dyn Store) -> Result<u64, PubSubError> {
        match store.new_subscription_id().await? {
            Some(id) => Ok(id),
            None => Ok(self.clock_id()),
        }
    }

    /// A subscription id from the wall clock in milliseconds, and at least one above the
    /// last: ids keep growing across restarts without anything stored, as long as fewer
    /// than 1,000 subscriptions a second are made on average (and the clock does not go
    /// back).
    fn clock_id(&self) -> u64 {
        let now = now_millis();
        let prev = self
            .next_id
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or_else(|last| last);
        now.max(prev + 1)
    }

    fn get(&self, id: u64) -> Option<Arc<Subscription>> {
        self.subs.read().ok()?.get(&id).cloned()
    }

    fn insert(&self, sub: Subscription) -> Arc<Subscription> {
        let sub = Arc::new(sub);
        if let Ok(mut subs) = self.subs.write() {
            // A concurrent revival of the same id wins; both would be equal.
            return Arc::clone(subs.entry(sub.id).or_insert(sub));
        }
        sub
    }

    /// `POST /subscribe/{channel}`: a subscription starting at the head of the history, or
    /// for a durable `subscriber_id` seen before, at its stored position (the whole backlog
    /// follows).
    pub async fn subscribe(
        &self,
        store: &dyn Store,
        user: &str,
        channel: &str,
        promiscuous: bool,
        subscriber_id: Option<&str>,
    ) -> Result<SubscriptionInfo, PubSubError> {
        let interest = Interest {
            channel: channel.to_owned(),
            user: user.to_owned(),
            promiscuous,
        };
        let cursor = match subscriber_id {
            None => Cursor::at(store.event_log().head()),
            Some(sid) => Cursor::at(durable_position(store, sid, &interest).await?),
        };
        let id = self.allocate_id(store).await?;
        let sub = Subscription::new(id, interest, subscriber_id.map(str::to_owned), cursor);
        if let Ok(mut subs) = self.subs.write() {
            // Counted and inserted under one lock, so concurrent subscribes cannot overshoot.
            let held = subs.values().filter(|s| s.interest.user == user).count();
            if held >= self.cfg.max_per_user {
                tracing::warn!(%user, limit = self.cfg.max_per_user, "subscription limit reached");
                return Err(PubSubError::TooMany {
                    user: user.to_owned(),
                    limit: self.cfg.max_per_user,
                });
            }
            subs.insert(id, Arc::new(sub));
        }
        Ok(SubscriptionInfo {
            id,
            channel: channel.to_owned(),
            user: user.to_owned(),
            promiscuous,
        })
    }

    /// The subscription `id` for `user`: held in memory, or a dormant durable one brought
    /// back at its stored position.
    async fn owned(
        &self,
        store: &dyn Store,
        id: u64,
        user: &str,
    ) -> Result<Arc<Subscription>, PubSubError> {
        let not_owner = || PubSubError::NotOwner {
            id,
            user: user.to_owned(),
        };
        if let Some(sub) = self.get(id) {
            return if sub.interest.user == user {
                Ok(sub)
            } else {
                Err(not_owner())
            };
        }
        let not_found = || {
            if store.is_shared() {
                PubSubError::NotHere(id)
            } else {
                PubSubError::NotFound(id)
            }
        };
        let dormant = self
            .dormant
            .lock()
            .ok()
            .and_then(|d| d.get(&id).cloned())
            .ok_or_else(not_found)?;
        if dormant.interest.user != user {
            return Err(not_owner());
        }
        let state = store
            .find_subscriber(&dormant.subscriber_id)
            .await?
            .ok_or_else(not_found)?;
        if let Ok(mut d) = self.dormant.lock() {
            d.remove(&id);
        }
        let sub = Subscription::new(
            id,
            dormant.interest,
            Some(dormant.subscriber_id),
            Cursor::at(state.last_event_id),
        );
        Ok(self.insert(sub))
    }

    /// `GET /listen/{id}`: acknowledges what the previous listen delivered, then answers the
    /// next event for the subscription, or a BEEP when none comes within the keep-alive
    /// period.
    ///
    /// Cancel-safe: a listen dropped half-way delivers nothing and loses nothing.
    pub async fn listen(
        &self,
        store: &dyn Store,
        id: u64,
        user: &str,
    ) -> Result<Message, PubSubError> {
        let sub = self.owned(store, id, user).await?;
        let _listening = Listening::new(&sub.listening);
        sub.touch();
        sub.listens.send_modify(|n| *n += 1);
        let mut superseded = sub.listens.subscribe();
        let mut cursor = sub.cursor.lock().await;
        if let Some(sid) = &sub.subscriber_id {
            // Implicit acknowledgement: asking again means the last answer was handled.
            if cursor.after > cursor.acked {
                match store
                    .ack_subscriber(sid, cursor.after, Timestamp::now())
                    .await
                {
                    Ok(()) => cursor.acked = cursor.after,
                    // Kept unacknowledged: the next listen acknowledges further.
                    Err(e) => tracing::warn!(error = %e, subscriber = %sid, "acknowledging"),
                }
            }
        }
        let deadline = self.cfg.keep_alive.map(|d| tokio::time::Instant::now() + d);
        let mut head = store.event_log().watch();
        loop {
            head.borrow_and_update();
            if let Some(event) = cursor.next(store, &sub.interest).await? {
                sub.touch();
                let data = self.messages.get_or_build(event.seq(), || {
                    let parts = cloudevent::CloudEventParts::of_stored(&event);
                    cloudevent::python_json(&cloudevent::cloudevent(&parts, &self.cfg.source))
                        .into()
                });
                return Ok(Message::of_text(&sub.interest.channel, data));
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = head.changed() => if changed.is_err() { break },
                () = sleep => break,
                _ = superseded.changed() => break,
            }
        }
        sub.touch();
        Ok(self.beep(&sub.interest.channel))
    }

    /// A keep-alive message on `channel`.
    fn beep(&self, channel: &str) -> Message {
        let data = Value::String(cloudevent::BEEP.to_owned());
        let ce =
            cloudevent::cloudevent(&cloudevent::CloudEventParts::beep(&data), &self.cfg.source);
        Message::new(channel, &ce)
    }

    /// `POST /unsubscribe/{id}`: drops the subscription; a durable one keeps its stored
    /// position for a later subscribe with the same `subscriber_id`.
    pub fn unsubscribe(&self, id: u64, user: &str) -> Result<(), PubSubError> {
        let not_owner = || PubSubError::NotOwner {
            id,
            user: user.to_owned(),
        };
        if let Ok(mut subs) = self.subs.write()
            && let Some(sub) = subs.get(&id)
        {
            if sub.interest.user != user {
                return Err(not_owner());
            }
            if let Some(sub) = subs.remove(&id) {
                // A listen waiting on it answers at once.
                sub.listens.send_modify(|n| *n += 1);
            }
            return Ok(());
        }
        let mut dormant = self.dormant.lock().map_err(|_| PubSubError::NotFound(id))?;
        match dormant.get(&id) {
            Some(d) if d.interest.user != user => Err(not_owner()),
            Some(_) => {
                dormant.remove(&id);
                Ok(())
            }
            None => Err(PubSubError::NotFound(id)),
        }
    }

    /// `GET /stats/subscriptions`: the subscriptions held in memory, by id.
    pub fn stats(&self) -> Vec<SubscriptionStats> {
        let Ok(subs) = self.subs.read() else {
            return Vec::new();
        };
        let mut out: Vec<SubscriptionStats> = subs
            .values()
            .map(|s| SubscriptionStats {
                id: s.id,
                channel: s.interest.channel.clone(),
                user: s.interest.user.clone(),
                promiscuous: s.interest.promiscuous,
                created: s.created,
                last_poll: s.last_poll.lock().ok().and_then(|p| *p),
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }

    /// Drops the subscriptions not listened to for the idle timeout; durable ones stay
    /// resumable by id. Returns how many were dropped.
    pub fn drop_idle(&self) -> usize {
        let timeout = self.cfg.idle_timeout;
        let idle: Vec<Arc<Subscription>> = {
            let Ok(mut subs) = self.subs.write() else {
                return 0;
            };
            let ids: Vec<u64> = subs
                .values()
                .filter(|s| s.idle_since().is_some_and(|t| t.elapsed() >= timeout))
                .map(|s| s.id)
                .collect();
            ids.iter().filter_map(|id| subs.remove(id)).collect()
        };
        if let Ok(mut dormant) = self.dormant.lock() {
            for sub in &idle {
                if let Some(sid) = &sub.subscriber_id {
                    dormant.insert(
                        sub.id,
                        Dormant {
                            interest: sub.interest.clone(),
                            subscriber_id: sid.clone(),
                        },
                    );
                }
            }
            while dormant.len() > MAX_DORMANT {
                dormant.pop_first();
            }
        }
        idle.len()
    }

    /// Runs [`PubSub::drop_idle`] periodically until the registry is gone or the returned
    /// guard is dropped.
    pub fn spawn_cleanup(self: &Arc<Self>) -> CleanupTask {
        let period =
            (self.cfg.idle_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let weak: Weak<Self> = Arc::downgrade(self);
        CleanupTask(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pubsub) = weak.upgrade() else { break };
                let dropped = pubsub.drop_idle();
                if dropped > 0 {
                    tracing::info!(dropped, "dropped idle subscriptions");
                }
            }
        }))
    }
}

/// The background task of [`PubSub::spawn_cleanup`]; aborted when dropped.
pub struct CleanupTask(tokio::task::JoinHandle<()>);

impl Drop for CleanupTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a durable subscriber resumes: its stored position, or the head for a new one
/// (recorded then). Another user's `subscriber_id` is refused.
async fn durable_position(
    store: &dyn Store,
    subscriber_id: &str,
    interest: &Interest,
) -> Result<u64, PubSubError> {
    let owned = |state: SubscriberState| {
        if state.user == interest.user {
            Ok(state.last_event_id)
        } else {
            Err(PubSubError::SubscriberTaken(subscriber_id.to_owned()))
        }
    };
    if let Some(state) = store.find_subscriber(subscriber_id).await? {
        return owned(state);
    }
    let state = SubscriberState {
        subscriber_id: subscriber_id.to_owned(),
        channel: interest.channel.clone(),
        user: interest.user.clone(),
        promiscuous: interest.promiscuous,
        last_event_id: store.event_log().head(),
        created_at: Timestamp::now(),
        last_poll: None,
    };
    match store.insert_subscriber(&state).await {
        Ok(()) => Ok(state.last_event_id),
        // Made by a concurrent subscribe in between.
        Err(StoreError::Conflict(_)) => match store.find_subscriber(subscriber_id).await? {
            Some(state) => owned(state),
            None => Err(PubSubError::Store(StoreError::Conflict(
                subscriber_id.to_owned(),
            ))),
        },
        Err(e) => Err(e.into()),
    }
}
