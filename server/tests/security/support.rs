//! `TestApp`: the real router over one store, with users made directly in the store, and
//! the builders and assertions the cases share.
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node, UserGroupRef};
use maestro_server::auth::{TokenKeys, hash_password};
use maestro_server::nodes::ops::new_id;
use maestro_server::store::{Store, StoredUser, UserGroup};
use maestro_server::{AppState, app};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The secret the test server signs access tokens with.
pub const SECRET: &str = "security-suite-test-secret";

/// The password of every user the cases create directly.
pub const PASSWORD: &str = "Correct-Horse-7f3a9c";

/// One argon2id hash of [`PASSWORD`], shared: each hash costs 64 MiB and three passes.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD).unwrap())
}

/// The server state and router of one case.
pub struct TestApp {
    pub state: AppState,
}

/// A response, decoded.
pub struct Resp {
    pub status: StatusCode,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The body as text.
    pub text: String,
}

/// A user created in the store, with a valid access token.
pub struct TestUser {
    pub user: StoredUser,
    pub token: String,
}

impl TestUser {
    pub fn id(&self) -> String {
        self.user.id.to_string()
    }
}

/// Everything a store holds that the API can change.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub nodes: Vec<Node>,
    pub users: Vec<StoredUser>,
    pub groups: Vec<UserGroup>,
}

impl TestApp {
    /// An app on `store` with the test secret, no unified secret and no email.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let state = AppState::new(
            store,
            Arc::new(TokenKeys::new(SECRET.to_owned(), None, 3600)),
            Arc::default(),
        );
        Self { state }
    }

    pub fn store(&self) -> &dyn Store {
        &*self.state.store
    }

    /// The group called `name`, created if missing.
    pub async fn group(&self, name: &str) -> UserGroup {
        if let Some(g) = self.store().find_group_by_name(name).await.unwrap() {
            return g;
        }
        let g = UserGroup {
            id: new_id(),
            name: name.to_owned(),
        };
        self.store().insert_group(&g).await.unwrap();
        g
    }

    /// A user record (not stored yet): active, verified, with [`PASSWORD`], in `groups`
    /// (which are created).
    pub async fn user_record(&self, name: &str, superuser: bool, groups: &[&str]) -> StoredUser {
        let mut refs = Vec::new();
        for name in groups {
            let g = self.group(name).await;
            refs.push(UserGroupRef {
                id: g.id.to_string(),
                name: g.name,
            });
        }
        StoredUser {
            id: new_id(),
            email: format!("{name}@example.org"),
            hashed_password: password_hash().to_owned(),
            is_active: true,
            is_superuser: superuser,
            is_verified: true,
            username: name.to_owned(),
            groups: refs,
        }
    }

    /// Stores `user` and issues a token for it.
    pub async fn insert(&self, user: StoredUser) -> TestUser {
        self.store().insert_user(&user).await.unwrap();
        let token = self.state.tokens.issue(&user.id).unwrap();
        TestUser { user, token }
    }

    /// An active, verified user in `groups`, stored, with a token.
    pub async fn add_user(&self, name: &str, superuser: bool, groups: &[&str]) -> TestUser {
        let user = self.user_record(name, superuser, groups).await;
        self.insert(user).await
    }

    /// The stored user called `name`.
    pub async fn stored_user(&self, name: &str) -> StoredUser {
        self.store()
            .find_user_by_username(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no user {name}"))
    }

    /// The stored node with this id.
    pub async fn node(&self, id: &str) -> Node {
        self.store()
            .get_node(&ObjectIdHex::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Every node, user and group of the store.
    pub async fn snapshot(&self) -> Snapshot {
        let nodes = self
            .store()
            .find_nodes(&Filter::default(), 0, None)
            .await
            .unwrap();
        let (users, _) = self.store().list_users(&[], 0, 10_000).await.unwrap();
        let (groups, _) = self.store().list_groups(None, 0, 10_000).await.unwrap();
        Snapshot {
            nodes,
            users,
            groups,
        }
    }

    /// Sends a request through the real router (with the version-prefix rewrite).
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
        let resp = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, body, text }
    }

    /// A request with a JSON body.
    pub async fn json(&self, method: &str, uri: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send(method, uri, token, Some(body.to_string())).await
    }

    /// A form-encoded POST without a token (login, update-password).
    pub async fn form(&self, uri: &str, form: &str) -> Resp {
        self.send("POST", uri, None, Some(form.to_owned())).await
    }

    /// Creates a node through `POST /node` and returns it as answered.
    pub async fn create(&self, token: &str, node: Value) -> Value {
        let r = self.json("POST", "/latest/node", Some(token), &node).await;
        assert_eq!(r.status, StatusCode::OK, "creating a node: {}", r.text);
        r.body
    }
}

/// The id of a node as the API answered it.
pub fn id(node: &Value) -> String {
    node["id"].as_str().unwrap().to_owned()
}

/// A checkout node body.
pub fn checkout(name: &str) -> Value {
    json!({
        "kind": "checkout", "name": name, "path": [name],
        "data": {"kernel_revision": {"tree": "mainline",
            "url": "https://git.kernel.org/torvalds/linux.git",
            "branch": "master", "commit": "2a987e65025e", "describe": "v6.1"}},
    })
}

/// A job node body that ran on `runtime` (`data.runtime` is part of the job data model, so
/// hierarchy writes keep it).
pub fn job(name: &str, runtime: &str) -> Value {
    json!({"kind": "job", "name": name, "path": ["checkout", name],
           "data": {"runtime": runtime, "platform": "qemu"}})
}

/// A new test node as a hierarchy level without children.
pub fn leaf(name: &str) -> Value {
    json!({"node": {"kind": "test", "name": name, "path": ["checkout", name],
                    "state": "done", "result": "pass"},
           "child_nodes": []})
}

/// The `detail` of an error answer.
pub fn detail(r: &Resp) -> String {
    r.body["detail"].as_str().unwrap_or_default().to_owned()
}

/// Asserts the answer of a request without a valid user: 401 `{"detail":"Unauthorized"}`.
pub fn assert_unauthorized(r: &Resp, what: &str) {
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::UNAUTHORIZED, &json!({"detail": "Unauthorized"})),
        "{what}: {}",
        r.text
    );
}

/// Asserts the answer to a user who may not edit the node.
pub fn assert_not_editor(r: &Resp, what: &str) {
    assert_eq!(
        (r.status, &r.body),
        (
            StatusCode::UNAUTHORIZED,
            &json!({"detail": "Unauthorized to complete the operation"})
        ),
        "{what}: {}",
        r.text
    );
}

/// Asserts a 200 answer.
pub fn assert_ok(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text);
}
