//! W3: the read queries (found from the data a seed wrote) and their sequential timing.
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stats::Run;

/// The W3 queries, about a node found at offset 500 of the children of the first checkout
/// (the tests made by `POST /node` have no parent).
pub async fn read_queries(http: &reqwest::Client, url: &str) -> Vec<String> {
    let get = |q: String| async move {
        let v: Value = http
            .get(format!("{url}{q}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        v
    };
    let checkouts = get("/latest/nodes/fast?kind=checkout&limit=1".to_owned()).await;
    let parent = checkouts[0]["id"].as_str().unwrap_or_default().to_owned();
    let children = get(format!(
        "/latest/nodes/fast?parent={parent}&limit=1&offset=500"
    ))
    .await;
    let id = children[0]["id"].as_str().unwrap_or_default().to_owned();
    // A deep page by offset against the same page by cursor (the id before it).
    let tests = get("/latest/count?kind=test".to_owned()).await;
    let half = tests.as_u64().unwrap_or(0) / 2;
    let before = get(format!(
        "/latest/nodes/fast?kind=test&offset={}&limit=1",
        half.saturating_sub(1)
    ))
    .await;
    let cursor = before[0]["id"].as_str().unwrap_or_default().to_owned();
    vec![
        format!("/latest/node/{id}"),
        "/latest/nodes?kind=test&limit=100".to_owned(),
        "/latest/nodes/fast?kind=test&limit=100".to_owned(),
        "/latest/nodes/fast?kind=test&state=done&limit=100".to_owned(),
        "/latest/nodes/fast?treeid=bench-tree&limit=100".to_owned(),
        format!("/latest/nodes/fast?parent={parent}&limit=100"),
        "/latest/nodes/fast?state=running&timeout__lt=2030-01-01T00:00:00&limit=100".to_owned(),
        "/latest/nodes/fast?kind=checkout&created__gt=2020-01-01".to_owned(),
        "/latest/nodes/fast?data.kernel_revision.commit=abcdef0123456789abcdef0123456789abcdef01&limit=100".to_owned(),
        "/latest/count?kind=test&state=done".to_owned(),
        format!("/latest/nodes/fast?kind=test&offset={half}&limit=100"),
        format!("/latest/nodes/fast?kind=test&id__gt={cursor}&limit=100"),
    ]
}

/// `requests` sequential `GET`s of `q`, stopping early after `cap` (a slow query at a
/// large node count must not hold up the rest of a run).
pub async fn read_one(
    http: &reqwest::Client,
    url: &str,
    q: &str,
    requests: usize,
    cap: Duration,
) -> Run {
    let mut lat = Vec::with_capacity(requests);
    let start = Instant::now();
    for _ in 0..requests {
        if start.elapsed() > cap {
            break;
        }
        let t = Instant::now();
        let r = http.get(format!("{url}{q}")).send().await.expect("get");
        assert!(r.status().is_success(), "{q}: {}", r.status());
        r.bytes().await.expect("body");
        lat.push(t.elapsed());
    }
    Run::new(format!("GET {q}"), lat, start.elapsed(), 0)
}
