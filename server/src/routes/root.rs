//! `GET /` (also `/latest`, `/latest/`, `/v0`, `/v0/`): the API's hello. Clients (`kci api
//! hello`, the Python server's end-to-end suite) get JSON `{"message": "KernelCI API"}`; a
//! browser, which prefers `text/html` over JSON, gets a small index page instead.
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(root))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/", get(root))
}

#[utoipa::path(
    get,
    path = "/",
    tag = "server",
    responses((status = 200, description = "`{\"message\": \"KernelCI API\"}`, or the index page when `Accept` prefers HTML", content((Object = "application/json"), (String = "text/html"))))
)]
async fn root(headers: HeaderMap) -> Response {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let mut resp = if prefers_html(&accept) {
        Html(INDEX_PAGE).into_response()
    } else {
        Json(json!({"message": "KernelCI API"})).into_response()
    };
    // One URL, two representations: caches must key on `Accept`.
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    resp
}

/// Whether an `Accept` header ranks `text/html` above `application/json`. Ties (`*/*`, no
/// header, a header naming neither) go to JSON, which is what API clients expect.
fn prefers_html(accept: &str) -> bool {
    quality(accept, "text", "html") > quality(accept, "application", "json")
}

/// The quality the `Accept` header gives `kind/sub`: that of the most specific range that
/// matches it (`kind/sub` over `kind/*` over `*/*`), 0 when none does (RFC 9110 12.5.1).
/// Without any range, everything is acceptable at quality 1.
fn quality(accept: &str, kind: &str, sub: &str) -> f32 {
    if accept.trim().is_empty() {
        return 1.0;
    }
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let Some((k, s)) = media.split_once('/') else {
            continue;
        };
        let specificity = match (k, s) {
            _ if k == kind && s == sub => 2,
            _ if k == kind && s == "*" => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
            .unwrap_or(1.0);
        if best.is_none_or(|(spec, _)| specificity > spec) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// The index page: what this server is and where to go from here. Links are relative and
/// without a prefix, so that they work from `/`, `/latest`, `/latest/`, `/v0` and `/v0/`
/// alike (an unprefixed path is served under `/latest`).
const INDEX_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>KernelCI API</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
p.sub { margin-top: 0; color: #666; }
ul { padding-left: 1.2rem; }
code { background: #f3f3f3; padding: 0 0.25rem; border-radius: 3px; }
</style>
</head>
<body>
<h1>KernelCI API</h1>
<p class="sub">Served by Maestro, a KernelCI-compatible API server.</p>
<p>This is the API of a KernelCI pipeline: kernel checkouts, builds and tests as a tree of
nodes, with events as they change. Programs talk to it over JSON under
<code>/latest/</code>; for example <a href="nodes?limit=10"><code>/latest/nodes</code></a>
lists nodes and <a href="events?limit=10"><code>/latest/events</code></a> the recent
events.</p>
<h2>Tools</h2>
<ul>
<li><a href="viewer">Viewer</a>: browse nodes and their results</li>
<li><a href="dashboard">Dashboard</a>: recent activity at a glance</li>
<li><a href="manage">Manage</a>: users, groups and nodes (needs a token)</li>
<li><a href="analytics">Analytics</a> and <a href="stats">statistics</a></li>
<li><a href="maestro/health">Health</a>: whether the store answers</li>
</ul>
<h2>Documentation</h2>
<ul>
<li><a href="https://docs.kernelci.org/">KernelCI documentation</a></li>
<li><a href="https://github.com/kernelci/kernelci-api">The reference API server</a>, whose wire
contract this server keeps</li>
</ul>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_html_and_clients_json() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                      image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        assert!(prefers_html(firefox));
        assert!(prefers_html(chrome));
        for api in [
            "",
            "*/*",
            "application/json",
            "application/json, text/plain, */*",
            "text/html;q=0.5, application/json",
            "text/html, application/json",
            "text/plain",
            "garbage",
        ] {
            assert!(!prefers_html(api), "{api:?}");
        }
        assert!(prefers_html("text/*, application/json;q=0.4"));
        assert!(prefers_html("TEXT/HTML"));
        assert!(!prefers_html("text/html;q=0, */*"));
    }

    #[test]
    fn the_most_specific_range_sets_the_quality() {
        assert_eq!(quality("*/*;q=0.8, text/html;q=0.3", "text", "html"), 0.3);
        assert_eq!(quality("text/*;q=0.6, */*;q=0.1", "text", "html"), 0.6);
        assert_eq!(quality("image/png", "text", "html"), 0.0);
        assert_eq!(quality("text/html;level=1;q=0.7", "text", "html"), 0.7);
        assert_eq!(quality("text/html;q=7", "text", "html"), 1.0);
    }
}
