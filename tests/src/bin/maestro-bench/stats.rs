//! What a workload measured (latencies, wall time, nodes written), how it is printed, and
//! the server CPU and memory read from `/proc`.
use std::time::Duration;

/// Kernel clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`).
const CLK_TCK: f64 = 100.0;

/// One workload's measurements.
pub struct Run {
    /// What ran.
    pub name: String,
    /// Latency of each request, sorted.
    pub lat: Vec<Duration>,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// Nodes written, when the run writes nodes (for nodes/s).
    pub nodes: usize,
}

impl Run {
    /// A run of `lat` (any order) in `wall`.
    pub fn new(name: String, mut lat: Vec<Duration>, wall: Duration, nodes: usize) -> Self {
        lat.sort();
        Self {
            name,
            lat,
            wall,
            nodes,
        }
    }

    /// The `p` quantile of the latencies (zero without requests).
    pub fn pct(&self, p: f64) -> Duration {
        let i = ((self.lat.len() as f64 * p) as usize).min(self.lat.len().saturating_sub(1));
        self.lat.get(i).copied().unwrap_or_default()
    }

    /// The line the single-workload subcommands print.
    pub fn print(&self) {
        let secs = self.wall.as_secs_f64().max(1e-9);
        let nodes = if self.nodes > 0 {
            format!(", {:.0} nodes/s", self.nodes as f64 / secs)
        } else {
            String::new()
        };
        println!(
            "{}: {} requests in {secs:.2}s = {:.0}/s{nodes}; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.name,
            self.lat.len(),
            self.lat.len() as f64 / secs,
            self.pct(0.50).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3,
            self.lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
}

/// Waits until the server at `pid` is idle (under 5% of a core over 200 ms), at most
/// `max`: what a workload left for the server to finish on its own threads (the SQLite
/// checkpoint of the pages a seed wrote) is then counted in that workload's CPU, not in the
/// next one's.
pub async fn settle(pid: u32, max: Duration) {
    let step = Duration::from_millis(200);
    let deadline = std::time::Instant::now() + max;
    let mut last = cpu_secs(pid);
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(step).await;
        let now = cpu_secs(pid);
        if now - last < 0.05 * step.as_secs_f64() {
            return;
        }
        last = now;
    }
}

/// CPU time of `pid` so far, in seconds: the sum of its threads' `schedstat` run times
/// (nanoseconds, so that a run of a few hundred fast requests is measured too), or utime +
/// stime of `/proc/<pid>/stat` (10 ms ticks) where schedstat is missing. A thread that
/// ends during a run takes its time with it; tokio's threads live on (blocking threads for
/// 10 s idle), so this is rare.
pub fn cpu_secs(pid: u32) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
    let from_tasks: Option<u64> = tasks.ok().map(|dir| {
        dir.filter_map(|t| {
            let path = t.ok()?.path().join("schedstat");
            let text = std::fs::read_to_string(path).ok()?;
            text.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
    });
    from_tasks.map_or_else(|| stat_secs(pid), |ns| ns as f64 / 1e9)
}

/// utime + stime of `pid`, in seconds.
fn stat_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / CLK_TCK
}

/// Resident memory of the processes, in KiB.
pub fn rss_all(pids: &[u32]) -> u64 {
    pids.iter().map(|p| status_kib(*p, "VmRSS")).sum()
}

/// A KiB figure of `/proc/<pid>/status` (`VmRSS`, `RssAnon`, `RssFile`, ...); 0 when absent.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The CPU of the servers at `--server-pid` when a single-workload subcommand starts, to
/// print what its run cost them per request.
pub struct ServerCpu<'a> {
    pids: &'a [u32],
    before: f64,
}

impl<'a> ServerCpu<'a> {
    /// Reads the servers' CPU now (nothing without pids).
    pub fn start(pids: &'a [u32]) -> Self {
        Self {
            pids,
            before: pids.iter().copied().map(cpu_secs).sum(),
        }
    }

    /// Prints `run`, then the servers' CPU since [`ServerCpu::start`] per request.
    pub fn print_after(&self, run: &Run) {
        run.print();
        if self.pids.is_empty() {
            return;
        }
        let spent: f64 = self.pids.iter().copied().map(cpu_secs).sum::<f64>() - self.before;
        println!(
            "  server CPU {spent:.3} s, {:.3} ms per request",
            spent * 1e3 / run.lat.len().max(1) as f64
        );
    }
}
