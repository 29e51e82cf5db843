//! What the subscription calls answer, and why they fail.
use maestro_common::Timestamp;
use serde::Serialize;

use crate::store::StoreError;

/// Why a subscription call failed.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    /// No subscription has this id.
    #[error("Subscription id not found: 'Subscription {0} not found'")]
    NotFound(u64),
    /// No subscription has this id on this server, one of several sharing the store: it may
    /// be held by another one.
    #[error(
        "Subscription id not found: 'Subscription {0} not found' on this server (a \
         subscription lives on the server that made it; subscribe again here, with the same \
         subscriber_id to resume a durable one where it was)"
    )]
    NotHere(u64),
    /// The subscription belongs to another user.
    #[error("Subscription {id} not owned by {user}")]
    NotOwner {
        /// The subscription.
        id: u64,
        /// The caller.
        user: String,
    },
    /// The durable `subscriber_id` belongs to another user.
    #[error("Subscriber id '{0}' is in use by another user")]
    SubscriberTaken(String),
    /// The user holds as many subscriptions as allowed.
    #[error(
        "User {user} holds {limit} subscriptions, the most allowed; unsubscribe from some first"
    )]
    TooMany {
        /// The caller.
        user: String,
        /// The bound.
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `POST /subscribe` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SubscriptionInfo {
    /// The subscription id.
    pub id: u64,
    /// Its channel.
    pub channel: String,
    /// The owner's username.
    pub user: String,
    /// Whether it receives every user's events.
    pub promiscuous: bool,
}

/// One line of `GET /stats/subscriptions`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SubscriptionStats {
    /// The subscription id.
    pub id: u64,
    /// Its channel.
    pub channel: String,
    /// The owner's username.
    pub user: String,
    /// Whether it receives every user's events (the Python server always said false).
    pub promiscuous: bool,
    /// When it was made.
    pub created: Timestamp,
    /// When it was last listened to.
    pub last_poll: Option<Timestamp>,
}
