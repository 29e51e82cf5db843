//! `TestApp`: the real router over a SQLite store in a temp dir, with users and tokens.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use maestro_common::node::ObjectIdHex;
use maestro_server::auth::{TokenKeys, hash_password};
use maestro_server::nodes::ops::new_id;
use maestro_server::store::sqlite::SqliteStore;
use maestro_server::store::{Store, StoredUser, UserGroup};
use maestro_server::{AppState, app};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

pub struct TestApp {
    pub state: AppState,
    _dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
    pub text: String,
}

/// One argon2 hash of "password", shared: hashing costs seconds in debug builds.
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("password").unwrap())
}

impl TestApp {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let tokens = TokenKeys::new("test-secret".into(), None, 3600);
        let state = AppState::new(Arc::new(store), Arc::new(tokens), Arc::default());
        Self { state, _dir: dir }
    }

    /// An app whose store keeps only the `capacity` most recent events in memory.
    pub async fn with_event_capacity(capacity: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with_event_capacity(dir.path(), capacity).unwrap();
        let tokens = TokenKeys::new("test-secret".into(), None, 3600);
        let state = AppState::new(Arc::new(store), Arc::new(tokens), Arc::default());
        Self { state, _dir: dir }
    }

    /// The same data directory reopened with fresh in-memory state (event window,
    /// subscriptions), as after a restart; tokens stay valid.
    pub fn restart(self) -> Self {
        let Self { state, _dir: dir } = self;
        drop(state);
        let store = SqliteStore::open(dir.path()).unwrap();
        let tokens = TokenKeys::new("test-secret".into(), None, 3600);
        let state = AppState::new(Arc::new(store), Arc::new(tokens), Arc::default());
        Self { state, _dir: dir }
    }

    /// Stores `user` over whatever record has its id (a test's direct edit of the store).
    pub async fn overwrite_user(&self, user: &maestro_server::store::StoredUser) {
        let current = self
            .store()
            .find_user_by_id(&user.id)
            .await
            .unwrap()
            .expect("the user exists");
        self.store().update_user(user, &current).await.unwrap();
    }

    pub fn store(&self) -> &dyn Store {
        &*self.state.store
    }

    /// Creates a user and returns a token for it.
    pub async fn user(&self, name: &str, superuser: bool, groups: &[&str]) -> String {
        let mut refs = Vec::new();
        for g in groups {
            let group = match self.store().find_group_by_name(g).await.unwrap() {
                Some(g) => g,
                None => {
                    let g = UserGroup {
                        id: new_id(),
                        name: (*g).to_owned(),
                    };
                    self.store().insert_group(&g).await.unwrap();
                    g
                }
            };
            refs.push(maestro_common::UserGroupRef {
                id: group.id.to_string(),
                name: group.name,
            });
        }
        let user = StoredUser {
            id: new_id(),
            email: format!("{name}@example.org"),
            hashed_password: password_hash().to_owned(),
            is_active: true,
            is_superuser: superuser,
            is_verified: true,
            username: name.to_owned(),
            groups: refs,
        };
        self.store().insert_user(&user).await.unwrap();
        self.state.tokens.issue(&user.id).unwrap()
    }

    pub async fn stored_user(&self, name: &str) -> StoredUser {
        self.store()
            .find_user_by_username(name)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let resp = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            content_type,
            body,
            text,
        }
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.send("GET", uri, None, None).await
    }

    pub async fn post(&self, uri: &str, token: &str, body: &Value) -> Resp {
        self.send("POST", uri, Some(token), Some(&body.to_string()))
            .await
    }

    pub async fn put(&self, uri: &str, token: &str, body: &Value) -> Resp {
        self.send("PUT", uri, Some(token), Some(&body.to_string()))
            .await
    }

    pub async fn patch(&self, uri: &str, token: &str, body: &Value) -> Resp {
        self.send("PATCH", uri, Some(token), Some(&body.to_string()))
            .await
    }

    /// Creates a node through the API and returns it.
    pub async fn create(&self, token: &str, node: Value) -> Value {
        let r = self.post("/latest/node", token, &node).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body
    }

    pub async fn stored(&self, id: &str) -> Option<maestro_common::Node> {
        self.store()
            .get_node(&ObjectIdHex::parse(id).unwrap())
            .await
            .unwrap()
    }
}

pub fn checkout(name: &str) -> Value {
    json!({
        "kind": "checkout", "name": name, "path": [name],
        "data": {"kernel_revision": {"tree": "mainline", "url": "https://git.kernel.org/torvalds/linux.git",
            "branch": "master", "commit": "2a987e65025e", "describe": "v6.1"}},
    })
}

pub fn child(kind: &str, name: &str, parent: &str) -> Value {
    json!({"kind": kind, "name": name, "path": ["checkout", name], "parent": parent,
           "data": {"arch": "x86_64", "platform": "qemu"}})
}

pub fn detail(r: &Resp) -> String {
    r.body["detail"].as_str().unwrap_or_default().to_owned()
}
