//! The WAL checkpointer: copies committed pages from the write-ahead log into the database
//! file on a thread and connection of its own, so that the single writer never stops to
//! do it (a profile of hierarchy writes had the writer spend 37% of its time in SQLite's
//! automatic checkpoint), and at most once per [`INTERVAL`], so that a page written by
//! many commits in between is copied once.
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

/// Least time between two checkpoints. At 1,000 small writes per second the log grows by
/// about 9 MiB in this time; the writer's own checkpoint ([`WRITER_BACKSTOP_PAGES`]) is
/// only a bound should this thread fall behind.
pub(super) const INTERVAL: Duration = Duration::from_millis(250);

/// Log size (pages) at which the writer checkpoints by itself, as SQLite does by default
/// at 1,000: only reached if the checkpointer cannot keep up (80 MiB of 4 KiB pages).
pub(super) const WRITER_BACKSTOP_PAGES: i64 = 20_000;

/// Tells the checkpointer that a commit added pages to the log. Cheap while it waits out
/// its interval: the one-slot channel is then full and a nudge returns at once.
#[derive(Clone)]
pub(super) struct Nudge(SyncSender<()>);

impl Nudge {
    pub(super) fn commit_done(&self) {
        match self.0.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

/// Starts the checkpointer of the database at `path` with its own connection; it stops
/// when every [`Nudge`] is dropped (the writer thread's, when the store closes).
pub(super) fn start(path: &Path) -> std::io::Result<Nudge> {
    let conn = super::schema::open_connection(path).map_err(std::io::Error::other)?;
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&conn, &rx))?;
    Ok(Nudge(tx))
}

fn run(conn: &Connection, nudges: &Receiver<()>) {
    while nudges.recv().is_ok() {
        // Let the commits of the interval gather before copying their pages.
        std::thread::sleep(INTERVAL);
        let _ = nudges.try_recv();
        checkpoint(conn);
    }
    // The last commits before the store closed.
    checkpoint(conn);
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

    #[test]
    fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = super::super::schema::open_connection(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (v TEXT)").unwrap();
        let nudge = start(&path).unwrap();
        // 200 rows of 2,000 bytes: about 400 KB, which only a checkpoint puts in the
        // database file (the writer's own checkpoint is off).
        for i in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (?1)", [format!("{i:0>2000}")])
                .unwrap();
            nudge.commit_done();
        }
        let deadline = std::time::Instant::now() + INTERVAL * 20;
        loop {
            std::thread::sleep(INTERVAL);
            let size = std::fs::metadata(&path).unwrap().len();
            if size > 400_000 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the database file is still {size} bytes"
            );
        }
        drop(nudge);
    }
}
