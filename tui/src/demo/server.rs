//! The demo's `maestro-server`: found (or, from a cargo checkout, built), run as a child
//! process on a free loopback port with its data in the demo's directory, and stopped with
//! SIGTERM (then SIGKILL). A child process, so that the monitor never links a database
//! driver: only the server binary does.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A running server.
pub struct ServerProcess {
    child: Child,
    /// Its base URL.
    pub url: url::Url,
    /// Its log file.
    pub log: PathBuf,
}

/// The server binary: `explicit`, else (run by `cargo run`) the one cargo builds now in the
/// same target directory, else the one next to this program, else one on `PATH`.
pub fn find_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_owned());
        }
        bail!("--server-bin {}: no such file", p.display());
    }
    let me = std::env::current_exe().context("cannot tell where this program is")?;
    let sibling = me.with_file_name("maestro-server");
    if let (Some(cargo), Ok(manifest)) = (
        std::env::var_os("CARGO"),
        std::env::var("CARGO_MANIFEST_DIR"),
    ) {
        // `cargo run` builds only this package; build the server with the same profile,
        // into the same target directory (a no-op when it is current).
        let profile = me
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
            .to_owned();
        eprintln!("building maestro-server ({profile}) with cargo...");
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(&manifest).args([
            "build",
            "--quiet",
            "-p",
            "maestro-server",
            "--bin",
            "maestro-server",
        ]);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let status = cmd.status().context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo could not build maestro-server ({status})");
        }
    }
    if sibling.is_file() {
        return Ok(sibling);
    }
    if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("maestro-server"))
            .find(|p| p.is_file())
    }) {
        return Ok(found);
    }
    bail!(
        "maestro-server was not found next to {} nor on PATH; install it \
         (cargo install --path server) or give --server-bin",
        me.display()
    )
}

/// A free loopback port (the kernel's choice; released for the server to take).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(l.local_addr()?.port())
}

impl ServerProcess {
    /// Starts `bin` with its data in `dir` and `admin_password` for the first admin, plus
    /// `extra` arguments; answers once it serves.
    pub async fn start(
        bin: &Path,
        dir: &Path,
        admin_password: &str,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .env("MAESTRO_ADMIN_PASSWORD", admin_password)
            .env_remove("MAESTRO_MONGODB_URI")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: Ctrl-c in the terminal reaches the demo, which stops
            // the simulator first and then the server, in that order.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/"))?;
        let mut me = Self { child, url, log };
        me.wait_ready().await?;
        Ok(me)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let health = self.url.join("latest/maestro/health")?;
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(r) = http
                .get(health.clone())
                .timeout(Duration::from_secs(1))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "maestro-server stopped at start ({status}); its log:\n{}",
                    tail(&self.log)
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "maestro-server did not answer within 60 s; its log:\n{}",
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it: SIGTERM (it finishes what it was writing), SIGKILL after 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child
                    .kill()
                    .await
                    .context("cannot kill maestro-server")?;
            }
        }
        Ok(())
    }
}

/// The last lines of `path`, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
