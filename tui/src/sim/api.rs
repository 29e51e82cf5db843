//! The API calls the simulated pipeline makes, as KernelCI's `kernelci.api` client makes
//! them: nodes (POST, PUT, hierarchy PUT), durable subscriptions and `/listen`. A server
//! that is briefly away (connection refused, 502–504) is retried; anything else is the
//! caller's error.
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The server refused a call: its status and `detail` (an error of [`Api`]'s calls that
/// callers can tell apart with `downcast_ref`).
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {status}: {detail}")]
pub struct Refused {
    /// The method.
    pub method: Method,
    /// The API path.
    pub path: String,
    /// The status.
    pub status: StatusCode,
    /// The `detail`, or the start of the body.
    pub detail: String,
}

/// A client with the pipeline's token.
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

/// How long to keep retrying a server that is away.
const AWAY_FOR: Duration = Duration::from_secs(60);

impl Api {
    /// A client of `base` (the URL without `/latest`) with `token`.
    pub fn new(base: url::Url, token: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot make an HTTP client")?;
        Ok(Self { http, base, token })
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        self.base
            .join(&format!("latest/{path}"))
            .with_context(|| format!("bad API path {path}"))
    }

    /// Sends `method path` with `body`, retrying while the server is away; the answer's
    /// JSON, or an error with the server's `detail`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        self.call_with_timeout(method, path, body, Duration::from_secs(30))
            .await
    }

    async fn call_with_timeout(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let url = self.url(path)?;
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let mut rb = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&self.token)
                .timeout(timeout);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let away = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        if text.is_empty() {
                            return Ok(Value::Null);
                        }
                        return serde_json::from_str(&text)
                            .with_context(|| format!("{method} {path}: not JSON"));
                    }
                    if !matches!(
                        status,
                        StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    ) {
                        return Err(Refused {
                            method,
                            path: path.to_owned(),
                            status,
                            detail: detail(&text),
                        }
                        .into());
                    }
                    format!("{status}: {}", detail(&text))
                }
                Err(e) if e.is_connect() => e.to_string(),
                Err(e) => return Err(anyhow!("{method} {path}: {e}")),
            };
            if started.elapsed() > AWAY_FOR {
                bail!("{method} {path}: the server stayed away: {away}");
            }
            tracing::debug!(%away, "{method} {path}: retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// `POST /node`: the created node.
    pub async fn create_node(&self, node: &Value) -> anyhow::Result<Value> {
        self.call(Method::POST, "node", Some(node)).await
    }

    /// `PUT /node/{id}`: the stored node.
    pub async fn update_node(&self, node: &Value) -> anyhow::Result<Value> {
        let id = node_id(node)?;
        self.call(Method::PUT, &format!("node/{id}"), Some(node))
            .await
    }

    /// `PUT /nodes/{id}`: a job's results, as `APIHelper.submit_results` sends them.
    pub async fn submit_results(&self, hierarchy: &Value) -> anyhow::Result<Value> {
        let id = node_id(&hierarchy["node"])?;
        self.call(Method::PUT, &format!("nodes/{id}"), Some(hierarchy))
            .await
    }

    /// `GET /node/{id}`.
    pub async fn node(&self, id: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, &format!("node/{id}"), None).await
    }

    /// `GET /count` with `filters`.
    pub async fn count(&self, filters: &[(&str, &str)]) -> anyhow::Result<u64> {
        let query = serde_urlencoded_pairs(filters);
        self.call(Method::GET, &format!("count?{query}"), None)
            .await?
            .as_u64()
            .ok_or_else(|| anyhow!("/count did not answer a number"))
    }

    /// `POST /subscribe/{channel}?promisc=true&subscriber_id=...`: the subscription id.
    pub async fn subscribe(&self, channel: &str, subscriber_id: &str) -> anyhow::Result<u64> {
        let answer = self
            .call(
                Method::POST,
                &format!(
                    "subscribe/{channel}?promisc=true&{}",
                    serde_urlencoded_pairs(&[("subscriber_id", subscriber_id)])
                ),
                None,
            )
            .await?;
        answer["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("/subscribe did not answer an id: {answer}"))
    }

    /// `POST /unsubscribe/{id}`.
    pub async fn unsubscribe(&self, id: u64) -> anyhow::Result<()> {
        self.call(Method::POST, &format!("unsubscribe/{id}"), None)
            .await
            .map(|_| ())
    }

    /// `GET /listen/{id}`: the next CloudEvent's `data`, or `None` for a keep-alive.
    pub async fn listen(&self, id: u64) -> anyhow::Result<Option<Value>> {
        // The server answers a keep-alive every 45 s; the Python client waits 60.
        let message = self
            .call_with_timeout(
                Method::GET,
                &format!("listen/{id}"),
                None,
                Duration::from_secs(90),
            )
            .await?;
        let Some(text) = message["data"].as_str() else {
            return Ok(None);
        };
        Ok(serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|event| event.get("data").cloned()))
    }
}

fn node_id(node: &Value) -> anyhow::Result<&str> {
    node["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the node has no id: {node}"))
}

fn detail(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("detail").cloned())
        .map_or_else(|| body.chars().take(200).collect(), |d| d.to_string())
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
