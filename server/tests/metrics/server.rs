//! A real server for the metrics tests, its HTTP client, and a parsed scrape.
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use maestro_server::Config;
use maestro_server::config::Secret;
use serde_json::Value;

const ADMIN_PASSWORD: &str = "metrics-test-password";

pub struct Server {
    pub client: reqwest::Client,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on a loopback port from the defaults (life-cycle sweeps off, an
    /// admin user), changed by `tune`.
    pub async fn start(tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::embedded(dir.path().to_owned());
        cfg.admin_password = Some(Secret(ADMIN_PASSWORD.into()));
        cfg.no_lifecycle = true;
        tune(&mut cfg);
        let state = maestro_server::build_state(&cfg).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(maestro_server::run(state, listener, async {
            let _ = stopped.await;
        }));
        Self {
            client: reqwest::Client::new(),
            base,
            stop: Some(stop),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A token of the admin user.
    pub async fn token(&self) -> String {
        let form = [("username", "admin"), ("password", ADMIN_PASSWORD)];
        let resp = self.client.post(self.url("/latest/user/login")).form(&form);
        let body: Value = resp.send().await.unwrap().json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST path` with a JSON body: the status and the body.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let resp = self.client.get(self.url(path)).bearer_auth(token);
        resp.send().await.unwrap().json().await.unwrap()
    }

    /// Subscribes to `channel_and_query`; the subscription id.
    pub async fn subscribe(&self, token: &str, channel_and_query: &str) -> u64 {
        let path = format!("/latest/subscribe/{channel_and_query}");
        let (status, body) = self.post(token, &path, &Value::Null).await;
        assert_eq!(status, 200, "{body}");
        body["id"].as_u64().unwrap()
    }

    pub async fn scrape(&self) -> Scrape {
        let resp = self.client.get(self.url("/latest/metrics")).send().await;
        Scrape::parse(resp.unwrap().text().await.unwrap())
    }

    /// Scrapes until the sample `key` is `value` (some seconds at most).
    pub async fn wait_for(&self, key: &str, value: f64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let scrape = self.scrape().await;
            if scrape.samples.get(key) == Some(&value) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{key} never became {value}:\n{}",
                scrape.text
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A scrape: its text, and each sample's value by `name{labels}` as written.
pub struct Scrape {
    pub text: String,
    pub samples: HashMap<String, f64>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (key, value) = l.rsplit_once(' ').unwrap();
                (key.to_owned(), value.parse().unwrap())
            })
            .collect();
        Self { text, samples }
    }

    /// The value of the sample `key`; fails the test, showing the scrape, when absent.
    pub fn value(&self, key: &str) -> f64 {
        match self.samples.get(key) {
            Some(v) => *v,
            None => panic!("no sample {key} in:\n{}", self.text),
        }
    }

    /// Every sample belongs to a metric with a `# HELP` and a `# TYPE` line.
    pub fn assert_help_and_type_everywhere(&self) {
        for key in self.samples.keys() {
            let name = key.split('{').next().unwrap();
            let typed = |family: &str, kind: &str| {
                self.text.contains(&format!("# HELP {family} "))
                    && self.text.contains(&format!("# TYPE {family} {kind}"))
            };
            let histogram = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .is_some_and(|family| typed(family, "histogram"));
            assert!(histogram || typed(name, ""), "{name} lacks HELP or TYPE");
        }
    }
}
