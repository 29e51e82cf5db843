//! The durable long-poll client (`POST /subscribe/{channel}?subscriber_id=...`, then
//! `GET /listen/{id}`), shared by the stalled durable subscriber of `slow` (W6) and the
//! restarted ones of `idle` (W5). The server stores how far a durable subscriber got (each
//! listen acknowledges what the previous one delivered), so a new subscribe with the same
//! `subscriber_id` resumes there.
use std::time::Duration;

use serde_json::Value;

use crate::fanout::{CHANNEL, CloudEvent, Envelope};

/// A durable subscriber of the benchmark channel, identified by `subscriber_id`.
pub(crate) struct Durable {
    http: reqwest::Client,
    url: String,
    token: String,
    /// Its `subscriber_id`.
    pub(crate) subscriber: String,
}

/// What one `/listen` answered.
pub(crate) enum Listened {
    /// An event (with a sequence).
    Event(CloudEvent),
    /// A keep-alive BEEP, or an answer without an event.
    Beep,
    /// 404: the subscription was reaped (a durable one resumes with a new subscribe).
    Gone,
    /// No answer in time, or an error.
    Failed,
}

impl Durable {
    pub(crate) fn new(
        http: reqwest::Client,
        url: String,
        token: String,
        subscriber: String,
    ) -> Self {
        Self {
            http,
            url,
            token,
            subscriber,
        }
    }

    /// Subscribes (promiscuous) as `subscriber`: a new subscription id, starting where this
    /// subscriber id was acknowledged last (at the head the first time); the status and body
    /// of a refusal.
    pub(crate) async fn try_subscribe(&self) -> Result<u64, String> {
        let r = self
            .http
            .post(format!(
                "{}/latest/subscribe/{CHANNEL}?promisc=true&subscriber_id={}",
                self.url, self.subscriber
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        let id = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_u64());
        match id {
            Some(id) if status.is_success() => Ok(id),
            _ => Err(format!("{status}: {body}")),
        }
    }

    /// [`Durable::try_subscribe`], `None` on a refusal.
    pub(crate) async fn subscribe(&self) -> Option<u64> {
        self.try_subscribe().await.ok()
    }

    /// One `/listen` on subscription `id`, given up after `timeout` (cancel-safe on the
    /// server: a listen dropped half-way loses nothing, and has acknowledged the previous
    /// answer).
    pub(crate) async fn listen(&self, id: u64, timeout: Duration) -> Listened {
        let r = self
            .http
            .get(format!("{}/latest/listen/{id}", self.url))
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .await;
        let envelope = match r {
            Ok(r) if r.status().is_success() => r.json::<Envelope>().await.ok(),
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Listened::Gone,
            _ => return Listened::Failed,
        };
        let event = envelope
            .and_then(|e| e.data)
            .and_then(|s| serde_json::from_str::<CloudEvent>(&s).ok());
        // BEEPs have no sequence.
        match event.filter(|e| e.sequence_id > 0) {
            Some(e) => Listened::Event(e),
            None => Listened::Beep,
        }
    }

    /// Drops subscription `id` (the stored position stays, for a later subscribe).
    pub(crate) async fn unsubscribe(&self, id: u64) {
        let _ = self
            .http
            .post(format!("{}/latest/unsubscribe/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await;
    }
}
