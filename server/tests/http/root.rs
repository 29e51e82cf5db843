//! The root (`GET /latest/` and its aliases): JSON hello for clients, HTML for browsers.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use maestro_server::app;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::harness::TestApp;

/// What Firefox sends for a page load.
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// Status, `Content-Type`, `Vary` and body of `method uri` with this `Accept` header.
async fn fetch(
    app_: &TestApp,
    method: &str,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, String, String, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = app(app_.state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (content_type, vary) = (header("content-type"), header("vary"));
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        vary,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

const PREFIXES: [&str; 10] = [
    "/",
    "/latest",
    "/latest/",
    "/v0",
    "/v0/",
    "/?x=1",
    "/latest?x=1",
    "/latest/?x=1&y=2",
    "/v0?x=1",
    "/v0/?x=1",
];

#[tokio::test]
async fn every_root_prefix_says_hello_in_json_to_clients() {
    let app = TestApp::new().await;
    for uri in PREFIXES {
        for accept in [None, Some("*/*"), Some("application/json")] {
            let (status, ctype, vary, text) = fetch(&app, "GET", uri, accept).await;
            assert_eq!(status, StatusCode::OK, "{uri} {accept:?}");
            assert!(ctype.starts_with("application/json"), "{uri}: {ctype}");
            assert_eq!(vary, "accept", "{uri}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body, json!({"message": "KernelCI API"}), "{uri} {accept:?}");
        }
    }
}

#[tokio::test]
async fn every_root_prefix_gives_browsers_the_index_page() {
    let app = TestApp::new().await;
    for uri in PREFIXES {
        let (status, ctype, vary, page) = fetch(&app, "GET", uri, Some(BROWSER)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(ctype, "text/html; charset=utf-8", "{uri}");
        assert_eq!(vary, "accept", "{uri}");
        assert!(page.starts_with("<!DOCTYPE html>"), "{uri}");
        for link in [
            "href=\"viewer\"",
            "href=\"dashboard\"",
            "href=\"manage\"",
            "href=\"https://docs.kernelci.org/\"",
        ] {
            assert!(page.contains(link), "{uri}: no {link}");
        }
    }
}

#[tokio::test]
async fn the_pages_api_links_work_from_every_prefix() {
    let app = TestApp::new().await;
    for prefix in ["/", "/latest", "/latest/", "/v0", "/v0/"] {
        let (_, _, _, page) = fetch(&app, "GET", prefix, Some(BROWSER)).await;
        let base = url::Url::parse(&format!("http://localhost{prefix}")).unwrap();
        let links: Vec<&str> = page
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|l| !l.starts_with("http"))
            .collect();
        assert!(links.len() >= 8, "{links:?}");
        for link in links {
            let target = base.join(link).unwrap();
            let uri = match target.query() {
                Some(q) => format!("{}?{q}", target.path()),
                None => target.path().to_owned(),
            };
            assert!(!uri.contains("/latest/latest"), "{prefix}: {uri}");
            let (status, _, _, text) = fetch(&app, "GET", &uri, None).await;
            assert_eq!(status, StatusCode::OK, "{prefix} -> {uri}: {text}");
        }
    }
}

#[tokio::test]
async fn head_and_other_paths_are_unchanged() {
    let app = TestApp::new().await;
    let (status, ctype, _, body) = fetch(&app, "HEAD", "/latest/", Some(BROWSER)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    assert!(ctype.starts_with("text/html"));
    let (status, _, _, text) = fetch(&app, "POST", "/latest/", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{text}");
    // Only the root is rewritten: other trailing slashes still miss.
    let (status, _, _, _) = fetch(&app, "GET", "/latest/count/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _, text) = fetch(&app, "GET", "/v1/", None).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::BAD_REQUEST, "Unsupported API version: v1")
    );
}
