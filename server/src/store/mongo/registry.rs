//! The servers on one database and the sessions their write transactions run in (collection
//! `servers`, ours), so that a server can abort what a dead one left open.
//!
//! A server killed between claiming an event number and committing leaves its transaction
//! open; MongoDB aborts it only after `transactionLifetimeLimitSeconds` (60 s by default, and
//! the MongoDB-wire test server may take longer), and until then every reader waits for that
//! number. So each server records the session of every write transaction before starting it,
//! and beats every second; a reader whose fence has waited [`REAP_AFTER`] looks for servers
//! silent for [`DEAD_AFTER`] and kills their sessions (`killSessions`: allowed on the
//! sessions of one's own user, which all the servers share), which aborts their
//! transactions at once. A server only slow, not dead, sees its transactions fail with
//! transient errors and retries them; its next beat registers it again.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use mongodb::{Client, ClientSession, Collection, Database};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::backend;
use crate::store::StoreResult;

/// The collection of servers.
const SERVERS: &str = "servers";
/// How often a server beats.
const BEAT: Duration = Duration::from_secs(1);
/// A server silent this long is taken for dead.
pub(super) const DEAD_AFTER: Duration = Duration::from_secs(5);
/// How long a fence waits before the dead servers' sessions are killed.
pub(super) const REAP_AFTER: Duration = Duration::from_secs(2);
/// Sessions remembered per server (the driver's pool holds about as many as writes run at
/// once; older ones have left it).
const MAX_SESSIONS: usize = 256;

/// This server's entry and the sessions it recorded.
pub(super) struct Registry {
    id: String,
    servers: Collection<Document>,
    admin: Database,
    sessions: Mutex<VecDeque<Document>>,
    /// Whether other servers beat on this database (as of the last beat).
    company: AtomicBool,
    stop: CancellationToken,
    _guard: DropGuard,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("id", &self.id).finish()
    }
}

fn now() -> bson::DateTime {
    bson::DateTime::now()
}

impl Registry {
    /// Registers this server in `db` and starts its beat.
    pub(super) async fn start(client: &Client, db: &Database) -> StoreResult<Arc<Self>> {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let id = format!(
            "{host}:{}:{}",
            std::process::id(),
            bson::oid::ObjectId::new().to_hex()
        );
        let servers = db.collection::<Document>(SERVERS);
        // Entries of servers that stopped long ago (killed, so never removed): their
        // transactions are long aborted.
        let long_ago = bson::DateTime::from_millis(now().timestamp_millis() - 3_600_000);
        servers
            .delete_many(doc! {"heartbeat": {"$lt": long_ago}})
            .await
            .map_err(backend)?;
        servers
            .insert_one(doc! {"_id": &id, "started": now(), "heartbeat": now(), "sessions": []})
            .await
            .map_err(backend)?;
        let stop = CancellationToken::new();
        let registry = Arc::new(Self {
            id,
            servers,
            admin: client.database("admin"),
            sessions: Mutex::new(VecDeque::new()),
            company: AtomicBool::new(false),
            _guard: stop.clone().drop_guard(),
            stop,
        });
        // Before the feed starts: a server joining others streams their events at once.
        registry.look_around().await.map_err(backend)?;
        let weak = Arc::downgrade(&registry);
        let stop = registry.stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BEAT);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = registry.beat().await {
                    tracing::debug!(error = %e, "server heartbeat");
                }
                if let Err(e) = registry.look_around().await {
                    tracing::debug!(error = %e, "looking for other servers");
                }
            }
        });
        Ok(registry)
    }

    /// Whether other servers used this database lately: then this one must hear of their
    /// events as they commit (`feed.rs`).
    pub(super) fn has_company(&self) -> bool {
        self.company.load(Ordering::Relaxed)
    }

    /// Counts the other servers beating.
    async fn look_around(&self) -> mongodb::error::Result<()> {
        let cutoff =
            bson::DateTime::from_millis(now().timestamp_millis() - DEAD_AFTER.as_millis() as i64);
        let others = self
            .servers
            .count_documents(doc! {"heartbeat": {"$gte": cutoff}, "_id": {"$ne": &self.id}})
            .limit(1)
            .await?;
        self.company.store(others > 0, Ordering::Relaxed);
        Ok(())
    }

    /// Stops the beat and removes this server's entry (a clean shutdown).
    pub(super) async fn stop(&self) {
        self.stop.cancel();
        let _ = self.servers.delete_one(doc! {"_id": &self.id}).await;
    }

    fn known(&self) -> Vec<Document> {
        self.sessions
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    async fn beat(&self) -> mongodb::error::Result<()> {
        self.servers
            .update_one(
                doc! {"_id": &self.id},
                doc! {"$set": {"heartbeat": now(), "sessions": self.known()}},
            )
            .upsert(true)
            .await
            .map(drop)
    }

    /// Records `session` before a write transaction runs in it (once per session).
    pub(super) async fn track(&self, session: &ClientSession) {
        let lsid = session.id().clone();
        let new = self.sessions.lock().is_ok_and(|mut s| {
            if s.contains(&lsid) {
                return false;
            }
            if s.len() >= MAX_SESSIONS {
                s.pop_front();
            }
            s.push_back(lsid.clone());
            true
        });
        if !new {
            return;
        }
        let recorded = self
            .servers
            .update_one(
                doc! {"_id": &self.id},
                doc! {"$addToSet": {"sessions": &lsid}, "$set": {"heartbeat": now()}},
            )
            .upsert(true)
            .await;
        if let Err(e) = recorded {
            // Unrecorded, a transaction of this session left open by a crash would hold
            // readers until MongoDB aborts it: try again with the next write.
            tracing::warn!(error = %e, "recording a write session");
            if let Ok(mut s) = self.sessions.lock() {
                s.retain(|d| *d != lsid);
            }
        }
    }

    /// A guard for a write transaction about to run in `session`: dropped armed (the
    /// request was given up, by the store's time bound, mid-transaction), it kills the
    /// session, so that the transaction's claim on its event number is released at once.
    /// Otherwise readers would wait for it until MongoDB's transaction lifetime (60 s), and
    /// every event numbered above it with them; the driver's own abort of a dropped session
    /// is not something to count on while an operation of it is still in flight.
    pub(super) fn abandon_guard(&self, session: &ClientSession) -> AbandonGuard {
        AbandonGuard {
            admin: self.admin.clone(),
            lsid: Some(session.id().clone()),
        }
    }

    /// Kills the sessions of the servers silent for [`DEAD_AFTER`], aborting their open
    /// transactions, and forgets those servers; how many there were.
    pub(super) async fn reap(&self) -> mongodb::error::Result<usize> {
        let cutoff =
            bson::DateTime::from_millis(now().timestamp_millis() - DEAD_AFTER.as_millis() as i64);
        let dead: Vec<Document> = self
            .servers
            .find(doc! {"heartbeat": {"$lt": cutoff}, "_id": {"$ne": &self.id}})
            .await?
            .try_collect()
            .await?;
        for server in &dead {
            let id = server.get("_id").cloned().unwrap_or(Bson::Null);
            let sessions = server.get_array("sessions").cloned().unwrap_or_default();
            if !sessions.is_empty() {
                self.admin
                    .run_command(doc! {"killSessions": sessions.clone()})
                    .await?;
            }
            tracing::info!(server = %id, sessions = sessions.len(),
                "aborted the open transactions of a server that stopped beating");
            // Unless it came back meanwhile.
            self.servers
                .delete_one(doc! {"_id": id, "heartbeat": {"$lt": cutoff}})
                .await?;
        }
        Ok(dead.len())
    }
}

#[cfg(test)]
impl Registry {
    /// Stops the beat without leaving: the server looks dead to the others.
    pub(super) fn fall_silent(&self) {
        self.stop.cancel();
    }
}

/// See [`Registry::abandon_guard`].
pub(super) struct AbandonGuard {
    admin: Database,
    lsid: Option<Document>,
}

impl AbandonGuard {
    /// The transaction ended (committed, or aborted and answered): nothing to kill.
    pub(super) fn disarm(mut self) {
        self.lsid = None;
    }
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        let Some(lsid) = self.lsid.take() else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let admin = self.admin.clone();
            rt.spawn(async move {
                if let Err(e) = admin.run_command(doc! {"killSessions": [lsid]}).await {
                    tracing::warn!(error = %e, "killing the session of an abandoned write");
                }
            });
        }
    }
}
