//! `maestro-server check`: the full integrity check of the embedded SQLite database.
use anyhow::{Context, bail};

use crate::config::Config;

/// `maestro-server check`: the full integrity check of the SQLite database.
pub(super) fn check(cfg: &Config) -> anyhow::Result<()> {
    if cfg.mongodb_uri.is_some() {
        bail!(
            "`check` examines the embedded SQLite database; for MongoDB use its own `validate` \
             command on each collection"
        );
    }
    let db = cfg.data_dir.join(crate::store::sqlite::DB_FILE);
    if !db.exists() {
        bail!("there is no Maestro database in {}", cfg.data_dir.display());
    }
    let problems = crate::store::sqlite::SqliteStore::integrity_check(&cfg.data_dir)
        .context("checking the database")?;
    if problems.is_empty() {
        println!("{}: ok", db.display());
        return Ok(());
    }
    for p in &problems {
        println!("{p}");
    }
    bail!(
        "{} is damaged: {} problem(s) listed above; restore it from a backup",
        db.display(),
        problems.len()
    )
}
