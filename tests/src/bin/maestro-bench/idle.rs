//! `idle` (W5 of workloads.md): idle subscribers and restarted durable ones. First N
//! WebSocket and M long-poll subscribers held idle (the long-poll ones with a `/listen`
//! pending) for S s, and the server's memory per subscription; then D durable long-poll
//! subscribers (`subscriber_id`) subscribe and stop (a clean stop: unsubscribed, their
//! stored position kept), K events are published while they are away, and all D come back
//! at once with a new subscribe under the same `subscriber_id`, as a restarted client does.
//! Each must get the K events exactly once, in order: the catch-up time (from its subscribe
//! to its last event), the events missing, twice, or out of order.
use std::time::{Duration, Instant};

use crate::durable::{Durable, Listened};
use crate::fanout::{CHANNEL, Fanout, Goal, Seen, publish_n, start_subscribers};
use crate::stats::{cpu_secs, rss_all};

/// What the command line asks for.
pub struct Idle {
    pub urls: Vec<String>,
    pub token: String,
    /// Idle WebSocket subscribers.
    pub ws: usize,
    /// Idle long-poll subscribers.
    pub longpoll: usize,
    /// How long the idle ones are held before the memory is read, seconds.
    pub seconds: u64,
    /// Restarted durable subscribers.
    pub durable: usize,
    /// Events published while they are away.
    pub missed: u64,
    /// At this rate, events/s.
    pub rate: u64,
    pub server_pids: Vec<u32>,
}

/// How long a restarted subscriber may take to get every missed event before it gives up.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(600);

/// How long the listen after the last event waits for one more (there must be none).
const QUIET: Duration = Duration::from_secs(1);

/// Runs W5 and prints its figures; returns the summary lines (for `all`).
pub async fn run(a: Idle) -> Vec<String> {
    let mut lines = Vec::new();
    if a.ws + a.longpoll > 0 {
        let f = Fanout {
            urls: a.urls.clone(),
            token: a.token.clone(),
            ws: a.ws,
            longpoll: a.longpoll,
            rate: 0,
            seconds: a.seconds,
            drain: 0,
            server_pids: a.server_pids.clone(),
        };
        lines.extend(hold(&f).await);
    }
    if a.durable > 0 {
        lines.push(durable_catch_up(&a).await);
    }
    lines
}

/// `a.ws` WebSocket and `a.longpoll` long-poll subscribers held idle for `a.seconds`; prints
/// (and returns) the server's memory per subscription when its pid is known.
pub(crate) async fn hold(a: &Fanout) -> Option<String> {
    let pids = &a.server_pids;
    let rss0 = rss_all(pids);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.longpoll + 64)
        .build()
        .expect("client");
    let subscribers = start_subscribers(&http, a).await;
    // Let the server settle, then read its memory.
    tokio::time::sleep(Duration::from_secs(a.seconds.max(1))).await;
    let rss1 = rss_all(pids);
    let goal = Goal {
        total: 0,
        deadline: Instant::now(),
    };
    let (ws, longpoll) = subscribers.finish(goal).await;
    let count = |subs: &[Seen]| subs.iter().filter(|s| s.subscribed).count();
    let (ws, longpoll) = (count(&ws), count(&longpoll));
    let held = ws + longpoll;
    if held < a.ws + a.longpoll {
        println!(
            "{} of {} subscriptions refused (long-poll: the server's --max-subscriptions-per-user)",
            a.ws + a.longpoll - held,
            a.ws + a.longpoll
        );
    }
    if pids.is_empty() {
        return None;
    }
    let line = format!(
        "W5: {held} idle subscribers ({ws} WebSocket, {longpoll} long-poll) held {} s: server \
         RSS {:.1} MiB before, {:.1} MiB with them: {:.1} KiB per subscription",
        a.seconds.max(1),
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        (rss1 as f64 - rss0 as f64) / held.max(1) as f64,
    );
    println!("{line}");
    Some(line)
}

/// What one restarted durable subscriber saw.
struct Back {
    seen: Seen,
    /// From its new subscribe to its last event, when it got them all.
    catch_up: Option<Duration>,
    /// Subscribes again after a 404 (its subscription reaped).
    resubscribes: u64,
    /// Why its subscribe was refused.
    refused: Option<String>,
}

/// Comes back as `c.subscriber` (a new subscribe) and listens until it has `total` events,
/// then once more (acknowledging the last; nothing may come), and unsubscribes.
async fn resume(c: Durable, total: u64) -> Back {
    let back = Instant::now();
    let mut out = Back {
        seen: Seen::default(),
        catch_up: None,
        resubscribes: 0,
        refused: None,
    };
    let mut id = match c.try_subscribe().await {
        Ok(id) => id,
        Err(e) => {
            out.refused = Some(e);
            return out;
        }
    };
    while out.seen.distinct < total && back.elapsed() < CATCH_UP_LIMIT {
        match c.listen(id, Duration::from_secs(5)).await {
            Listened::Event(e) => out.seen.event(e.sequence_id, e.data.as_ref()),
            Listened::Gone => {
                out.resubscribes += 1;
                if let Some(new) = c.subscribe().await {
                    id = new;
                }
            }
            Listened::Beep | Listened::Failed => {}
        }
    }
    out.catch_up = (out.seen.distinct >= total)
        .then_some(out.seen.last_at)
        .flatten()
        .map(|t| t.saturating_duration_since(back));
    // A duplicate of an event already seen would come now.
    if let Listened::Event(e) = c.listen(id, QUIET).await {
        out.seen.event(e.sequence_id, e.data.as_ref());
    }
    c.unsubscribe(id).await;
    out
}

/// The `p` quantile of `v` (sorted), seconds.
fn pct_secs(v: &[Duration], p: f64) -> f64 {
    let i = ((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1));
    v.get(i).map_or(f64::NAN, Duration::as_secs_f64)
}

/// `a.durable` durable subscribers away while `a.missed` events are published, then back;
/// prints (and returns) the summary line.
async fn durable_catch_up(a: &Idle) -> String {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.durable + 64)
        .build()
        .expect("client");
    let n = a.urls.len();
    let client = |k: usize| {
        let subscriber = format!("bench-idle-{}-{k}:{CHANNEL}", std::process::id());
        Durable::new(
            http.clone(),
            a.urls[k % n].clone(),
            a.token.clone(),
            subscriber,
        )
    };
    // Subscribed (their position stored at the head), then stopped.
    for k in 0..a.durable {
        let c = client(k);
        let id = c
            .try_subscribe()
            .await
            .unwrap_or_else(|e| panic!("durable subscribe as {}: {e}", c.subscriber));
        c.unsubscribe(id).await;
    }
    let t = Instant::now();
    let (published, errors, _) = publish_n(
        http.clone(),
        a.urls.clone(),
        a.token.clone(),
        a.rate,
        a.missed,
    )
    .await;
    println!(
        "{} durable subscribers away; published {published} events ({errors} errors) in {:.2} s",
        a.durable,
        t.elapsed().as_secs_f64()
    );
    let rss0 = rss_all(&a.server_pids);
    let server_cpu = || a.server_pids.iter().copied().map(cpu_secs).sum::<f64>();
    let cpu0 = server_cpu();
    let t = Instant::now();
    let tasks: Vec<_> = (0..a.durable)
        .map(|k| tokio::spawn(resume(client(k), published)))
        .collect();
    let mut backs = Vec::new();
    for task in tasks {
        backs.push(task.await.expect("durable subscriber"));
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = server_cpu() - cpu0;
    for b in &backs {
        if let Some(e) = &b.refused {
            println!("durable subscribe refused: {e}");
        }
    }
    let got: u64 = backs.iter().map(|b| b.seen.distinct).sum();
    let missing: u64 = backs
        .iter()
        .map(|b| published.saturating_sub(b.seen.distinct))
        .sum();
    let dups: u64 = backs.iter().map(|b| b.seen.duplicates).sum();
    let disorder: u64 = backs.iter().map(|b| b.seen.disorder).sum();
    let resubscribes: u64 = backs.iter().map(|b| b.resubscribes).sum();
    let mut catch_up: Vec<Duration> = backs.iter().filter_map(|b| b.catch_up).collect();
    catch_up.sort();
    let memory = if a.server_pids.is_empty() {
        String::new()
    } else {
        format!(
            "; server CPU {cpu:.1} s ({:.3} ms per event), RSS {:.1} MiB before the catch-up, \
             {:.1} MiB after",
            cpu * 1e3 / got.max(1) as f64,
            rss0 as f64 / 1024.0,
            rss_all(&a.server_pids) as f64 / 1024.0
        )
    };
    let line = format!(
        "W5: {} durable subscribers restarted after {published} missed events: got {got}/{}; \
         missing {missing}, duplicates {dups}, out of order {disorder}, resubscribes \
         {resubscribes}; catch-up p50 {:.2} s, max {:.2} s ({} of {} caught up; {:.0} events/s \
         delivered over {wall:.2} s){memory}",
        a.durable,
        published * a.durable as u64,
        pct_secs(&catch_up, 0.5),
        pct_secs(&catch_up, 1.0),
        catch_up.len(),
        a.durable,
        got as f64 / wall.max(1e-9),
    );
    println!("{line}");
    line
}
