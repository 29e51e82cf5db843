//! The permits of password hashing: at most one argon2 (64 MiB, three passes) or bcrypt run
//! per core at a time, and a bounded queue for the rest, so that a login flood costs a
//! bounded amount of memory and leaves the other requests their CPU.
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{ApiError, ApiResult};

/// Requests allowed to wait for a permit, per permit. Beyond that a request is answered 503
/// at once: queueing it would only make every login slower.
const WAITING_PER_PERMIT: usize = 32;

/// The process-wide pool. Hashing happens in free functions called from many places (login,
/// password updates, invites, the first admin), so the pool is global rather than in
/// `AppState`.
static POOL: LazyLock<HashPool> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    HashPool::new(cores)
});

/// Permits for hashing, and how many requests are waiting for one.
#[derive(Debug)]
pub struct HashPool {
    permits: Semaphore,
    size: usize,
    waiting: AtomicUsize,
}

impl HashPool {
    fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            permits: Semaphore::new(size),
            size,
            waiting: AtomicUsize::new(0),
        }
    }

    /// How many hashes may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A permit to hash; 503 when too many requests already wait for one.
    pub async fn acquire(&self) -> ApiResult<SemaphorePermit<'_>> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if waiting >= self.size * WAITING_PER_PERMIT {
            tracing::warn!(
                waiting,
                "password hashing queue full; answering 503 to a login or password change"
            );
            return Err(ApiError::Unavailable {
                detail: "Too many password checks in progress, retry shortly".into(),
                retry_after: 1,
            });
        }
        self.permits
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(format!("hashing permits closed: {e}")))
    }
}

/// Takes a request off the waiting count however its wait ends (permit, error, or the
/// request being dropped).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The process's hashing pool (one permit per core).
pub fn pool() -> &'static HashPool {
    &POOL
}

/// Runs the CPU- and memory-heavy `f` on a blocking thread once a permit is held.
pub async fn run<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let _permit = pool().acquire().await?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("{what} task: {e}")))
}
