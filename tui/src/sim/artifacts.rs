//! The simulated storage server: the logs and files the simulated nodes link to, written to
//! a directory and served on a loopback port (with `Range`, as the monitor's log view
//! reads the end of a log first), so their URLs work.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tower_http::services::ServeDir;

/// Where artifacts are written and the URL they are served under.
#[derive(Clone, Debug)]
pub struct Storage {
    dir: PathBuf,
    base: url::Url,
}

impl Storage {
    /// Serves `dir` on `bind` (port 0: any free port) until `stop`.
    pub async fn serve(
        dir: &Path,
        bind: SocketAddr,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind} for the artifacts"))?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().fallback_service(ServeDir::new(dir));
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the artifact server stopped");
            }
        });
        let base = url::Url::parse(&format!("http://{addr}/"))?;
        Ok(Self {
            dir: dir.to_owned(),
            base,
        })
    }

    /// The URL files are served under.
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// Writes `content` at `rel` (a `/`-separated relative path) and answers its URL.
    pub async fn put(&self, rel: &str, content: &[u8]) -> anyhow::Result<String> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        tokio::fs::write(&path, content)
            .await
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(self.base.join(rel)?.to_string())
    }
}

/// A path segment safe for a file name and a URL: what is not `[A-Za-z0-9._-]` becomes `_`.
pub fn segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
