//! `fanout`: event fan-out to WebSocket and long-poll subscribers (W4), and idle subscribers
//! (W5, with `--rate 0`), against a running server whose CPU and RSS are read from `/proc`.
//!
//! Every event carries its index `i` and the publisher's send time, so each subscriber
//! counts what it got (none missing, none twice, sequences rising) and the latency from
//! the publish request to its delivery. With several servers, subscribers and publishes
//! go to each in turn, so most deliveries cross from one server to another.
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use maestro_common::ws::{ClientMsg, StreamFilter};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{cpu_secs, rss_all};

/// Channel the benchmark publishes on.
pub(crate) const CHANNEL: &str = "bench";

/// Publish requests in flight at most.
const MAX_IN_FLIGHT: usize = 256;

/// What the command line asks for.
pub struct Fanout {
    pub urls: Vec<String>,
    pub token: String,
    pub ws: usize,
    pub longpoll: usize,
    pub rate: u64,
    pub seconds: u64,
    pub drain: u64,
    pub server_pids: Vec<u32>,
}

/// When subscribers stop: all `total` events seen, or `deadline` passed.
#[derive(Clone, Copy)]
pub(crate) struct Goal {
    pub(crate) total: u64,
    pub(crate) deadline: Instant,
}

/// The parts of a server message the benchmark reads; the rest is skipped unparsed, so the
/// load generator spends less of the two cores it shares with the server.
#[derive(serde::Deserialize)]
pub(crate) struct Frame {
    #[serde(rename = "type")]
    pub(crate) ty: String,
    #[serde(default)]
    pub(crate) sequence_id: u64,
    #[serde(default)]
    pub(crate) event: Option<CloudEvent>,
}

/// The parts of a CloudEvent the benchmark reads.
#[derive(serde::Deserialize)]
pub(crate) struct CloudEvent {
    #[serde(default)]
    pub(crate) data: Option<Stamp>,
    #[serde(default, rename = "_sequence_id")]
    pub(crate) sequence_id: u64,
}

/// The index and send time of a benchmark event (absent in BEEPs, which are strings).
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum Stamp {
    Event { i: u64, sent_ns: u64 },
    Other(serde::de::IgnoredAny),
}

/// The `/listen` envelope: the CloudEvent as a string.
#[derive(serde::Deserialize)]
pub(crate) struct Envelope {
    pub(crate) data: Option<String>,
}

/// What one subscriber saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Publish-to-delivery latencies, µs.
    lat_us: Vec<u32>,
    /// Which event indexes arrived.
    got: Vec<bool>,
    pub(crate) distinct: u64,
    pub(crate) duplicates: u64,
    /// Sequences that did not rise.
    pub(crate) disorder: u64,
    pub(crate) resyncs: u64,
    pub(crate) last_seq: u64,
    /// When the last event arrived.
    pub(crate) last_at: Option<Instant>,
    /// Whether the server took the subscription.
    pub(crate) subscribed: bool,
}

impl Seen {
    pub(crate) fn event(&mut self, seq: u64, data: Option<&Stamp>) {
        if seq <= self.last_seq {
            self.disorder += 1;
        }
        self.last_seq = seq;
        let Some(&Stamp::Event { i, sent_ns: sent }) = data else {
            return;
        };
        let i = i as usize;
        if i >= self.got.len() {
            self.got.resize(i + 1, false);
        }
        if self.got[i] {
            self.duplicates += 1;
            return;
        }
        self.got[i] = true;
        self.distinct += 1;
        let lat = now_ns().saturating_sub(sent) / 1_000;
        self.lat_us.push(u32::try_from(lat).unwrap_or(u32::MAX));
        self.last_at = Some(Instant::now());
    }

    fn done(&self, goal: Option<Goal>) -> bool {
        goal.is_some_and(|g| self.distinct >= g.total)
    }
}

fn now_ns() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

/// Resolves once `stop` has a goal and either the subscriber, with `distinct` events, has
/// them all or the deadline passed. Only this ends a pending listen: cancelling one when the
/// goal is announced could drop an event in flight.
async fn finished(stop: &mut watch::Receiver<Option<Goal>>, distinct: u64) {
    loop {
        let goal = *stop.borrow_and_update();
        match goal {
            Some(g) if distinct >= g.total => return,
            Some(g) => return tokio::time::sleep_until(g.deadline.into()).await,
            None => {
                if stop.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

pub(crate) async fn ws_subscriber(
    url: String,
    ready: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<Option<Goal>>,
) -> Seen {
    let ws_url = format!("{}/latest/ws", url.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("WebSocket connect");
    let subscribe = ClientMsg::Subscribe {
        channels: vec![CHANNEL.to_owned()],
        filter: StreamFilter::default(),
        since: None,
    };
    let text = serde_json::to_string(&subscribe).expect("json");
    ws.send(Message::text(text)).await.expect("subscribe");
    let mut seen = Seen::default();
    loop {
        let frame = tokio::select! {
            f = ws.next() => f,
            () = finished(&mut stop, seen.distinct) => break,
        };
        let Some(Ok(Message::Text(t))) = frame else {
            match frame {
                Some(Ok(_)) => continue,
                _ => break,
            }
        };
        let Ok(frame) = serde_json::from_str::<Frame>(t.as_str()) else {
            continue;
        };
        match frame.ty.as_str() {
            "subscribed" if !seen.subscribed => {
                seen.subscribed = true;
                let _ = ready.send(()).await;
            }
            "event" => {
                let data = frame.event.as_ref().and_then(|e| e.data.as_ref());
                seen.event(frame.sequence_id, data);
            }
            "resync" => seen.resyncs += 1,
            _ => {}
        }
        if seen.done(*stop.borrow()) {
            break;
        }
    }
    let _ = ws.close(None).await;
    seen
}

async fn longpoll_subscriber(
    http: reqwest::Client,
    url: String,
    token: String,
    ready: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<Option<Goal>>,
) -> Seen {
    let r = http
        .post(format!("{url}/latest/subscribe/{CHANNEL}?promisc=true"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("subscribe");
    let status = r.status();
    let sub: Value = r.json().await.unwrap_or(Value::Null);
    let _ = ready.send(()).await;
    let mut seen = Seen::default();
    let Some(id) = sub["id"].as_u64().filter(|_| status.is_success()) else {
        // Refused (429: more than the server's --max-subscriptions-per-user for this user);
        // told once, the count comes with the figures.
        static TOLD: std::sync::Once = std::sync::Once::new();
        TOLD.call_once(|| eprintln!("long-poll subscribe refused: {status} {sub}"));
        return seen;
    };
    seen.subscribed = true;
    loop {
        let listen = async {
            let r = http
                .get(format!("{url}/latest/listen/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?;
            r.json::<Envelope>().await.ok()
        };
        let msg = tokio::select! {
            m = listen => m,
            () = finished(&mut stop, seen.distinct) => break,
        };
        let Some(msg) = msg else {
            break;
        };
        let event = msg
            .data
            .and_then(|s| serde_json::from_str::<CloudEvent>(&s).ok());
        // BEEPs have no sequence.
        if let Some(e) = event.filter(|e| e.sequence_id > 0) {
            seen.event(e.sequence_id, e.data.as_ref());
        }
        if seen.done(*stop.borrow()) {
            break;
        }
    }
    let _ = http
        .post(format!("{url}/latest/unsubscribe/{id}"))
        .bearer_auth(&token)
        .send()
        .await;
    seen
}

/// A node-event-shaped payload of ~500 bytes with the index and send time.
fn payload(i: u64) -> Value {
    json!({"data": {
        "op": "updated", "id": format!("{:024x}", 0x6600_0000_0000_0000_u64 + i), "kind": "test",
        "name": "baseline.login", "path": ["checkout", "kbuild-gcc-12-x86", "baseline-x86", "login"],
        "group": "baseline-x86", "state": "done", "result": "pass", "owner": "admin",
        "data": {"kernel_revision": {"tree": "mainline", "branch": "master",
                 "commit": "abcdef0123456789abcdef0123456789abcdef01", "describe": "v6.13-rc1-123-gabcdef012345"},
                 "arch": "x86_64", "platform": "qemu-x86", "runtime": "lava-collabora"},
        "is_hierarchy": false, "previous_state": "running", "previous_result": null,
        "i": i, "sent_ns": now_ns(),
    }})
}

/// Publishes `rate` events a second for `seconds`, through each of `urls` in turn; returns
/// (published, errors, latencies).
pub(crate) async fn publish(
    http: reqwest::Client,
    urls: Vec<String>,
    token: String,
    rate: u64,
    seconds: u64,
) -> (u64, u64, Vec<u32>) {
    publish_n(http, urls, token, rate, rate * seconds).await
}

/// Publishes `total` events (indexes `0..total`) at `rate` a second, as [`publish`].
pub(crate) async fn publish_n(
    http: reqwest::Client,
    urls: Vec<String>,
    token: String,
    rate: u64,
    total: u64,
) -> (u64, u64, Vec<u32>) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        tick.tick().await;
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let url = urls[i as usize % urls.len()].clone();
        let (http, token) = (http.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = http
                .post(format!("{url}/latest/publish/{CHANNEL}"))
                .bearer_auth(&token)
                .json(&payload(i))
                .send()
                .await;
            drop(permit);
            let ok = matches!(&r, Ok(r) if r.status().is_success());
            (
                ok,
                u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX),
            )
        }));
    }
    let (mut ok, mut errors, mut lat) = (0, 0, Vec::with_capacity(tasks.len()));
    for t in tasks {
        let (good, us) = t.await.expect("publish task");
        if good {
            ok += 1;
        } else {
            errors += 1;
        }
        lat.push(us);
    }
    (ok, errors, lat)
}

/// CPU time of the processes, in seconds.
fn cpu_all(pids: &[u32]) -> f64 {
    pids.iter().copied().map(cpu_secs).sum()
}

pub(crate) fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    f64::from(sorted[i]) / 1e3
}

pub(crate) fn summarise(name: &str, subs: &[Seen], total: u64, end_of_publish: Instant) {
    if subs.is_empty() {
        return;
    }
    let mut lat: Vec<u32> = subs.iter().flat_map(|s| s.lat_us.iter().copied()).collect();
    lat.sort_unstable();
    let delivered: u64 = subs.iter().map(|s| s.distinct).sum();
    let missing: u64 = subs.iter().map(|s| total.saturating_sub(s.distinct)).sum();
    let min = subs.iter().map(|s| s.distinct).min().unwrap_or(0);
    let dups: u64 = subs.iter().map(|s| s.duplicates).sum();
    let disorder: u64 = subs.iter().map(|s| s.disorder).sum();
    let resyncs: u64 = subs.iter().map(|s| s.resyncs).sum();
    let drained = subs
        .iter()
        .filter_map(|s| s.last_at)
        .max()
        .map_or(0.0, |t| {
            t.saturating_duration_since(end_of_publish).as_secs_f64()
        });
    println!(
        "{name} x{}: delivered {delivered}/{} (fewest per subscriber {min}/{total}); missing {missing}, \
         duplicates {dups}, out of order {disorder}, resyncs {resyncs}; latency p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms; last delivery {drained:.2} s after the last publish",
        subs.len(),
        total * subs.len() as u64,
        pct(&lat, 0.50),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
    );
}

/// Subscribers started by [`start_subscribers`], reading until told their [`Goal`].
pub(crate) struct Subscribers {
    ws: Vec<tokio::task::JoinHandle<Seen>>,
    longpoll: Vec<tokio::task::JoinHandle<Seen>>,
    stop: watch::Sender<Option<Goal>>,
}

impl Subscribers {
    /// Tells them their goal, and waits for what the WebSocket and the long-poll ones saw.
    pub(crate) async fn finish(self, goal: Goal) -> (Vec<Seen>, Vec<Seen>) {
        let _ = self.stop.send(Some(goal));
        let mut ws_seen = Vec::new();
        for t in self.ws {
            ws_seen.push(t.await.expect("ws subscriber"));
        }
        let mut lp_seen = Vec::new();
        for t in self.longpoll {
            lp_seen.push(t.await.expect("long-poll subscriber"));
        }
        (ws_seen, lp_seen)
    }
}

/// Starts `a.ws` WebSocket and `a.longpoll` long-poll subscribers over `a.urls` in turn,
/// and waits until the server took (or refused) each.
pub(crate) async fn start_subscribers(http: &reqwest::Client, a: &Fanout) -> Subscribers {
    let (stop_tx, stop_rx) = watch::channel(None::<Goal>);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.ws + a.longpoll + 1);
    let t0 = Instant::now();
    let mut ws_tasks = Vec::new();
    let n = a.urls.len();
    for k in 0..a.ws {
        ws_tasks.push(tokio::spawn(ws_subscriber(
            a.urls[k % n].clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        )));
    }
    let mut lp_tasks = Vec::new();
    for k in 0..a.longpoll {
        lp_tasks.push(tokio::spawn(longpoll_subscriber(
            http.clone(),
            a.urls[k % n].clone(),
            a.token.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        )));
    }
    for _ in 0..a.ws + a.longpoll {
        ready_rx.recv().await.expect("subscriber ready");
    }
    println!(
        "{} WebSocket + {} long-poll subscribers over {n} server(s) ready in {:.2} s",
        a.ws,
        a.longpoll,
        t0.elapsed().as_secs_f64()
    );
    Subscribers {
        ws: ws_tasks,
        longpoll: lp_tasks,
        stop: stop_tx,
    }
}

/// Runs the fan-out (or, with `rate` 0, the idle: [`crate::idle::hold`]) workload and
/// prints the figures.
pub async fn run(a: Fanout) {
    if a.rate == 0 {
        crate::idle::hold(&a).await;
        return;
    }
    let pids = a.server_pids.clone();
    let pid = (!pids.is_empty()).then_some(&pids[..]);
    let (rss0, cpu0) = (pid.map(rss_all), pid.map(cpu_all));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.longpoll + 64)
        .build()
        .expect("client");
    let subscribers = start_subscribers(&http, &a).await;
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss0.unwrap_or(0)));
    let sampler = pid.map(|pid| {
        let (peak, pid) = (peak.clone(), pid.to_vec());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_all(&pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let cpu_start = pid.map(cpu_all);
    let own_start = cpu_secs(std::process::id());
    let t_pub = Instant::now();
    let (published, errors, mut pub_lat) = publish(
        http.clone(),
        a.urls.clone(),
        a.token.clone(),
        a.rate,
        a.seconds,
    )
    .await;
    let end_of_publish = Instant::now();
    let publish_wall = t_pub.elapsed().as_secs_f64();
    let cpu_publish = pid.map(cpu_all);
    let own_publish = cpu_secs(std::process::id());
    let goal = Goal {
        total: published,
        deadline: end_of_publish + Duration::from_secs(a.drain),
    };
    let (ws_seen, lp_seen) = subscribers.finish(goal).await;
    let wall = t_pub.elapsed().as_secs_f64();
    if let Some(s) = sampler {
        s.abort();
    }
    pub_lat.sort_unstable();
    println!(
        "load generator CPU (same machine): {:.0}% of one core while publishing",
        (own_publish - own_start) / publish_wall * 100.0
    );
    println!(
        "published {published} events ({errors} errors) in {publish_wall:.2} s = {:.0}/s; \
         publish request p50 {:.2} ms, p99 {:.2} ms",
        published as f64 / publish_wall,
        pct(&pub_lat, 0.5),
        pct(&pub_lat, 0.99),
    );
    summarise("WebSocket", &ws_seen, published, end_of_publish);
    summarise("long-poll", &lp_seen, published, end_of_publish);
    if let (Some(pid), Some(c0), Some(cs), Some(cp), Some(r0)) =
        (pid, cpu0, cpu_start, cpu_publish, rss0)
    {
        let c_end = cpu_all(pid);
        println!(
            "server CPU: {:.0}% of one core while publishing, {:.0}% over the run ({wall:.1} s, \
             drain included); {:.1} CPU-s since start of the command; RSS {:.1} MiB before, \
             peak {:.1} MiB, {:.1} MiB after",
            (cp - cs) / publish_wall * 100.0,
            (c_end - cs) / wall * 100.0,
            c_end - c0,
            r0 as f64 / 1024.0,
            peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
            rss_all(pid) as f64 / 1024.0,
        );
    }
}
