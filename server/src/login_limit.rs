//! Failed-login limits: after too many failed logins for one username, or from one client
//! address, within a window, further attempts are answered 429 with `Retry-After` until the
//! window ends, without checking the password. Bounded memory: at most
//! [`MAX_TRACKED`] usernames and addresses each.
//!
//! The key is the username as sent, whether or not such a user exists, and unknown users
//! count exactly as wrong passwords do, so the limits tell nothing about which names exist.
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// The most usernames (and, separately, addresses) tracked at once. When full, expired
/// entries are dropped, then the oldest: a flood of fresh names cannot grow the map.
pub const MAX_TRACKED: usize = 65_536;

/// The limits of failed logins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimitConfig {
    /// Failed logins allowed per username per window (0: no limit).
    pub per_username: u32,
    /// Failed logins allowed per client address per window (0: no limit).
    pub per_address: u32,
    /// The window.
    pub window: Duration,
}

impl Default for LoginLimitConfig {
    /// 10 failures per username and 100 per address a minute: more than a person mistyping,
    /// far less than a password-guessing run. An address may be a proxy or NAT shared by many
    /// people, hence its larger budget.
    fn default() -> Self {
        Self {
            per_username: 10,
            per_address: 100,
            window: Duration::from_secs(60),
        }
    }
}

/// Failures of one key in the current window.
#[derive(Clone, Copy, Debug)]
struct Entry {
    started: Instant,
    failures: u32,
}

/// Failure counts per key, bounded in size.
#[derive(Debug)]
struct Counts<K> {
    map: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Counts<K> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
        }
    }

    /// Seconds until `key` may try again, when it has used up `max` failures this window.
    fn blocked_for(&self, key: &K, max: u32, window: Duration, now: Instant) -> Option<u64> {
        if max == 0 {
            return None;
        }
        let e = self.map.get(key)?;
        let elapsed = now.saturating_duration_since(e.started);
        (e.failures >= max && elapsed < window).then(|| {
            let left = window - elapsed;
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        })
    }

    fn record_failure(&mut self, key: &K, window: Duration, now: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= MAX_TRACKED {
            self.make_room(window, now);
        }
        let e = self.map.entry(key.clone()).or_insert(Entry {
            started: now,
            failures: 0,
        });
        if now.saturating_duration_since(e.started) >= window {
            *e = Entry {
                started: now,
                failures: 0,
            };
        }
        e.failures = e.failures.saturating_add(1);
    }

    fn forget(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Drops expired entries; if none were, the oldest one.
    fn make_room(&mut self, window: Duration, now: Instant) {
        self.map
            .retain(|_, e| now.saturating_duration_since(e.started) < window);
        if self.map.len() >= MAX_TRACKED
            && let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.started)
                .map(|(k, _)| k.clone())
        {
            self.map.remove(&oldest);
        }
    }
}

/// The failed-login counters of the server.
#[derive(Debug)]
pub struct LoginLimiter {
    config: LoginLimitConfig,
    usernames: Mutex<Counts<String>>,
    addresses: Mutex<Counts<IpAddr>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimitConfig::default())
    }
}

impl LoginLimiter {
    /// Counters with these limits.
    pub fn new(config: LoginLimitConfig) -> Self {
        Self {
            config,
            usernames: Mutex::new(Counts::new()),
            addresses: Mutex::new(Counts::new()),
        }
    }

    /// 429 when `username` or `address` has used up its failures; checked before the
    /// password is, so a blocked attempt costs no hashing.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        let (now, c) = (Instant::now(), self.config);
        let by_name = self
            .usernames
            .lock()
            .ok()
            .and_then(|m| m.blocked_for(&username.to_owned(), c.per_username, c.window, now));
        let by_address = address.and_then(|a| {
            self.addresses
                .lock()
                .ok()
                .and_then(|m| m.blocked_for(&a, c.per_address, c.window, now))
        });
        let wait = match (by_name, by_address) {
            (None, None) => return Ok(()),
            (a, b) => a.max(b).unwrap_or(1),
        };
        tracing::warn!(
            %username,
            address = ?address,
            retry_after = wait,
            "too many failed logins; answering 429"
        );
        Err(ApiError::TooManyRequests {
            detail: "Too many failed login attempts, retry later".into(),
            retry_after: wait,
        })
    }

    /// Counts a failed login (unknown user, wrong password, inactive account).
    pub fn failed(&self, username: &str, address: Option<IpAddr>) {
        let (now, window) = (Instant::now(), self.config.window);
        if let Ok(mut m) = self.usernames.lock() {
            m.record_failure(&username.to_owned(), window, now);
        }
        if let Some(a) = address
            && let Ok(mut m) = self.addresses.lock()
        {
            m.record_failure(&a, window, now);
        }
    }

    /// A successful login clears its username's failures (not its address's: one good
    /// password must not reset a guessing run from a shared address).
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut m) = self.usernames.lock() {
            m.forget(&username.to_owned());
        }
    }
}

/// The client a login comes from: the peer; behind a local proxy (a peer that is not a
/// global address, as for invite links) the first `X-Forwarded-For` hop, when it is an
/// address.
pub fn client_address(peer: Option<IpAddr>, headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    if crate::routes::invites::base_url::is_global(peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    Some(forwarded.unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_budget_until_the_window_ends() {
        let limiter = LoginLimiter::new(LoginLimitConfig {
            per_username: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check("bob", Some(ip)).is_ok());
            limiter.failed("bob", Some(ip));
        }
        match limiter.check("bob", Some(ip)) {
            Err(ApiError::TooManyRequests { retry_after, .. }) => {
                assert!((59..=60).contains(&retry_after), "{retry_after}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            limiter.check("alice", Some(ip)).is_ok(),
            "other names go on"
        );
        limiter.failed("alice", Some(ip));
        limiter.failed("carol", Some(ip));
        assert!(
            limiter.check("dave", Some(ip)).is_err(),
            "the address is spent"
        );
        assert!(limiter.check("dave", None).is_ok());
        limiter.succeeded("bob");
        assert!(limiter.check("bob", None).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let mut counts = Counts::new();
        let now = Instant::now();
        for i in 0..MAX_TRACKED + 10 {
            counts.record_failure(&format!("u{i}"), Duration::from_secs(60), now);
        }
        assert_eq!(counts.map.len(), MAX_TRACKED);
    }
}
