//! The MongoDB commands (round trips) a server sent, read from its `/metrics`
//! (`maestro_mongodb_commands_total`, counted when the server runs with
//! `--mongodb-count-commands`), so that `all` reports commands per request.
use std::collections::BTreeMap;

/// Commands sent so far, by command name.
pub type Counts = BTreeMap<String, f64>;

/// The server's command counters now; `None` when it counts none (SQLite, or counting off).
pub async fn fetch(http: &reqwest::Client, url: &str) -> Option<Counts> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let counts: Counts = text
        .lines()
        .filter_map(|l| l.strip_prefix("maestro_mongodb_commands_total{command=\""))
        .filter_map(|rest| {
            let (name, value) = rest.split_once("\"} ")?;
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect();
    (!counts.is_empty()).then_some(counts)
}

/// What was sent between `before` and `after`, per request of `requests`: the total and
/// the commands that make it up (`find 1.00, insert 1.00, ...`).
pub fn per_request(before: &Counts, after: &Counts, requests: usize) -> (f64, String) {
    let per = requests.max(1) as f64;
    let mut total = 0.0;
    let mut parts = Vec::new();
    for (name, a) in after {
        let d = a - before.get(name).copied().unwrap_or(0.0);
        if d > 0.0 {
            total += d;
            parts.push(format!("{name} {:.2}", d / per));
        }
    }
    (total / per, parts.join(", "))
}
