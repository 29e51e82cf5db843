//! The WAL checkpointer: copies committed pages from the write-ahead log into the database
//! file on a thread and connection of its own, so that the single writer never stops to
//! do it (a profile of hierarchy writes had the writer spend 37% of its time in SQLite's
//! automatic checkpoint), and at most once per [`INTERVAL`], so that a page written by
//! many commits in between is copied once.
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Least time between two checkpoints. At 1,000 small writes per second the log grows by
/// about 9 MiB in this time; the writer's own checkpoint ([`WRITER_BACKSTOP_PAGES`]) is
/// only a bound should this thread fall behind.
pub(super) const INTERVAL: Duration = Duration::from_millis(250);

/// Log size (pages) at which the writer checkpoints by itself, as SQLite does by default
/// at 1,000: only reached if the checkpointer cannot keep up (80 MiB of 4 KiB pages).
pub(super) const WRITER_BACKSTOP_PAGES: i64 = 20_000;

/// What the checkpointer is told: commits are waiting to be copied, the store is closing.
#[derive(Default)]
struct State {
    pending: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two flags, valid whatever a panicking holder did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tells the checkpointer that a commit added pages to the log. Cheap while it waits out
/// its interval: only the first commit after a checkpoint wakes it.
#[derive(Clone)]
pub(super) struct Nudge(Arc<Shared>);

impl Nudge {
    pub(super) fn commit_done(&self) {
        let mut state = self.0.lock();
        if !state.pending {
            state.pending = true;
            self.0.wake.notify_one();
        }
    }
}

/// The running checkpointer; dropping it runs a last checkpoint and waits for the thread to
/// close its connection, so that a short-lived process (a CLI command) leaves its writes in
/// the database file, as SQLite's close of the last connection does.
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the checkpointer of the database at `path` with its own connection.
    pub(super) fn start(path: &Path) -> std::io::Result<Self> {
        let conn = super::schema::open_connection(path).map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared::default());
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &for_thread))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The handle the writer nudges after each commit.
    pub(super) fn nudge(&self) -> Nudge {
        Nudge(Arc::clone(&self.shared))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, shared: &Shared) {
    loop {
        let mut state = shared.lock();
        while !state.pending && !state.stop {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Let the commits of the interval gather before copying their pages.
        let deadline = Instant::now() + INTERVAL;
        while !state.stop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = shared
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.pending = false;
        let stop = state.stop;
        drop(state);
        checkpoint(conn);
        if stop {
            return;
        }
    }
}

/// A passive checkpoint: copies what no reader still needs from the log, waits for no lock,
/// and never holds up the writer, which appends to the log meanwhile.
fn checkpoint(conn: &Connection) {
    let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match outcome {
        Ok((log, copied)) => tracing::trace!(log, copied, "sqlite: checkpoint"),
        Err(e) => tracing::warn!(error = %e, "sqlite: checkpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in a fresh directory whose writer never checkpoints by itself, so that
    /// only the checkpointer puts its commits in the database file; and the checkpointer.
    fn writer_and_checkpointer() -> (
        tempfile::TempDir,
        std::path::PathBuf,
        Connection,
        Checkpointer,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = super::super::schema::open_connection(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (v TEXT)").unwrap();
        let checkpointer = Checkpointer::start(&path).unwrap();
        (dir, path, writer, checkpointer)
    }

    #[test]
    fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let (_dir, path, writer, checkpointer) = writer_and_checkpointer();
        let nudge = checkpointer.nudge();
        // 200 rows of 2,000 bytes: about 400 KB, which only a checkpoint puts in the
        // database file.
        for i in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (?1)", [format!("{i:0>2000}")])
                .unwrap();
            nudge.commit_done();
        }
        let deadline = Instant::now() + INTERVAL * 20;
        loop {
            std::thread::sleep(INTERVAL);
            let size = std::fs::metadata(&path).unwrap().len();
            if size > 400_000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the database file is still {size} bytes"
            );
        }
        drop(checkpointer);
    }

    #[test]
    fn closing_copies_the_last_commits_before_it_returns() {
        let (_dir, path, writer, checkpointer) = writer_and_checkpointer();
        writer
            .execute("INSERT INTO t VALUES (?1)", ["1".repeat(400_000)])
            .unwrap();
        checkpointer.nudge().commit_done();
        // Dropped within its interval: the copy is made before the drop returns.
        drop(checkpointer);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 400_000, "the database file is {size} bytes");
    }
}
