//! `maestro demo`: the whole system with one command. A `maestro-server` on the embedded
//! store in a fresh temporary directory, a pipeline user made through the API (invite,
//! accept), the simulated pipeline with that user's token, and the monitor logged in as the
//! admin; `q` or Ctrl-c stops all of it, simulator first, then the server, and removes the
//! directory. `--headless` prints what happens instead of the monitor and exits once
//! `--revisions` are done.
pub mod server;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::sim::api::Api;
use crate::sim::{self, SimOptions};

use self::server::ServerProcess;

/// `maestro demo`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoOptions {
    /// No monitor: print a line per revision and per finished job, a summary per revision,
    /// and exit once --revisions (default 3) are done.
    #[arg(long)]
    pub headless: bool,
    /// The maestro-server program (default: built by cargo when run with `cargo run`, else
    /// next to this program, else on PATH).
    #[arg(long, env = "MAESTRO_SERVER_BIN", value_name = "FILE")]
    pub server_bin: Option<PathBuf>,
    /// Keep the server's data, logs and artifacts in this directory (default: a temporary
    /// directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The simulated pipeline.
    #[command(flatten)]
    pub sim: SimOptions,
}

/// The pipeline's user in the demo.
const PIPELINE_USER: &str = "kernelci-pipeline";

fn random_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Logs in with the password form and answers the token.
async fn login(
    http: &reqwest::Client,
    base: &url::Url,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let answer: Value = http
        .post(base.join("latest/user/login")?)
        .form(&[("username", user), ("password", password)])
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("login of {user}"))?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("login answered no token")
}

/// Makes the pipeline's user as an admin would (an invite, accepted): answers its token.
pub async fn pipeline_user(base: &url::Url, admin_token: &str) -> anyhow::Result<String> {
    let password = random_password();
    create_pipeline_user(base, admin_token, &password).await?;
    login(&reqwest::Client::new(), base, PIPELINE_USER, &password).await
}

/// Makes the pipeline's user with `password` through an invite.
async fn create_pipeline_user(
    base: &url::Url,
    admin_token: &str,
    password: &str,
) -> anyhow::Result<()> {
    let admin = Api::new(base.clone(), admin_token.to_owned())?;
    let invite = admin
        .call(
            reqwest::Method::POST,
            "user/invite",
            Some(
                &json!({"username": PIPELINE_USER, "email": "pipeline@kernelci.example.org",
                "send_email": false, "return_token": true}),
            ),
        )
        .await
        .context("inviting the pipeline user")?;
    let token = invite["token"]
        .as_str()
        .context("the invite answered no token")?;
    admin
        .call(
            reqwest::Method::POST,
            "user/accept-invite",
            Some(&json!({"token": token, "password": password})),
        )
        .await
        .context("accepting the pipeline user's invite")?;
    Ok(())
}

/// The demo's passwords, kept in its directory so that `--dir` can be used again.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Credentials {
    admin: String,
    pipeline: Option<String>,
}

impl Credentials {
    fn path(dir: &std::path::Path) -> PathBuf {
        dir.join("credentials.json")
    }

    /// The directory's, or new ones.
    fn load(dir: &std::path::Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(Self::path(dir)) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is not the demo's", Self::path(dir).display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                admin: random_password(),
                pipeline: None,
            }),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", Self::path(dir).display())),
        }
    }

    /// Written readable by its owner only: they are passwords.
    fn save(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let path = Self::path(dir);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(serde_json::to_string(self)?.as_bytes())?;
        Ok(())
    }
}

/// The server's flags in the demo: life-cycle rules checked every second, so holdoffs and
/// timeouts (scaled by --rate) end on time.
fn server_args() -> Vec<String> {
    [
        "--lifecycle-timeout-interval-secs",
        "1",
        "--lifecycle-holdoff-interval-secs",
        "1",
        "--lifecycle-closing-interval-secs",
        "1",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs the demo; answers the process exit status.
pub async fn run(mut opts: DemoOptions) -> anyhow::Result<i32> {
    let temp;
    let dir = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("maestro-demo-")
                .tempdir()
                .context("cannot make a temporary directory")?;
            temp.path().to_owned()
        }
    };
    if opts.sim.artifacts_dir.is_none() {
        opts.sim.artifacts_dir = Some(dir.join("artifacts"));
    }
    if opts.headless && opts.sim.revisions.is_none() {
        opts.sim.revisions = Some(3);
    }
    let bin = server::find_binary(opts.server_bin.as_deref())?;
    let mut credentials = Credentials::load(&dir)?;
    credentials.save(&dir)?;
    let server = ServerProcess::start(&bin, &dir, &credentials.admin, &server_args()).await?;
    // SIGINT, SIGTERM or SIGHUP stop the demo as `q` does: nothing is left running.
    let stop = CancellationToken::new();
    let signalled = tokio::spawn({
        let stop = stop.clone();
        async move {
            let signal = terminated().await;
            stop.cancel();
            signal
        }
    });
    let outcome = with_server(&server, &dir, &mut credentials, &opts, &stop).await;
    let stopped = server.stop().await;
    let code = match (outcome, signalled.is_finished()) {
        (Ok(_), true) => 128 + signalled.await.unwrap_or(2),
        (outcome, _) => {
            signalled.abort();
            outcome?
        }
    };
    stopped?;
    Ok(code)
}

/// The first of SIGINT, SIGTERM and SIGHUP: its number.
async fn terminated() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ];
    let mut streams: Vec<_> = kinds.iter().filter_map(|k| signal(*k).ok()).collect();
    if streams.is_empty() {
        return std::future::pending().await;
    }
    let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
    let (_, index, _) = futures::future::select_all(waits).await;
    kinds[index].as_raw_value()
}

async fn with_server(
    server: &ServerProcess,
    dir: &std::path::Path,
    credentials: &mut Credentials,
    opts: &DemoOptions,
    stop: &CancellationToken,
) -> anyhow::Result<i32> {
    let http = reqwest::Client::new();
    let admin_token = login(&http, &server.url, "admin", &credentials.admin).await?;
    let pipeline_password = match &credentials.pipeline {
        Some(p) => p.clone(),
        None => {
            let p = random_password();
            create_pipeline_user(&server.url, &admin_token, &p).await?;
            credentials.pipeline = Some(p.clone());
            credentials.save(dir)?;
            p
        }
    };
    let pipeline_token = login(&http, &server.url, PIPELINE_USER, &pipeline_password).await?;
    let api = Api::new(server.url.clone(), pipeline_token)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let simulator = tokio::spawn(sim::run(api.clone(), opts.sim.clone(), stop.clone(), tx));
    let code = if opts.headless {
        headless(server, &api, rx, opts, stop).await
    } else {
        monitor(server, admin_token, rx, stop).await?
    };
    stop.cancel();
    match simulator.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.context("the simulator stopped")),
        Err(e) => anyhow::bail!("the simulator panicked: {e}"),
    }
    Ok(code)
}

async fn headless(
    server: &ServerProcess,
    api: &Api,
    rx: mpsc::UnboundedReceiver<sim::Progress>,
    opts: &DemoOptions,
    stop: &CancellationToken,
) -> i32 {
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "maestro demo: server {} (log {}), {} revisions of size {:?} at rate {}",
        server.url,
        server.log.display(),
        opts.sim.revisions.unwrap_or(0),
        opts.sim.size,
        opts.sim.rate
    );
    let until = opts.sim.revisions;
    tokio::select! {
        done = sim::report::print(api, rx, &mut out, until) => {
            let _ = writeln!(out, "maestro demo: {done} revisions done, stopping");
            0
        }
        () = stop.cancelled() => {
            let _ = writeln!(out, "maestro demo: interrupted, stopping");
            1
        }
    }
}

async fn monitor(
    server: &ServerProcess,
    admin_token: String,
    mut rx: mpsc::UnboundedReceiver<sim::Progress>,
    stop: &CancellationToken,
) -> anyhow::Result<i32> {
    // The simulator's lines would scribble over the screen: its warnings go to the log.
    let stop2 = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                p = rx.recv() => match p {
                    Some(sim::Progress::Warning(w)) => tracing::warn!("simulator: {w}"),
                    Some(other) => tracing::debug!(?other, "simulator"),
                    None => return,
                },
                () = stop2.cancelled() => return,
            }
        }
    });
    let cfg = crate::config::Config {
        url: server.url.clone(),
        token: Some(crate::config::Secret::new(admin_token)),
        read_only: false,
        server_name: Some("demo".to_owned()),
        mouse: false,
    };
    tokio::select! {
        quit = crate::terminal::run(&cfg) => quit?,
        // A signal: the monitor's future is dropped, so the terminal is restored here.
        () = stop.cancelled() => ratatui::restore(),
    }
    Ok(0)
}
