//! `slow`: the slow-consumer workload (W6). While events are published at a steady rate, one
//! WebSocket subscriber and one durable long-poll subscriber stop reading for a while, then
//! come back as a real client would: the WebSocket one continues after its last event
//! (`since`) when told to resync or when the server dropped it, the durable one simply listens
//! again. Measured: the server's memory while they stall (it must stay bounded), the latency
//! of the subscribers that kept reading (they must not notice), and whether the two that
//! stalled got every event after all (no silent loss) and how long they took to catch up.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use maestro_common::ws::{ClientMsg, StreamFilter};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::durable::{Durable, Listened};
use crate::fanout::{CHANNEL, Frame, Goal, Seen, Stamp, pct, publish, summarise, ws_subscriber};
use crate::stats::rss_all;

/// What the command line asks for.
pub struct Slow {
    pub urls: Vec<String>,
    pub token: String,
    /// Subscribers that keep reading.
    pub ws: usize,
    pub rate: u64,
    /// How long the slow subscribers stop reading, seconds.
    pub stall: u64,
    /// How long they have to catch up after the last publish, seconds.
    pub drain: u64,
    pub server_pids: Vec<u32>,
}

/// Events read before a slow subscriber stops, and after the publishing goes on once it
/// is back (seconds).
const LEAD: u64 = 2;

/// What a slow subscriber saw, and when it had everything.
struct SlowSeen {
    seen: Seen,
    reconnects: u64,
    /// From its return to its last event.
    catch_up: Option<Duration>,
    /// When it stops reading, and for how long.
    stall_at: Instant,
    stall: Duration,
    /// When it came back.
    back: Option<Instant>,
}

impl SlowSeen {
    /// Starts reading now; stops after `LEAD` seconds for `stall`.
    fn new(stall: Duration) -> Self {
        Self {
            seen: Seen::default(),
            reconnects: 0,
            catch_up: None,
            stall_at: Instant::now() + Duration::from_secs(LEAD),
            stall,
            back: None,
        }
    }

    /// Stops reading for the stall, once, when it is due.
    async fn stall_when_due(&mut self) {
        if self.back.is_none() && Instant::now() >= self.stall_at {
            tokio::time::sleep(self.stall).await;
            self.back = Some(Instant::now());
        }
    }

    /// Whether it has every event of `goal`, or its deadline passed.
    fn finished(&self, goal: Option<Goal>) -> bool {
        goal.is_some_and(|g| self.seen.distinct >= g.total || Instant::now() >= g.deadline)
    }

    fn event(&mut self, seq: u64, data: Option<&Stamp>) {
        self.seen.event(seq, data);
        if let Some(back) = self.back {
            self.catch_up = Some(back.elapsed());
        }
    }
}

/// The WebSocket subscriber that stops reading for `stall` after its first `LEAD` seconds.
async fn ws_slow(
    url: String,
    stall: Duration,
    ready: tokio::sync::mpsc::Sender<()>,
    stop: watch::Receiver<Option<Goal>>,
) -> SlowSeen {
    let ws_url = format!("{}/latest/ws", url.replacen("http", "ws", 1));
    let mut out = SlowSeen::new(stall);
    let mut since = None;
    let mut first = true;
    'connect: loop {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&ws_url).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let subscribe = |since| ClientMsg::Subscribe {
            channels: vec![CHANNEL.to_owned()],
            filter: StreamFilter::default(),
            since,
        };
        let text = serde_json::to_string(&subscribe(since)).expect("json");
        if ws.send(Message::text(text)).await.is_err() {
            continue;
        }
        loop {
            // Stops reading: the socket's buffers fill, then the server's queue.
            out.stall_when_due().await;
            if out.finished(*stop.borrow()) {
                break 'connect;
            }
            let frame = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
            let Ok(frame) = frame else { continue };
            let Some(Ok(Message::Text(t))) = frame else {
                match frame {
                    Some(Ok(_)) => continue,
                    // Dropped by the server while it stalled: continue after the last event.
                    _ => {
                        out.reconnects += 1;
                        since = Some(out.seen.last_seq);
                        continue 'connect;
                    }
                }
            };
            let Ok(frame) = serde_json::from_str::<Frame>(t.as_str()) else {
                continue;
            };
            match frame.ty.as_str() {
                "subscribed" if first => {
                    first = false;
                    let _ = ready.send(()).await;
                }
                "event" => {
                    let data = frame.event.as_ref().and_then(|e| e.data.as_ref());
                    out.event(frame.sequence_id, data);
                }
                "resync" => {
                    // Fell out of the server's window: replayed from the stored history.
                    out.seen.resyncs += 1;
                    let text =
                        serde_json::to_string(&subscribe(Some(out.seen.last_seq))).expect("json");
                    if ws.send(Message::text(text)).await.is_err() {
                        continue 'connect;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The durable long-poll subscriber (`subscriber_id`): stops listening for `stall`.
async fn durable_slow(
    http: reqwest::Client,
    url: String,
    token: String,
    stall: Duration,
    ready: tokio::sync::mpsc::Sender<()>,
    stop: watch::Receiver<Option<Goal>>,
) -> SlowSeen {
    let subscriber = format!("bench-slow-{}:{CHANNEL}", std::process::id());
    let client = Durable::new(http, url, token, subscriber);
    let mut id = client.subscribe().await.expect("durable subscription");
    let _ = ready.send(()).await;
    let mut out = SlowSeen::new(stall);
    loop {
        out.stall_when_due().await;
        if out.finished(*stop.borrow()) {
            break;
        }
        match client.listen(id, Duration::from_secs(5)).await {
            Listened::Event(e) => out.event(e.sequence_id, e.data.as_ref()),
            Listened::Gone => {
                // Reaped while away: the same subscriber id resumes where it was.
                out.reconnects += 1;
                if let Some(new) = client.subscribe().await {
                    id = new;
                }
            }
            Listened::Beep | Listened::Failed => {}
        }
    }
    client.unsubscribe(id).await;
    out
}

fn report(name: &str, s: &SlowSeen, total: u64) {
    println!(
        "{name}: got {}/{total} (missing {}), resyncs {}, reconnects {}, caught up {:.1} s \
         after it came back",
        s.seen.distinct,
        total.saturating_sub(s.seen.distinct),
        s.seen.resyncs,
        s.reconnects,
        s.catch_up.map_or(f64::NAN, |d| d.as_secs_f64()),
    );
}

/// Runs W6 and prints its figures.
pub async fn run(a: Slow) {
    let pids = a.server_pids.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(16)
        .build()
        .expect("client");
    let (stop_tx, stop_rx) = watch::channel(None::<Goal>);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.ws + 2);
    let n = a.urls.len();
    let stall = Duration::from_secs(a.stall);
    let mut steady = Vec::new();
    for k in 0..a.ws {
        steady.push(tokio::spawn(ws_subscriber(
            a.urls[k % n].clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        )));
    }
    let ws = tokio::spawn(ws_slow(
        a.urls[0].clone(),
        stall,
        ready_tx.clone(),
        stop_rx.clone(),
    ));
    let durable = tokio::spawn(durable_slow(
        http.clone(),
        a.urls[n - 1].clone(),
        a.token.clone(),
        stall,
        ready_tx.clone(),
        stop_rx.clone(),
    ));
    for _ in 0..a.ws + 2 {
        ready_rx.recv().await.expect("subscriber ready");
    }
    let rss0 = rss_all(&pids);
    let peak = Arc::new(AtomicU64::new(rss0));
    let sampler = {
        let (peak, pids) = (Arc::clone(&peak), pids.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_all(&pids), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    println!(
        "{} steady WebSocket subscribers, one WebSocket and one durable long-poll subscriber \
         stalling {} s, {} events/s",
        a.ws, a.stall, a.rate
    );
    let seconds = a.stall + 2 * LEAD;
    let (published, errors, mut pub_lat) = publish(
        http.clone(),
        a.urls.clone(),
        a.token.clone(),
        a.rate,
        seconds,
    )
    .await;
    let end = Instant::now();
    let rss_end_of_publish = rss_all(&pids);
    pub_lat.sort_unstable();
    println!(
        "published {published} events ({errors} errors) in {seconds} s; publish request p50 \
         {:.2} ms, p99 {:.2} ms",
        pct(&pub_lat, 0.5),
        pct(&pub_lat, 0.99),
    );
    let _ = stop_tx.send(Some(Goal {
        total: published,
        deadline: end + Duration::from_secs(a.drain),
    }));
    let mut seen = Vec::new();
    for t in steady {
        seen.push(t.await.expect("steady subscriber"));
    }
    summarise("steady WebSocket", &seen, published, end);
    report(
        "stalled WebSocket",
        &ws.await.expect("slow subscriber"),
        published,
    );
    report(
        "stalled durable long-poll",
        &durable.await.expect("durable subscriber"),
        published,
    );
    sampler.abort();
    if !pids.is_empty() {
        println!(
            "server RSS {:.1} MiB before, peak {:.1} MiB during the stall, {:.1} MiB at the end \
             of publishing, {:.1} MiB after the catch-up",
            rss0 as f64 / 1024.0,
            peak.load(Ordering::Relaxed) as f64 / 1024.0,
            rss_end_of_publish as f64 / 1024.0,
            rss_all(&pids) as f64 / 1024.0,
        );
    }
}
