//! `UserCache`: the user records that authenticated requests resolve their token to, kept
//! in memory so that a request does not read its user from the database every time.
//!
//! Correctness rests on two rules: every user write of the store that owns the cache
//! clears it once the write is done (so a change made on this server takes effect at once),
//! and an entry expires after a short time (so a change made by another server on the same
//! database takes effect within [`USER_CACHE_TTL`]). A generation number, raised by every
//! clear, keeps a read that started before a write from filling the cache with the record
//! it replaced.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use maestro_common::node::ObjectIdHex;

use super::StoredUser;

/// How long a cached user is trusted without reading it again: the bound on how late this
/// server sees a user change made by another server on the same database.
pub const USER_CACHE_TTL: Duration = Duration::from_secs(2);

/// Entries kept at most; past it the cache starts again empty (a flood of distinct valid
/// tokens costs reads, not memory).
const MAX_ENTRIES: usize = 4_096;

/// Users by id, each with the time it was read.
pub struct UserCache {
    inner: Mutex<Entries>,
    ttl: Duration,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    users: HashMap<ObjectIdHex, (StoredUser, Instant)>,
}

impl Default for UserCache {
    fn default() -> Self {
        Self::with_ttl(USER_CACHE_TTL)
    }
}

impl UserCache {
    /// An empty cache whose entries expire after `ttl`.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            inner: Mutex::new(Entries::default()),
            ttl,
        }
    }

    /// The cached record of `id` if it is fresh; else `None` and the generation to pass to
    /// [`UserCache::insert`] with the record read from the store.
    pub fn get(&self, id: &ObjectIdHex) -> Result<StoredUser, u64> {
        // A poisoned lock only means a panic elsewhere; the map itself is always whole.
        let entries = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match entries.users.get(id) {
            Some((user, at)) if at.elapsed() < self.ttl => Ok(user.clone()),
            _ => Err(entries.generation),
        }
    }

    /// Caches `user`, read from the store after [`UserCache::get`] returned `generation`,
    /// unless a user write cleared the cache since (the record may predate that write).
    pub fn insert(&self, generation: u64, user: &StoredUser) {
        let mut entries = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.generation != generation {
            return;
        }
        if entries.users.len() >= MAX_ENTRIES {
            entries.users.clear();
        }
        entries
            .users
            .insert(user.id.clone(), (user.clone(), Instant::now()));
    }

    /// Forgets every cached user: called after each user write (insert, update, delete).
    pub fn clear(&self) {
        let mut entries = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.generation += 1;
        entries.users.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> StoredUser {
        StoredUser {
            id: ObjectIdHex::parse("6526448e7d140ee220971a0e").unwrap(),
            email: format!("{name}@example.org"),
            hashed_password: String::new(),
            is_active: true,
            is_superuser: false,
            is_verified: true,
            username: name.to_owned(),
            groups: Vec::new(),
        }
    }

    #[test]
    fn a_clear_keeps_a_read_from_before_it_out() {
        let cache = UserCache::default();
        let u = user("a");
        let generation = cache.get(&u.id).unwrap_err();
        // A write lands between the read and the insert: the record read may be old.
        cache.clear();
        cache.insert(generation, &u);
        assert!(cache.get(&u.id).is_err());
        let generation = cache.get(&u.id).unwrap_err();
        cache.insert(generation, &u);
        assert_eq!(cache.get(&u.id).unwrap(), u);
        cache.clear();
        assert!(cache.get(&u.id).is_err());
    }

    #[test]
    fn entries_expire() {
        let cache = UserCache::with_ttl(Duration::ZERO);
        let u = user("a");
        let generation = cache.get(&u.id).unwrap_err();
        cache.insert(generation, &u);
        assert!(cache.get(&u.id).is_err());
    }
}
