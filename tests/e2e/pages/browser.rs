//! A real headless Chromium for the page tests, driven over WebDriver: each [`Browser`]
//! starts its own `chromedriver` (which starts Chromium with a fresh profile) and stops it,
//! with the browser, when closed or dropped. Console errors of the pages are read from
//! chromedriver's browser log.
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// How long chromedriver may take to listen.
const DRIVER_START: Duration = Duration::from_secs(20);

/// Chromium's flags: headless, and nothing that reaches for the network (the machine has
/// none; background requests would only log errors and slow the start).
const CHROMIUM_ARGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
];

/// `(chromium, chromedriver)`: `$MAESTRO_CHROMIUM` and `$MAESTRO_CHROMEDRIVER`, else Debian's
/// paths. `None` when either is missing: a failure when `CI=true`, else the test skips.
fn binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    let pick = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let chromium = pick("MAESTRO_CHROMIUM", "/usr/bin/chromium");
    let driver = pick("MAESTRO_CHROMEDRIVER", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &driver]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some((chromium, driver));
    }
    let what = missing.join(" and ");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{what} not found: the page tests need Chromium and chromedriver in CI (scripts/test.sh installs them)"
        );
    }
    eprintln!(
        "skipping {test}: {what} not found (apt-get install chromium chromium-driver, or set MAESTRO_CHROMIUM and MAESTRO_CHROMEDRIVER)"
    );
    None
}

/// chromedriver's (legacy, still served) log endpoint: the browser's console messages and
/// failed loads since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// A headless Chromium under its own chromedriver.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session; `None` to skip `test` (see [`binaries`]).
    pub async fn start(test: &str) -> Option<Self> {
        let (chromium, driver_bin) = binaries(test)?;
        let profile = tempfile::tempdir().expect("a profile dir");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        };
        let mut cmd = Command::new(driver_bin);
        cmd.arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so that dropping it also ends the Chromium it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd.spawn().expect("starting chromedriver");
        let mut browser = Self {
            client: None,
            driver,
            _profile: profile,
        };
        browser.wait_for_driver(port);
        let mut caps = Capabilities::new();
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            browser._profile.path().join("chromium").display()
        ));
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with Chromium");
        browser.client = Some(client);
        Some(browser)
    }

    fn wait_for_driver(&mut self, port: u16) {
        let deadline = Instant::now() + DRIVER_START;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited with {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("chromedriver did not listen within {DRIVER_START:?}");
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("an open session")
    }

    /// Opens `url` (waits for its load event, not for its scripts' requests).
    pub async fn open(&self, url: &str) {
        self.client().goto(url).await.expect("navigating");
    }

    /// The text of the first element matching `css`, once it contains `needle` (panics with
    /// what it showed after [`WAIT`]).
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(e) = self.client().find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
            {
                if t.contains(needle) {
                    return t;
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let errors = self.console_errors().await;
        panic!("{css} never showed {needle:?}; it showed {last:?}; console errors: {errors:#?}");
    }

    /// Waits until an element matches `css`.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(e) = self.client().find(Locator::Css(css)).await {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let errors = self.console_errors().await;
        panic!("nothing matched {css}; console errors: {errors:#?}");
    }

    /// Types `text` into the field matching `css` (emptied first).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.wait_for(css).await;
        e.clear().await.expect("clearing a field");
        e.send_keys(text).await.expect("typing");
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("clicking");
    }

    /// Runs `script` in the page (its `arguments` are `args`).
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .expect("running a script")
    }

    /// The severe entries of the browser log since the last call: uncaught exceptions,
    /// `console.error`, failed loads and CSP violations.
    pub async fn console_errors(&self) -> Vec<String> {
        let Some(c) = self.client.as_ref() else {
            return Vec::new();
        };
        let log = c.issue_cmd(BrowserLog).await.unwrap_or(Value::Null);
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Fails the test if the page logged errors.
    pub async fn assert_no_errors(&self, what: &str) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "{what}: console errors {errors:#?}");
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started, even after a panic.
        let pgid = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}
