//! Event metrics: events published by channel, events delivered and current subscribers by
//! kind of subscriber (long-poll `/listen`, WebSocket, durable `/listen`).
use std::collections::HashMap;
use std::sync::RwLock;

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use super::{built, gauge_value, register};
use crate::pubsub::SubscriptionCounts;

/// Channels counted by name; events of further channels count as [`OTHER_CHANNELS`].
/// Channels are named by publishers, so their number must be bounded here.
const MAX_CHANNELS: usize = 64;

/// The channel label of the events of channels beyond [`MAX_CHANNELS`].
const OTHER_CHANNELS: &str = "(other)";

/// Who receives events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberKind {
    /// A `/subscribe` subscription read with `/listen`, without `subscriber_id`.
    LongPoll,
    /// A WebSocket session of `/ws`.
    WebSocket,
    /// A `/subscribe` subscription with a `subscriber_id`, whose position is stored.
    Durable,
}

impl SubscriberKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::LongPoll, Self::WebSocket, Self::Durable];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::LongPoll => "long_poll",
            Self::WebSocket => "websocket",
            Self::Durable => "durable",
        }
    }
}

/// One handle per kind, resolved at start so that bumping one looks nothing up.
struct ByKind<M> {
    long_poll: M,
    websocket: M,
    durable: M,
}

impl<M> ByKind<M> {
    fn resolve(f: impl Fn(&str) -> M) -> Self {
        Self {
            long_poll: f(SubscriberKind::LongPoll.label()),
            websocket: f(SubscriberKind::WebSocket.label()),
            durable: f(SubscriberKind::Durable.label()),
        }
    }

    fn get(&self, kind: SubscriberKind) -> &M {
        match kind {
            SubscriberKind::LongPoll => &self.long_poll,
            SubscriberKind::WebSocket => &self.websocket,
            SubscriberKind::Durable => &self.durable,
        }
    }
}

pub(crate) struct EventMetrics {
    published: IntCounterVec,
    channels: RwLock<HashMap<String, IntCounter>>,
    other_channels: IntCounter,
    delivered: ByKind<IntCounter>,
    subscribers: ByKind<IntGauge>,
}

impl EventMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let published = register(
            registry,
            built(IntCounterVec::new(
                Opts::new(
                    "maestro_events_published_total",
                    "Events this server stored, by channel (node writes publish on `node`); \
                     channels past the first 64 count as \"(other)\".",
                ),
                &["channel"],
            )),
        );
        let delivered = register(
            registry,
            built(IntCounterVec::new(
                Opts::new(
                    "maestro_events_delivered_total",
                    "Events handed to subscribers (BEEP keep-alives not counted), by kind \
                     of subscriber.",
                ),
                &["subscriber"],
            )),
        );
        let subscribers = register(
            registry,
            built(IntGaugeVec::new(
                Opts::new(
                    "maestro_subscribers",
                    "Current subscribers by kind: subscriptions held in memory (long_poll, \
                     durable) and open WebSocket sessions.",
                ),
                &["subscriber"],
            )),
        );
        Self {
            other_channels: published.with_label_values(&[OTHER_CHANNELS]),
            published,
            channels: RwLock::default(),
            delivered: ByKind::resolve(|k| delivered.with_label_values(&[k])),
            subscribers: ByKind::resolve(|k| subscribers.with_label_values(&[k])),
        }
    }

    /// Counts an event stored on `channel`.
    pub(crate) fn published(&self, channel: &str) {
        if let Some(counter) = self
            .channels
            .read()
            .ok()
            .and_then(|c| c.get(channel).cloned())
        {
            counter.inc();
            return;
        }
        let Ok(mut channels) = self.channels.write() else {
            return;
        };
        if let Some(counter) = channels.get(channel) {
            counter.inc();
        } else if channels.len() < MAX_CHANNELS {
            let counter = self.published.with_label_values(&[channel]);
            counter.inc();
            channels.insert(channel.to_owned(), counter);
        } else {
            self.other_channels.inc();
        }
    }

    /// Counts an event handed to a subscriber of `kind`.
    pub(crate) fn delivered(&self, kind: SubscriberKind) {
        self.delivered.get(kind).inc();
    }

    /// Counts an open WebSocket session until the guard is dropped.
    pub(crate) fn websocket_session(&self) -> SessionGauge {
        let gauge = self.subscribers.websocket.clone();
        gauge.inc();
        SessionGauge(gauge)
    }

    /// Sets the subscriptions held in memory (read at each scrape).
    pub(super) fn set_subscriptions(&self, counts: SubscriptionCounts) {
        self.subscribers.long_poll.set(gauge_value(counts.plain));
        self.subscribers.durable.set(gauge_value(counts.durable));
    }
}

/// An open WebSocket session, counted while it lives.
pub(crate) struct SessionGauge(IntGauge);

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}
