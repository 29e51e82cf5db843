//! Start-up chores: the token-signing secret and the first admin user.
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use maestro_common::UserGroupRef;

use crate::auth::hash_password;
use crate::config::Config;
use crate::nodes::authz::EDIT_ANY_GROUP;
use crate::nodes::ops::new_id;
use crate::state::AppState;
use crate::store::{StoreError, StoredUser, UserGroup};

/// File in the data directory holding the generated secret key.
const SECRET_FILE: &str = "secret_key";

/// Reads the secret kept in `data_dir`, or generates and keeps one (mode 0600).
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            // Never replaced silently: a new key would invalidate every token issued.
            let text = String::from_utf8(bytes).ok();
            return match text.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(s) => Ok(s.to_owned()),
                None => Err(anyhow::anyhow!(
                    "the secret key file {} is empty or not text; restore it, or delete it to \
                     generate a new key (which invalidates every issued token)",
                    path.display()
                )),
            };
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    Ok(secret)
}

/// Creates the `node:edit:any` group, and the first admin when a password is configured
/// and no user of that name exists.
pub async fn ensure_admin(state: &AppState, cfg: &Config) -> anyhow::Result<()> {
    let group = UserGroup {
        id: new_id(),
        name: EDIT_ANY_GROUP.to_owned(),
    };
    match state.store.insert_group(&group).await {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e).context("creating the node:edit:any group"),
    }
    let Some(password) = cfg.admin_password.as_ref().filter(|p| !p.0.is_empty()) else {
        return Ok(());
    };
    if state
        .store
        .find_user_by_username(&cfg.admin_username)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let password = password.0.clone();
    let hashed_password = tokio::task::spawn_blocking(move || hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = StoredUser {
        id: new_id(),
        email: cfg.admin_email.clone(),
        hashed_password,
        is_active: true,
        is_superuser: true,
        is_verified: true,
        username: cfg.admin_username.clone(),
        groups: Vec::<UserGroupRef>::new(),
    };
    match state.store.insert_user(&admin).await {
        // Another instance created it at the same time: fine.
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e).context("creating the first admin"),
    }
    tracing::info!(username = %admin.username, "created the first admin user");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_secret_file_is_refused_not_replaced() {
        let dir = tempfile::TempDir::new().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(load_or_create_secret(dir.path()).unwrap(), first);
        let path = dir.path().join(SECRET_FILE);
        for corrupt in [&b""[..], b"  \n", b"\xff\xfe\x00garbage"] {
            std::fs::write(&path, corrupt).unwrap();
            let err = load_or_create_secret(dir.path()).unwrap_err();
            assert!(err.to_string().contains("secret key file"), "{err}");
            assert_eq!(std::fs::read(&path).unwrap(), corrupt, "left as it was");
        }
    }
}
