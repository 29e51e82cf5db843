//! N servers on one database, sharing the token secret (as every deployment of several
//! servers must), each with a data directory of its own.
use maestro_e2e::{Backend, Client, Server};
use serde_json::{Value, json};

/// The secret every server of a cluster signs tokens with.
const SECRET: &str = "e2e-scale-shared-secret";

/// Servers on one database, and an admin token all of them accept.
pub struct Cluster {
    pub servers: Vec<Server>,
    pub token: String,
    // Holds the data directories until the servers are gone.
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// `n` servers on a new database, with more arguments for each; `None` without a
    /// MongoDB-wire server to run on.
    pub async fn start(test: &str, n: usize, args: &[&str]) -> Option<Self> {
        let backend = Backend::mongo(test)?;
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["--secret-key", SECRET];
        all.extend_from_slice(args);
        let servers: Vec<Server> = (0..n)
            .map(|i| {
                let data = dir.path().join(format!("server{i}"));
                Server::start_with_args(data, backend.clone(), &all)
            })
            .collect();
        let admin = servers[0].admin().await;
        let token = admin.token.clone().unwrap();
        Some(Self {
            servers,
            token,
            _dir: dir,
        })
    }

    /// A client of server `i`, logged in as the admin (with the token server 0 issued).
    pub fn client(&self, i: usize) -> Client {
        let mut c = self.servers[i].client();
        c.token = Some(self.token.clone());
        c
    }

    /// What the servers logged, for a failure message.
    pub fn logs(&self) -> String {
        self.servers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("--- server {i} ---\n{}", s.log_text()))
            .collect()
    }
}

/// A test node named `name`, with `extra` fields merged in.
pub fn test_node(name: &str, extra: Value) -> Value {
    let mut node = json!({"kind": "test", "name": name, "path": ["checkout", name]});
    if let (Some(n), Some(e)) = (node.as_object_mut(), extra.as_object()) {
        n.extend(e.clone());
    }
    node
}

/// `POST /node` of `node` through `c`; its id when the server answered 200.
pub async fn post_node(c: &Client, node: &Value) -> Option<String> {
    let mut req = c.http.post(format!("{}/latest/node", c.base)).json(node);
    if let Some(t) = &c.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body: Value = resp.json().await.ok()?;
    body["id"].as_str().map(str::to_owned)
}

/// Every stored event of channel `node`: (sequence, "op:id"), in sequence order.
pub async fn stored_node_events(c: &Client) -> Vec<(u64, String)> {
    let events = c.get("/latest/events?channel=node").await;
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = format!(
                "{}:{}",
                e["data"]["op"].as_str().unwrap_or("?"),
                e["data"]["id"].as_str().unwrap_or("?")
            );
            (e["sequence_id"].as_u64().unwrap(), key)
        })
        .collect()
}
