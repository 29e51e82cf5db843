//! End-to-end harness: runs the real `maestro-server` binary on a loopback port, with a
//! fresh data directory (or a MongoDB database), and talks to it over HTTP.
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Password of the admin user every test server starts with.
pub const ADMIN_PASSWORD: &str = "e2e-admin-password";

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which store a test server uses.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The embedded default, in the server's data directory.
    Sqlite,
    /// MongoDB at this URI, in this database.
    Mongo { uri: String, database: String },
}

impl Backend {
    /// A MongoDB backend on the test server (`MAESTRO_TEST_MONGODB_URI`) with a unique
    /// database; `None` when no server is configured (a failure when `CI=true`).
    pub fn mongo(test: &str) -> Option<Self> {
        match std::env::var("MAESTRO_TEST_MONGODB_URI") {
            Ok(uri) if !uri.is_empty() => Some(Self::Mongo {
                uri,
                database: format!("e2e_{test}_{}_{}", std::process::id(), rand_suffix()),
            }),
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!(
                    "MAESTRO_TEST_MONGODB_URI is not set: a MongoDB-wire server is required in CI"
                )
            }
            _ => {
                eprintln!("skipping {test} on MongoDB: MAESTRO_TEST_MONGODB_URI is not set");
                None
            }
        }
    }
}

fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::from(t.subsec_nanos())
}

/// The `maestro-server` binary next to the test executable, built if missing.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/maestro-server
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = dir.join("maestro-server");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "maestro-server", "--bin", "maestro-server"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building maestro-server failed");
    }
    bin
}

/// The monitor's `maestro` binary next to the test executable, built if missing.
pub fn monitor_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = dir.join("maestro");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "maestro-tui", "--bin", "maestro"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building maestro failed");
    }
    bin
}

/// `maestro-server` set up to run an admin command (`user ...`, `group ...`) on the store
/// a test server with `data_dir` and `backend` uses: append the command's arguments. The
/// environment is cleared of what could pick another store, secret or password.
pub fn admin_command(data_dir: &Path, backend: &Backend) -> Command {
    let mut cmd = Command::new(server_binary());
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("SECRET_KEY")
        .env_remove("MONGO_SERVICE")
        .env_remove("MAESTRO_MONGODB_URI")
        .env_remove("MAESTRO_NEW_PASSWORD");
    if let Backend::Mongo { uri, database } = backend {
        cmd.arg("--mongodb-uri")
            .arg(uri)
            .arg("--mongodb-database")
            .arg(database);
    }
    cmd
}

/// A running server process; killed when dropped.
pub struct Server {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    addr: SocketAddr,
    data_dir: PathBuf,
    backend: Backend,
    log: PathBuf,
    /// Arguments given after the harness's own.
    args: Vec<String>,
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local addr")
}

impl Server {
    /// Starts a server with a new data directory under `root`.
    pub fn start(root: &Path, backend: Backend) -> Self {
        let data_dir = root.join("data");
        Self::start_in(data_dir, backend, free_port(), Vec::new())
    }

    /// Starts a server on `data_dir` (made if missing, kept if not): for a store prepared
    /// beforehand, e.g. by [`admin_command`].
    pub fn start_with_data_dir(data_dir: PathBuf, backend: Backend) -> Self {
        Self::start_in(data_dir, backend, free_port(), Vec::new())
    }

    /// Starts a server on `data_dir` with more command-line arguments (kept for a restart):
    /// for several servers on one database, which need one `--secret-key`.
    pub fn start_with_args(data_dir: PathBuf, backend: Backend, args: &[&str]) -> Self {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        Self::start_in(data_dir, backend, free_port(), args)
    }

    /// Starts `maestro-server` as [`Server::start_with_args`] would, and waits for it to
    /// exit: for a server expected to refuse to start. Its exit status (`None` when it was
    /// still running after `START_TIMEOUT`, and was killed) and stderr.
    pub fn run_to_exit(
        data_dir: &Path,
        backend: &Backend,
        args: &[&str],
    ) -> (Option<std::process::ExitStatus>, String) {
        let log = data_dir.with_extension("refused.log");
        let mut cmd = Self::command(data_dir, backend, free_port());
        cmd.args(args)
            .stderr(std::fs::File::create(&log).expect("creating the server log"));
        let mut child = cmd.spawn().expect("starting maestro-server");
        let deadline = Instant::now() + START_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                _ if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        (status, std::fs::read_to_string(&log).unwrap_or_default())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (a crash: no clean shutdown).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's store.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The command of a server on `data_dir` and `backend` listening on `addr`.
    fn command(data_dir: &Path, backend: &Backend, addr: SocketAddr) -> Command {
        let mut cmd = Command::new(server_binary());
        cmd.arg("--bind")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .env("MAESTRO_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("SECRET_KEY")
            .env_remove("MONGO_SERVICE")
            .env_remove("MAESTRO_MONGODB_URI")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Backend::Mongo { uri, database } = backend {
            cmd.arg("--mongodb-uri")
                .arg(uri)
                .arg("--mongodb-database")
                .arg(database);
        }
        cmd
    }

    fn start_in(data_dir: PathBuf, backend: Backend, addr: SocketAddr, args: Vec<String>) -> Self {
        let log = data_dir.with_extension(format!("{}.log", addr.port()));
        std::fs::create_dir_all(&data_dir).expect("creating the data dir");
        let mut cmd = Self::command(&data_dir, &backend, addr);
        let file = std::fs::File::create(&log).expect("creating the server log");
        // The server logs to stdout: into the same file, for failure messages.
        let out = file.try_clone().expect("the server log");
        cmd.args(&args).stdout(out).stderr(file);
        let child = cmd.spawn().expect("starting maestro-server");
        let mut server = Self {
            child,
            url: format!("http://{addr}"),
            addr,
            data_dir,
            backend,
            log,
            args,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("maestro-server exited with {status}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "maestro-server did not listen within {START_TIMEOUT:?}:\n{}",
            self.log_text()
        );
    }

    /// What the server wrote (its log and any panic).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process with SIGKILL (a crash: no clean shutdown) and starts it again on
    /// the same port, data directory and database.
    pub fn crash_and_restart(mut self) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (dir, backend, addr) = (self.data_dir.clone(), self.backend.clone(), self.addr);
        let args = std::mem::take(&mut self.args);
        std::mem::forget(self);
        Self::start_in(dir, backend, addr, args)
    }

    /// An HTTP client for this server.
    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.url.clone(),
            token: None,
        }
    }

    /// A client logged in as the admin.
    pub async fn admin(&self) -> Client {
        let mut c = self.client();
        let r = c
            .http
            .post(format!("{}/latest/user/login", self.url))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("login request");
        assert!(r.status().is_success(), "login failed: {}", r.status());
        let body: Value = r.json().await.expect("login body");
        c.token = body["access_token"].as_str().map(str::to_owned);
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small JSON client.
pub struct Client {
    /// The underlying reqwest client.
    pub http: reqwest::Client,
    /// Base URL.
    pub base: String,
    /// Bearer token, if logged in.
    pub token: Option<String>,
}

impl Client {
    /// Sends `method path` with an optional JSON body; returns status and JSON (or null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET returning JSON; panics on a non-2xx answer.
    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(reqwest::Method::GET, path, None).await;
        assert!((200..300).contains(&s), "GET {path}: {s} {v}");
        v
    }

    /// POST a node; returns it.
    pub async fn create(&self, node: &Value) -> Value {
        let (s, v) = self
            .call(reqwest::Method::POST, "/latest/node", Some(node))
            .await;
        assert_eq!(s, 200, "POST /node: {v}");
        v
    }
}
