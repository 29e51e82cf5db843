//! What the metrics read of the registry: the subscriptions held, by kind, and whether a
//! `/listen` answer delivered an event.
use super::{Message, PubSub};

/// Subscriptions held in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionCounts {
    /// Without a `subscriber_id`.
    pub plain: usize,
    /// With a `subscriber_id` (dormant ones, dropped from memory, not counted).
    pub durable: usize,
}

impl PubSub {
    /// The subscriptions held in memory, by kind.
    pub fn subscription_counts(&self) -> SubscriptionCounts {
        let Ok(subs) = self.subs.read() else {
            return SubscriptionCounts::default();
        };
        let durable = subs.values().filter(|s| s.subscriber_id.is_some()).count();
        SubscriptionCounts {
            plain: subs.len() - durable,
            durable,
        }
    }

    /// Whether subscription `id` is held and durable.
    pub fn is_durable(&self, id: u64) -> bool {
        self.get(id).is_some_and(|s| s.subscriber_id.is_some())
    }
}

impl Message {
    /// Whether this is an event rather than a BEEP keep-alive: the CloudEvent of every
    /// stored event has a `_sequence_id`, a BEEP's never (and holds nothing a client sent).
    pub fn is_event(&self) -> bool {
        self.data.contains("\"_sequence_id\"")
    }
}
