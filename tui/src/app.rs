//! `App`: the state, the client and the channel of finished tasks; the run loop (one
//! `select!` over keys, task results and the frame timer) is the only place that awaits.
//! Effects run as spawned tasks whose results come back as actions.
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use maestro_common::Timestamp;
use maestro_common::ws::StreamFilter;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event as TermEvent, EventStream, KeyEventKind, MouseEventKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::action::Action;
use crate::client::{Client, TREE_PAGE, revision_filters};
use crate::config::Config;
use crate::effect::Effect;
use crate::keymap;
use crate::model::{NodeSummary, RevisionKey};
use crate::state::State;
use crate::ui::{self, Theme, Ui};

/// At most one redraw per this, however fast events arrive.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);
/// The clock of ages and holdoffs.
pub const TICK: Duration = Duration::from_secs(1);
/// Queued actions before senders wait (tasks slow down rather than memory grows).
const QUEUE: usize = 4_096;

/// The monitor.
pub struct App {
    /// What the screens show.
    pub state: State,
    /// View state of the panes.
    pub ui: Ui,
    /// Colours or not.
    pub theme: Theme,
    client: Client,
    tx: mpsc::Sender<Action>,
    rx: mpsc::Receiver<Action>,
    stream: Option<JoinHandle<()>>,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(s) = self.stream.take() {
            s.abort();
        }
    }
}

impl App {
    /// An app on `cfg`'s server; call [`App::start`] (or [`App::run`]) next.
    pub fn new(cfg: &Config, theme: Theme) -> Self {
        let read_only = if cfg.read_only {
            Some("--read-only".to_owned())
        } else if cfg.token.is_none() {
            Some("no token (--token or MAESTRO_TOKEN)".to_owned())
        } else {
            None
        };
        let server = cfg
            .server_name
            .clone()
            .map_or_else(|| cfg.url.to_string(), |n| format!("{n} ({})", cfg.url));
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            state: State::new(server, read_only, Timestamp::now()),
            ui: Ui::default(),
            theme,
            client: Client::new(cfg.url.clone(), cfg.token.clone()),
            tx,
            rx,
            stream: None,
        }
    }

    /// Runs the start-up effects.
    pub fn start(&mut self) {
        for e in self.state.start() {
            self.run_effect(e);
        }
    }

    /// Applies an action and runs the effects it asks for.
    pub fn handle(&mut self, action: Action) {
        for effect in self.state.update(action) {
            self.run_effect(effect);
        }
    }

    /// Applies every action already queued; returns how many.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Ok(a) = self.rx.try_recv() {
            self.handle(a);
            n += 1;
        }
        n
    }

    /// Waits up to `wait` for one task result, then applies it and everything queued;
    /// answers how many actions were applied (a loop of one's own, e.g. a benchmark).
    pub async fn step(&mut self, wait: Duration) -> usize {
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some(a)) => {
                self.handle(a);
                1 + self.drain()
            }
            _ => 0,
        }
    }

    /// Waits for task results until `done(&state)` holds or `timeout` passes (tests and
    /// scripts); answers whether it held.
    pub async fn run_until(&mut self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(&self.state) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(a)) => {
                    self.handle(a);
                    self.drain();
                }
                _ => return done(&self.state),
            }
        }
        true
    }

    /// Draws one frame.
    pub fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> anyhow::Result<()> {
        let (state, ui, theme) = (&self.state, &mut self.ui, self.theme);
        terminal
            .draw(|f| ui::render(f, ui, state, theme))
            .map_err(|e| anyhow::anyhow!("drawing: {e:?}"))?;
        if self.ui.main_rows != self.state.page_rows {
            let rows = self.ui.main_rows;
            self.handle(Action::Resize(rows));
        }
        Ok(())
    }

    /// The interactive loop, until `q` or `Ctrl-c`.
    pub async fn run<B: Backend>(mut self, terminal: &mut Terminal<B>) -> anyhow::Result<()> {
        self.start();
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        let mut dirty = true;
        let mut next_frame = Instant::now();
        loop {
            if dirty && Instant::now() >= next_frame {
                self.draw(terminal)?;
                dirty = false;
                next_frame = Instant::now() + FRAME_INTERVAL;
            }
            if self.state.quit {
                return Ok(());
            }
            tokio::select! {
                ev = keys.next() => match ev {
                    Some(Ok(TermEvent::Key(k))) if k.kind == KeyEventKind::Press => {
                        if let Some(a) = keymap::dispatch(&self.state, &k) {
                            self.handle(a);
                            dirty = true;
                        }
                    }
                    Some(Ok(TermEvent::Mouse(m))) => {
                        let a = match m.kind {
                            MouseEventKind::ScrollUp => Some(Action::MoveUp),
                            MouseEventKind::ScrollDown => Some(Action::MoveDown),
                            _ => None,
                        };
                        if let Some(a) = a {
                            self.handle(a);
                            dirty = true;
                        }
                    }
                    Some(Ok(TermEvent::Resize(..))) => dirty = true,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(anyhow::anyhow!("reading the terminal: {e}")),
                    None => return Ok(()),
                },
                Some(a) = self.rx.recv() => {
                    self.handle(a);
                    self.drain();
                    dirty = true;
                }
                _ = tick.tick() => {
                    self.handle(Action::Tick(Timestamp::now()));
                    dirty = true;
                }
                () = tokio::time::sleep_until(next_frame), if dirty => {}
            }
        }
    }

    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = Option<Action>> + Send + 'static,
    {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Some(a) = fut.await {
                let _ = tx.send(a).await;
            }
        });
    }

    /// Runs one effect in the background.
    pub fn run_effect(&mut self, effect: Effect) {
        let c = self.client.clone();
        match effect {
            Effect::LoadWhoami => self.spawn(async move {
                Some(Action::WhoamiLoaded(c.whoami().await.map_err(|e| {
                    if e.is_auth() {
                        format!("the token was refused ({e})")
                    } else {
                        e.to_string()
                    }
                })))
            }),
            Effect::LoadRevisions { filter, limit } => self.spawn(async move {
                Some(match c.revisions(&filter, limit).await {
                    Ok((revisions, total, sequence)) => Action::RevisionsLoaded {
                        revisions,
                        total,
                        sequence,
                    },
                    Err(e) => Action::Failed(format!("loading revisions: {e}")),
                })
            }),
            Effect::LoadOlderRevisions {
                filter,
                skip,
                limit,
            } => self.spawn(async move {
                Some(match c.older_revisions(&filter, skip, limit).await {
                    Ok((revisions, total)) => Action::OlderRevisionsLoaded { revisions, total },
                    Err(e) => Action::Failed(format!("loading older revisions: {e}")),
                })
            }),
            Effect::LoadCompare { checkout } => self.spawn(async move {
                match c.compare(&checkout).await {
                    Ok(Some(cmp)) => Some(Action::CompareLoaded {
                        checkout,
                        tally: (cmp.regressions.len() as u32, cmp.fixes.len() as u32),
                    }),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "compare");
                        None
                    }
                }
            }),
            Effect::LoadSummary { checkout, key } => self.spawn(async move {
                match c.summary(&key).await {
                    Ok(counts) => Some(Action::SummaryLoaded { checkout, counts }),
                    Err(e) => {
                        tracing::warn!(error = %e, "summary");
                        None
                    }
                }
            }),
            Effect::LoadTree { checkout, key } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    load_pages(&c, &revision_filters(&key), |nodes, done| {
                        let tx = tx.clone();
                        let checkout = checkout.clone();
                        async move {
                            tx.send(Action::TreePage {
                                checkout,
                                nodes,
                                done,
                            })
                            .await
                            .is_ok()
                        }
                    })
                    .await
                    .unwrap_or_else(|e| {
                        let _ = tx.try_send(Action::Failed(format!("loading the tree: {e}")));
                    });
                });
            }
            Effect::LoadChanged {
                checkout,
                key,
                since,
            } => self.spawn(async move {
                let mut q = revision_filters(&key);
                q.push(("updated__gte".into(), since.to_string()));
                let mut all = Vec::new();
                let r = load_pages(&c, &q, |nodes, _| {
                    all.extend(nodes);
                    async { true }
                })
                .await;
                Some(match r {
                    Ok(()) => Action::TreePage {
                        checkout,
                        nodes: all,
                        done: true,
                    },
                    Err(e) => Action::Failed(format!("loading changes: {e}")),
                })
            }),
            Effect::LoadPrevious {
                checkout,
                key,
                created,
            } => self.spawn(async move {
                let prev = match c.previous_checkout(&key, created).await {
                    Ok(p) => p,
                    Err(e) => {
                        return Some(Action::Failed(format!(
                            "finding the previous revision: {e}"
                        )));
                    }
                };
                let Some(prev) = prev else {
                    return Some(Action::PreviousLoaded {
                        checkout,
                        previous: None,
                        nodes: Vec::new(),
                    });
                };
                let prev_key = RevisionKey::of_data(prev.data.as_ref()?)?;
                let mut all = Vec::new();
                let r = load_pages(&c, &revision_filters(&prev_key), |nodes, _| {
                    all.extend(nodes);
                    async { true }
                })
                .await;
                Some(match r {
                    Ok(()) => Action::PreviousLoaded {
                        checkout,
                        previous: Some(prev.id_str().to_owned()),
                        nodes: all,
                    },
                    Err(e) => Action::Failed(format!("loading the previous revision: {e}")),
                })
            }),
            Effect::AskMayEdit { id, intent } => self.spawn(async move {
                let answer = c.may_edit(&id).await.map_err(|e| e.to_string());
                Some(Action::MayEdit { id, intent, answer })
            }),
            Effect::LoadNode(id) => self.spawn(async move {
                match c.node(&id).await {
                    Ok(Some(n)) => Some(Action::NodeLoaded(Box::new(n))),
                    Ok(None) => None,
                    Err(e) => Some(Action::Failed(format!("loading node {id}: {e}"))),
                }
            }),
            Effect::StartStream { since } => {
                if let Some(old) = self.stream.take() {
                    old.abort();
                }
                let tx = self.tx.clone();
                self.stream = Some(tokio::spawn(crate::stream::run(
                    c,
                    since,
                    StreamFilter::default(),
                    tx,
                )));
            }
            Effect::SaveNode { id, body } => self.spawn(async move {
                Some(Action::Saved(
                    c.patch_node(&id, &body)
                        .await
                        .map(Box::new)
                        .map_err(|e| e.to_string()),
                ))
            }),
            Effect::PublishRetry { data } => self.spawn(async move {
                let what = format!(
                    "{} {}",
                    data["kind"].as_str().unwrap_or("node"),
                    data["name"].as_str().unwrap_or("")
                );
                Some(Action::RetryPublished(
                    c.publish("retry", &data)
                        .await
                        .map(|()| what)
                        .map_err(|e| e.to_string()),
                ))
            }),
            Effect::OpenUrl(url) => {
                let opener = if cfg!(target_os = "macos") {
                    "open"
                } else {
                    "xdg-open"
                };
                let spawned = std::process::Command::new(opener)
                    .arg(&url)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
                if let Err(e) = spawned {
                    self.handle(Action::Failed(format!("{opener}: {e}; the URL is {url}")));
                }
            }
            Effect::Copy(text) => {
                // OSC 52: the terminal (also over ssh) puts it on the clipboard.
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                let mut out = std::io::stdout();
                let _ = write!(out, "\x1b]52;c;{b64}\x07");
                let _ = out.flush();
            }
            Effect::FetchLog { url, before } => self.spawn(async move {
                let r = c.fetch_log(&url, before).await;
                Some(match r {
                    Ok((text, start, total)) => Action::LogLoaded {
                        url,
                        text: Ok(text),
                        start,
                        total,
                    },
                    Err(e) => Action::LogLoaded {
                        url,
                        text: Err(e.to_string()),
                        start: 0,
                        total: None,
                    },
                })
            }),
        }
    }
}

/// Reads every node matching `filters`, [`TREE_PAGE`] at a time, handing each page (as
/// summaries) to `page`; stops early when it answers `false`.
pub async fn load_pages<F, Fut>(
    c: &Client,
    filters: &[(String, String)],
    mut page: F,
) -> Result<(), crate::client::ClientError>
where
    F: FnMut(Vec<NodeSummary>, bool) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut offset = 0;
    loop {
        let (nodes, _) = c.nodes(filters, offset, TREE_PAGE).await?;
        let n = nodes.len() as u64;
        let done = n < TREE_PAGE;
        let summaries = nodes.iter().map(NodeSummary::of).collect();
        if !page(summaries, done).await || done {
            return Ok(());
        }
        offset += n;
    }
}
