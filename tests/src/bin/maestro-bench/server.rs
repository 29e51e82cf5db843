//! The server `all` runs against when no `--url` is given: `maestro-server` started on a
//! free loopback port and a fresh data directory, restarted on the same directory and port
//! for the idle-RSS figure, stopped (and its data removed) at the end.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Args;
use crate::stats::status_kib;

/// A server this run started, stopped (and its data removed) when dropped.
pub(crate) struct Started {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Started {
    /// Starts `maestro-server` on a free loopback port with a fresh data directory.
    pub(crate) async fn start(a: &Args) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("maestro-bench-all-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data directory");
        let child = spawn_server(a, &dir, port);
        let mut s = Self { child, dir, port };
        if let Err(e) = s.wait_ready(Duration::from_secs(60)).await {
            panic!("the server did not start: {e}");
        }
        s
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's `--data-dir`.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server (SIGTERM, then SIGKILL after 30 s) and starts it again with the same
    /// arguments, data directory and port (retried while the port is still taken).
    pub(crate) async fn restart(&mut self, a: &Args) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            use nix::sys::signal::{Signal, kill};
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut tries = 0;
        loop {
            self.child = spawn_server(a, &self.dir, self.port);
            // A large database is checked at start.
            match self.wait_ready(Duration::from_secs(600)).await {
                Ok(()) => return,
                Err(e) if tries < 10 => {
                    eprintln!("restart: {e}; again");
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("the server did not restart: {e}"),
            }
        }
    }

    /// Waits until the server answers its health check; an error when it exited first or
    /// `limit` passed.
    async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let http = reqwest::Client::new();
        let url = self.url();
        let deadline = Instant::now() + limit;
        let log = self.dir.join("server.log");
        while http
            .get(format!("{url}/latest/maestro/health"))
            .send()
            .await
            .is_err()
        {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited ({status}), see {}", log.display()));
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready in {limit:?}, see {}", log.display()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// `maestro-server` on `dir/data` and `port`, logging to `dir/server.log`, with the
/// life-cycle rules every second (W1 needs them) and room for W5's subscriptions.
fn spawn_server(a: &Args, dir: &std::path::Path, port: u16) -> Child {
    let bin = server_bin(a);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("server log");
    let mut cmd = Command::new(&bin);
    if let Some(uri) = &a.mongodb_uri {
        let database = format!("maestro_bench_{}", std::process::id());
        cmd.args(["--mongodb-uri", uri, "--mongodb-database", &database])
            .arg("--mongodb-count-commands");
    }
    // As `Started::data_dir`.
    cmd.args(["--data-dir", &dir.join("data").to_string_lossy()])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--lifecycle-timeout-interval-secs", "1"])
        .args(["--lifecycle-holdoff-interval-secs", "1"])
        .args(["--lifecycle-closing-interval-secs", "1"])
        // W5's 500 long-poll and 15 durable subscriptions are all the admin's.
        .args(["--max-subscriptions-per-user", "2048"])
        .env("MAESTRO_ADMIN_PASSWORD", &a.password)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()))
}

/// `--server-bin`, or the `maestro-server` next to this program.
pub fn server_bin(a: &Args) -> PathBuf {
    a.server_bin.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("own path");
        exe.with_file_name("maestro-server")
    })
}

/// How long the restarted server is left idle before its memory is read.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// Restarts the server on its data, runs each of `queries` once (so that the page cache is
/// as warm as in use), waits [`IDLE_WAIT`] and reads its resident memory; prints (and
/// returns) the line.
pub(crate) async fn idle_rss(s: &mut Started, a: &Args, queries: &[String]) -> String {
    let http = reqwest::Client::new();
    let nodes = crate::all::count(&http, &a.url).await;
    let mib = |pid, field| status_kib(pid, field) as f64 / 1024.0;
    let old = s.pid();
    let before = format!(
        "{:.1} MiB (anon {:.1}, file {:.1})",
        mib(old, "VmRSS"),
        mib(old, "RssAnon"),
        mib(old, "RssFile")
    );
    println!("\nidle RSS: restarting the server on its {nodes} nodes");
    let t = Instant::now();
    s.restart(a).await;
    let ready = t.elapsed();
    // A fresh client: the old one's pooled connections went with the old server.
    let http = reqwest::Client::new();
    for q in queries {
        crate::reads::read_one(&http, &a.url, q, 1, Duration::MAX).await;
    }
    tokio::time::sleep(IDLE_WAIT).await;
    let pid = s.pid();
    let line = format!(
        "idle RSS at {nodes} nodes: {:.1} MiB (anon {:.1}, file {:.1}; target <= 50 MB at \
         1 M nodes), {} s after a restart ({:.1} s to ready) and the W3 queries once each; \
         {before} before the restart",
        mib(pid, "VmRSS"),
        mib(pid, "RssAnon"),
        mib(pid, "RssFile"),
        IDLE_WAIT.as_secs(),
        ready.as_secs_f64(),
    );
    println!("{line}");
    line
}
