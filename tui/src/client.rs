//! REST calls to the API (reqwest): the snapshot loads, edits, retries and artifact reads.
//! Every call answers `Result<_, ClientError>`; the app turns errors into status-bar text.
use std::time::Duration;

use maestro_common::Node;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, RANGE};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Secret;
use crate::effect::RevisionFilter;
use crate::model::{Counts, NodeSummary, Revision, RevisionKey};
use crate::state::Whoami;

/// Nodes per `/nodes/fast` page when loading a tree.
pub const TREE_PAGE: u64 = 1_000;
/// Bytes of a log read at a time.
pub const LOG_CHUNK: u64 = 256 * 1024;

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status and (usually) a `detail`.
    #[error("{status}: {detail}")]
    Status {
        /// The status.
        status: StatusCode,
        /// Its `detail`, or the body.
        detail: String,
    },
    /// It could not be reached, or the connection broke.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The answer was not what the API answers.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// Whether the server refused the token (401/403).
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Status { status, .. }
            if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN)
    }
}

/// A client of one server.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<Secret>,
}

fn detail_of(status: StatusCode, body: &str) -> ClientError {
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("detail").cloned())
        .map(|d| match d {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    ClientError::Status { status, detail }
}

impl Client {
    /// A client of the API at `base` (`http://host:port/`).
    pub fn new(base: url::Url, token: Option<Secret>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(70))
            .build()
            .unwrap_or_default();
        Self { http, base, token }
    }

    /// The base URL.
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// The HTTP client (one connection pool for every call).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The token, if any.
    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    /// `base/latest/<path>`.
    pub fn url(&self, path: &str) -> url::Url {
        let mut u = self.base.clone();
        let joined = format!("{}latest/{path}", u.path());
        u.set_path(&joined);
        u
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => rb.header(AUTHORIZATION, format!("Bearer {}", t.expose())),
            None => rb,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<(T, Option<u64>), ClientError> {
        let resp = rb
            .send()
            .await
            .map_err(|e| ClientError::Network(e.to_string()))?;
        let status = resp.status();
        let sequence = resp
            .headers()
            .get("x-maestro-sequence")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = resp
            .text()
            .await
            .map_err(|e| ClientError::Network(e.to_string()))?;
        if !status.is_success() {
            return Err(detail_of(status, &text));
        }
        let value = serde_json::from_str(&text).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((value, sequence))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<(T, Option<u64>), ClientError> {
        self.send(self.request(reqwest::Method::GET, path).query(query))
            .await
    }

    /// `GET /whoami`.
    pub async fn whoami(&self) -> Result<Whoami, ClientError> {
        let (v, _): (Value, _) = self.get("whoami", &[]).await?;
        let username = v["username"]
            .as_str()
            .ok_or_else(|| ClientError::Decode("whoami without a username".into()))?
            .to_owned();
        let groups = v["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str().map(str::to_owned))
            .collect();
        Ok(Whoami {
            username,
            is_superuser: v["is_superuser"].as_bool().unwrap_or(false),
            groups,
        })
    }

    /// `GET /count` with these filters.
    pub async fn count(&self, filters: &[(String, String)]) -> Result<u64, ClientError> {
        let (n, _): (Value, _) = self.get("count", filters).await?;
        n.as_u64()
            .ok_or_else(|| ClientError::Decode(format!("count is not a number: {n}")))
    }

    /// `GET /nodes/fast` with filters and paging; the nodes and the sequence header.
    pub async fn nodes(
        &self,
        filters: &[(String, String)],
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Node>, Option<u64>), ClientError> {
        let mut q = filters.to_vec();
        q.push(("offset".into(), offset.to_string()));
        q.push(("limit".into(), limit.to_string()));
        self.get("nodes/fast", &q).await
    }

    /// `GET /node/{id}` (`null` when missing).
    pub async fn node(&self, id: &str) -> Result<Option<Node>, ClientError> {
        let (n, _) = self.get(&format!("node/{id}"), &[]).await?;
        Ok(n)
    }

    /// Whether the token's user may edit the node (`GET /maestro/node/{id}/may-edit`, a
    /// Maestro extension); `None` from a server without it.
    pub async fn may_edit(&self, id: &str) -> Result<Option<bool>, ClientError> {
        match self
            .get::<Value>(&format!("maestro/node/{id}/may-edit"), &[])
            .await
        {
            Ok((v, _)) => Ok(v["may_edit"].as_bool()),
            // The route does not exist there (a node that does not exist says so).
            Err(ClientError::Status { status, detail })
                if status == StatusCode::NOT_FOUND && detail == "Not Found" =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A checkout's regressions and fixes (`GET /maestro/node/{id}/compare`, a Maestro
    /// extension); `None` from a server without it.
    pub async fn compare(
        &self,
        id: &str,
    ) -> Result<Option<maestro_common::compare::RevisionCompare>, ClientError> {
        match self.get(&format!("maestro/node/{id}/compare"), &[]).await {
            Ok((v, _)) => Ok(Some(v)),
            Err(ClientError::Status { status, detail })
                if status == StatusCode::NOT_FOUND && detail == "Not Found" =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `PATCH /node/{id}`.
    pub async fn patch_node(&self, id: &str, body: &Value) -> Result<Node, ClientError> {
        let (n, _) = self
            .send(
                self.request(reqwest::Method::PATCH, &format!("node/{id}"))
                    .json(body),
            )
            .await?;
        Ok(n)
    }

    /// `POST /publish/{channel}` with `{"data": data}`.
    pub async fn publish(&self, channel: &str, data: &Value) -> Result<(), ClientError> {
        let body = serde_json::json!({ "data": data });
        let _: (Value, _) = self
            .send(
                self.request(reqwest::Method::POST, &format!("publish/{channel}"))
                    .json(&body),
            )
            .await?;
        Ok(())
    }

    /// The newest page of checkouts (newest first) and the sequence of the snapshot.
    pub async fn revisions(
        &self,
        filter: &RevisionFilter,
        limit: u64,
    ) -> Result<(Vec<Revision>, u64, Option<u64>), ClientError> {
        self.revision_page(filter, 0, limit).await
    }

    /// The page of `limit` checkouts older than the `skip` newest (newest first).
    pub async fn older_revisions(
        &self,
        filter: &RevisionFilter,
        skip: u64,
        limit: u64,
    ) -> Result<(Vec<Revision>, u64), ClientError> {
        let (rows, total, _) = self.revision_page(filter, skip, limit).await?;
        Ok((rows, total))
    }

    /// Checkouts are listed in id order on both the Python server and ours, so the newest
    /// are the last: count, then read the page that ends `skip` before the end.
    async fn revision_page(
        &self,
        filter: &RevisionFilter,
        skip: u64,
        limit: u64,
    ) -> Result<(Vec<Revision>, u64, Option<u64>), ClientError> {
        let mut q = vec![("kind".to_owned(), "checkout".to_owned())];
        if let Some(t) = &filter.tree {
            q.push(("data.kernel_revision.tree".into(), t.clone()));
        }
        if let Some(b) = &filter.branch {
            q.push(("data.kernel_revision.branch".into(), b.clone()));
        }
        let total = self.count(&q).await?;
        let end = total.saturating_sub(skip);
        if end == 0 {
            return Ok((Vec::new(), total, None));
        }
        let offset = end.saturating_sub(limit);
        let (nodes, seq) = self.nodes(&q, offset, end - offset).await?;
        let rows = nodes
            .iter()
            .rev()
            .map(|n| Revision::new(NodeSummary::of(n)))
            .collect();
        Ok((rows, total, seq))
    }

    /// The counts of a revision's nodes (checkout excluded), four `/count`s at once.
    pub async fn summary(&self, key: &RevisionKey) -> Result<Counts, ClientError> {
        let base = revision_filters(key);
        let with = |k: &str, v: &str| {
            let mut q = base.clone();
            q.push(("kind__ne".into(), "checkout".into()));
            q.push((k.into(), v.into()));
            q
        };
        let queries = [
            with("result", "pass"),
            with("result", "fail"),
            with("result", "incomplete"),
            with("state", "running"),
        ];
        let (pass, fail, incomplete, running) = futures::try_join!(
            self.count(&queries[0]),
            self.count(&queries[1]),
            self.count(&queries[2]),
            self.count(&queries[3]),
        )?;
        let n = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
        Ok(Counts {
            pass: n(pass),
            fail: n(fail),
            incomplete: n(incomplete),
            skip: 0,
            running: n(running),
        })
    }

    /// The checkout created before `created` on the same tree and branch.
    pub async fn previous_checkout(
        &self,
        key: &RevisionKey,
        created: maestro_common::Timestamp,
    ) -> Result<Option<Node>, ClientError> {
        let q = vec![
            ("kind".to_owned(), "checkout".to_owned()),
            ("data.kernel_revision.tree".into(), key.tree.clone()),
            ("data.kernel_revision.branch".into(), key.branch.clone()),
            ("created__lt".into(), created.to_string()),
        ];
        let total = self.count(&q).await?;
        if total == 0 {
            return Ok(None);
        }
        let (mut nodes, _) = self.nodes(&q, total - 1, 1).await?;
        Ok(nodes.pop())
    }

    /// Reads a text artifact: the last [`LOG_CHUNK`] bytes, or the chunk before `before`,
    /// with an HTTP range so that a big log is never read whole. Answers the text, the
    /// offset it starts at and the file's size when the server tells.
    pub async fn fetch_log(
        &self,
        url: &str,
        before: Option<u64>,
    ) -> Result<(String, u64, Option<u64>), ClientError> {
        let range = match before {
            None => format!("bytes=-{LOG_CHUNK}"),
            Some(end) => format!("bytes={}-{}", end.saturating_sub(LOG_CHUNK), end - 1),
        };
        let resp = self
            .http
            .get(url)
            .header(RANGE, range)
            .send()
            .await
            .map_err(|e| ClientError::Network(e.to_string()))?;
        let status = resp.status();
        let content_range = resp
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            return Err(ClientError::Status {
                status,
                detail: url.to_owned(),
            });
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Network(e.to_string()))?;
        let (start, total) = match content_range.as_deref().and_then(parse_content_range) {
            Some((start, total)) => (start, total),
            // No range support: the whole body came.
            None => (0, Some(bytes.len() as u64)),
        };
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if start > 0 {
            // The first line is cut at the range's start: drop it, it is read with the
            // range before.
            if let Some(nl) = text.find('\n') {
                let dropped = nl + 1;
                text.drain(..dropped);
                return Ok((text, start + dropped as u64, total));
            }
        }
        Ok((text, start, total))
    }
}

/// `bytes 100-199/1000` → (100, Some(1000)).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.parse().ok()?, total.parse().ok()))
}

/// The query filters of a revision's nodes.
pub fn revision_filters(key: &RevisionKey) -> Vec<(String, String)> {
    vec![
        ("data.kernel_revision.tree".into(), key.tree.clone()),
        ("data.kernel_revision.branch".into(), key.branch.clone()),
        ("data.kernel_revision.commit".into(), key.commit.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, None)));
        assert_eq!(parse_content_range("nonsense"), None);
    }

    #[test]
    fn paths_go_under_latest() {
        let c = Client::new(url::Url::parse("http://h:1/api/").unwrap(), None);
        assert_eq!(
            c.url("nodes/fast").as_str(),
            "http://h:1/api/latest/nodes/fast"
        );
    }
}
