//! The lock a serving process holds on its SQLite data directory: a second server on the
//! same directory is refused at start. It would corrupt nothing (SQLite locks its file), but
//! each server's subscribers would only see that server's writes, since the SQLite store
//! feeds its event log from its own commits. Admin commands (`user ...`) take no lock: they
//! are meant to run next to the server.
//!
//! An exclusive `flock` of `<data-dir>/maestro.lock`, held for the life of the process, so
//! the kernel releases it however the process ends (SIGKILL included); the file keeps the
//! holder's process id for the message.
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "maestro.lock";

/// The lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock of `data_dir` (created if missing), or explains who holds it.
pub fn acquire(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            bail!(
                "another maestro-server{holder} is already serving the data directory {}: \
                 two servers on one SQLite database would not see each other's events. Stop \
                 it, give this one another --data-dir, or run several servers on one MongoDB \
                 (--mongodb-uri) instead",
                data_dir.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    // Ours now: record who holds it.
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(DataDirLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_until_the_first_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        let pid = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        let err = acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already serving the data directory"), "{err}");
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(acquire(dir.path()).is_ok(), "released with the first");
        let other = tempfile::tempdir().unwrap();
        let _a = acquire(dir.path()).unwrap();
        assert!(
            acquire(other.path()).is_ok(),
            "another directory is another lock"
        );
    }
}
