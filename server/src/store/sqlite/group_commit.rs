//! The single writer of the SQLite store, with group commit: writes queued while a commit
//! is in progress go into the next transaction together, each in its own savepoint, so
//! concurrent clients share one fsync instead of waiting for one each.
use std::sync::mpsc;

use rusqlite::Connection;

use super::checkpoint::Nudge;
use crate::store::{StoreError, StoreResult};

/// Most writes committed by one transaction.
const MAX_GROUP: usize = 256;

/// Delivers a write's result once its transaction's commit is known.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One write: runs on the writer connection, says whether it succeeded, and how to answer.
type Run = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// A write and whether its answer must wait for the fsync.
struct Job {
    run: Run,
    durable: bool,
}

/// Handle to the writer thread; dropping it stops the thread after the queued writes and
/// waits for it (the store's last commits are then in before its checkpointer's last copy).
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // The thread stops once its queue's last sender is gone: swap ours for one of a
        // queue nobody reads.
        drop(std::mem::replace(&mut self.jobs, mpsc::channel().0));
        if let Some(thread) = self.thread.take() {
            // A write's closure may hold the last reference to the store, which then drops
            // on the writer thread itself: it cannot wait for itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Writer {
    /// Starts the writer thread that owns `conn`; after each commit it nudges
    /// `checkpointer`, when given, which then copies the log into the database file
    /// (without one, SQLite's automatic checkpoint on the writer does it).
    pub(super) fn start(conn: Connection, checkpointer: Option<Nudge>) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&conn, &rx, checkpointer.as_ref()))?;
        Ok(Self {
            jobs,
            thread: Some(thread),
        })
    }

    /// Runs `f` in the next transaction; its changes are kept only if it returns `Ok`, and
    /// the answer comes after the commit (so an `Ok` is durable).
    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.write_then(f, |_| ()).await
    }

    /// As [`Writer::write`], but the commit is not synced to disk before the answer (when no
    /// durable write shares its transaction): it survives a crash of the process, and
    /// becomes durable with the next synced commit or checkpoint, but a crash of the machine
    /// may lose it. Only for writes whose loss costs a repeat, never data: acknowledgements
    /// of delivered events (lost, the events are delivered again, as the Python server
    /// does after a crash).
    pub(super) async fn write_relaxed<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.submit(f, |_| (), false).await
    }

    /// As [`Writer::write`], and runs `after_commit` on the writer thread once the write is
    /// committed, before answering: hooks run in commit order.
    pub(super) async fn write_then<T, F, A>(&self, f: F, after_commit: A) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        self.submit(f, after_commit, true).await
    }

    async fn submit<T, F, A>(&self, f: F, after_commit: A, durable: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let run: Run = Box::new(move |conn| {
            let out = f(conn);
            let ok = out.is_ok();
            let completion: Completion = Box::new(move |commit| {
                let result = match (out, commit) {
                    (Ok(v), Ok(())) => {
                        after_commit(&v);
                        Ok(v)
                    }
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(msg)) => Err(StoreError::Backend(msg.into())),
                };
                let _ = tx.send(result);
            });
            (ok, completion)
        });
        self.jobs
            .send(Job { run, durable })
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        rx.await.map_err(|_| {
            StoreError::Backend("the SQLite writer failed; see the server log".into())
        })?
    }
}

fn run(conn: &Connection, rx: &mpsc::Receiver<Job>, checkpointer: Option<&Nudge>) {
    // The connection opens with `synchronous=FULL` (schema.rs).
    let mut synced = true;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // In WAL mode, `NORMAL` skips the commit's fsync; the next `FULL` commit syncs the
        // log up to its own end, so a relaxed commit before it is made durable by it.
        let durable = group.iter().any(|j| j.durable);
        if durable != synced {
            let mode = if durable { "FULL" } else { "NORMAL" };
            match conn.pragma_update(None, "synchronous", mode) {
                Ok(()) => synced = durable,
                Err(e) => tracing::warn!(error = %e, "sqlite: setting synchronous={mode}"),
            }
        }
        // Never a durable write under a failed switch back (`synced` is only set on
        // success): dropping the jobs unrun closes their reply channels, an error for each.
        if durable && !synced {
            drop(group);
            continue;
        }
        commit_group(conn, group.into_iter().map(|j| j.run).collect());
        if let Some(nudge) = checkpointer {
            nudge.commit_done();
        }
    }
}

/// Runs one statement without parameters, prepared once per connection: the transaction
/// statements run once or twice per write, and preparing them each time showed in profiles.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn commit_group(conn: &Connection, mut group: Vec<Run>) {
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        // Dropping the jobs closes their reply channels: each caller gets a backend error.
        tracing::error!(error = %e, "sqlite: starting a transaction failed");
        return;
    }
    if group.len() == 1 {
        // Alone in its transaction, a write needs no savepoint (they cost a sub-journal).
        let Some(job) = group.pop() else { return };
        let (ok, done) = job(conn);
        let commit = if ok {
            finish(conn, None)
        } else {
            finish(conn, Some(String::new())).or(Ok(()))
        };
        done(commit);
        return;
    }
    let mut completions = Vec::with_capacity(group.len());
    let mut broken = None;
    for job in group {
        if broken.is_some() {
            continue;
        }
        // Each write in its own savepoint, so a failed one leaves the others in place.
        if let Err(e) = run_cached(conn, "SAVEPOINT w") {
            broken = Some(format!("savepoint: {e}"));
            continue;
        }
        let (ok, done) = job(conn);
        completions.push(done);
        let end = if ok {
            run_cached(conn, "RELEASE w")
        } else {
            conn.execute_batch("ROLLBACK TO w; RELEASE w")
        };
        if let Err(e) = end {
            broken = Some(format!("ending a savepoint: {e}"));
        }
    }
    let commit = finish(conn, broken);
    for done in completions {
        done(commit.clone());
    }
}

/// Commits, or rolls back when `broken` says why; `Err` when the transaction did not commit.
fn finish(conn: &Connection, broken: Option<String>) -> Result<(), String> {
    let result = match broken {
        Some(msg) => Err(msg),
        None => run_cached(conn, "COMMIT").map_err(|e| format!("commit: {e}")),
    };
    if let Err(msg) = &result {
        if !msg.is_empty() {
            tracing::error!(error = %msg, "sqlite: a write group failed and was rolled back");
        }
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `synchronous` level a write of the writer runs under.
    fn level(conn: &Connection) -> StoreResult<i64> {
        conn.pragma_query_value(None, "synchronous", |r| r.get(0))
            .map_err(|e| StoreError::Backend(e.to_string().into()))
    }

    #[tokio::test]
    async fn relaxed_writes_skip_the_fsync_and_durable_ones_never_do() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let writer = Writer::start(conn, None).unwrap();
        // 2 is FULL, 1 is NORMAL.
        assert_eq!(writer.write(level).await.unwrap(), 2);
        assert_eq!(writer.write_relaxed(level).await.unwrap(), 1);
        assert_eq!(writer.write(level).await.unwrap(), 2, "back to FULL");
        // Queued together, a relaxed write shares the durable one's synced commit.
        let relaxed = writer.write_relaxed(|c| {
            c.execute("INSERT INTO t VALUES (1)", [])
                .map_err(|e| StoreError::Backend(e.to_string().into()))?;
            level(c)
        });
        let durable = writer.write(|c| {
            c.execute("INSERT INTO t VALUES (2)", [])
                .map_err(|e| StoreError::Backend(e.to_string().into()))?;
            level(c)
        });
        let (r, d) = tokio::join!(relaxed, durable);
        assert_eq!(d.unwrap(), 2);
        assert!(r.unwrap() >= 1);
        let rows: i64 = writer
            .write(|c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .map_err(|e| StoreError::Backend(e.to_string().into()))
            })
            .await
            .unwrap();
        assert_eq!(rows, 2, "both committed");
    }
}
