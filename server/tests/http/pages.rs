//! The web pages and their assets: paths under every prefix, content types, caching
//! headers, the invite forms answering GET, and the 400/404 of bad asset names.
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use maestro_server::app;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::harness::TestApp;

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn fetch(t: &TestApp, method: &str, uri: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(t.state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Got {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

const TOOLS: [(&str, &str); 5] = [
    ("viewer", "Maestro API Viewer"),
    ("dashboard", "Maestro API Dashboard"),
    ("stats", "Maestro API Stats"),
    ("analytics", "Maestro API Analytics"),
    ("manage", "Maestro API Manage"),
];

const FORMS: [(&str, &str); 3] = [
    ("user/invite", "Maestro API Invite"),
    ("user/accept-invite", "Maestro API Accept Invite"),
    ("user/accept-invite?token=x", "Maestro API Accept Invite"),
];

#[tokio::test]
async fn every_page_is_html_under_every_prefix_with_its_caching() {
    let t = TestApp::new().await;
    for prefix in ["", "/latest", "/v0"] {
        for (page, title) in TOOLS.iter().chain(FORMS.iter()) {
            let uri = format!("{prefix}/{page}");
            let r = fetch(&t, "GET", &uri, &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
            assert_eq!(
                r.header("content-type"),
                "text/html; charset=utf-8",
                "{uri}"
            );
            assert!(r.text.starts_with("<!DOCTYPE html>"), "{uri}");
            assert!(r.text.contains(&format!("<title>{title}</title>")), "{uri}");
            assert!(
                r.header("content-security-policy")
                    .contains("default-src 'self'"),
                "{uri}"
            );
            assert_eq!(r.header("referrer-policy"), "no-referrer", "{uri}");
            if page.starts_with("user/") {
                assert_eq!(r.header("cache-control"), "no-cache", "{uri}");
                assert!(r.header("etag").starts_with('"'), "{uri}");
            } else {
                assert_eq!(
                    r.header("cache-control"),
                    "no-cache, no-store, must-revalidate",
                    "{uri}"
                );
                assert_eq!((r.header("pragma"), r.header("expires")), ("no-cache", "0"));
            }
        }
    }
}

#[tokio::test]
async fn the_invite_forms_answer_get_and_keep_their_post() {
    let t = TestApp::new().await;
    // The link `POST /user/invite` hands out, opened in a browser: the form, not a 405.
    let r = fetch(&t, "GET", "/user/accept-invite?token=x", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("accept-invite.js"), "{}", r.text);
    let post = t
        .send(
            "POST",
            "/user/accept-invite",
            None,
            Some(&json!({"token": "x", "password": "whatever-1"}).to_string()),
        )
        .await;
    assert_eq!(post.status, StatusCode::BAD_REQUEST, "{}", post.text);
    assert_eq!(
        post.body,
        json!({"detail": "Invalid or expired invite token"})
    );
    let post = t.send("POST", "/user/invite", None, Some("{}")).await;
    assert_eq!(post.status, StatusCode::UNAUTHORIZED, "{}", post.text);
    for method in ["PUT", "DELETE"] {
        let r = fetch(&t, method, "/user/accept-invite", &[]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let r = fetch(&t, "POST", "/viewer", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = fetch(&t, "HEAD", "/viewer", &[]).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, ""));
}

/// `src="..."` and `href="..."` values of a page that carry a version (its assets).
fn assets_of(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| html.split(attr).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|r| r.contains("?v="))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_asset_a_page_names_is_served_with_its_type_and_cache() {
    let t = TestApp::new().await;
    for prefix in ["/", "/latest/", "/v0/"] {
        for page in ["viewer", "manage", "user/invite", "user/accept-invite"] {
            let page_uri = format!("{prefix}{page}");
            let html = fetch(&t, "GET", &page_uri, &[]).await.text;
            let base = url::Url::parse(&format!("http://localhost{page_uri}")).unwrap();
            let assets = assets_of(&html);
            assert!(assets.len() >= 3, "{page_uri}: {assets:?}");
            for a in assets {
                let target = base.join(&a).unwrap();
                let uri = format!("{}?{}", target.path(), target.query().unwrap_or_default());
                assert!(!uri.contains("/user/static"), "{page_uri} -> {uri}");
                let r = fetch(&t, "GET", &uri, &[]).await;
                assert_eq!(r.status, StatusCode::OK, "{page_uri} -> {uri}");
                let want = if uri.contains(".css") {
                    "text/css; charset=utf-8"
                } else {
                    "text/javascript; charset=utf-8"
                };
                assert_eq!(r.header("content-type"), want, "{uri}");
                assert_eq!(r.header("cache-control"), "public, max-age=3600", "{uri}");
                assert_eq!(r.header("x-content-type-options"), "nosniff", "{uri}");
                assert!(!r.text.is_empty());
            }
        }
    }
}

#[tokio::test]
async fn a_current_copy_gets_304() {
    let t = TestApp::new().await;
    let first = fetch(&t, "GET", "/static/js/viewer.js", &[]).await;
    let tag = first.header("etag").to_owned();
    assert!(tag.len() > 2, "{tag}");
    let again = fetch(
        &t,
        "GET",
        "/latest/static/js/viewer.js",
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.text, "");
    assert_eq!(again.header("etag"), tag);
    let other = fetch(
        &t,
        "GET",
        "/static/js/viewer.js",
        &[("if-none-match", "\"nope\"")],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    let form = fetch(&t, "GET", "/user/invite", &[]).await;
    let tag = form.header("etag").to_owned();
    let form = fetch(&t, "GET", "/user/invite", &[("if-none-match", &tag)]).await;
    assert_eq!(form.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn icons_are_png_and_bad_names_are_refused() {
    let t = TestApp::new().await;
    for icon in ["ok.png", "bad.png", "warning.png"] {
        for prefix in ["", "/latest", "/v0"] {
            let r = fetch(&t, "GET", &format!("{prefix}/icons/{icon}"), &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{icon}");
            assert_eq!(r.header("content-type"), "image/png");
            assert_eq!(r.header("cache-control"), "public, max-age=3600");
        }
    }
    let cases = [
        (
            "/static/js/nope.js",
            StatusCode::NOT_FOUND,
            "File not found",
        ),
        (
            "/static/css/nope.css",
            StatusCode::NOT_FOUND,
            "File not found",
        ),
        // A script is not a stylesheet, whatever its name.
        (
            "/static/css/viewer.js",
            StatusCode::NOT_FOUND,
            "File not found",
        ),
        (
            "/static/js/a%20b.js",
            StatusCode::BAD_REQUEST,
            "Invalid filename",
        ),
        (
            "/static/js/%2e%2e%2fCargo.toml",
            StatusCode::BAD_REQUEST,
            "Invalid filename",
        ),
        ("/icons/nope.png", StatusCode::NOT_FOUND, "Icon not found"),
        (
            "/icons/ok.gif",
            StatusCode::BAD_REQUEST,
            "Invalid icon name",
        ),
        ("/icons/.png", StatusCode::BAD_REQUEST, "Invalid icon name"),
        (
            "/icons/a%2Fb.png",
            StatusCode::BAD_REQUEST,
            "Invalid icon name",
        ),
    ];
    for (uri, status, detail) in cases {
        let r = fetch(&t, "GET", uri, &[]).await;
        assert_eq!(r.status, status, "{uri}: {}", r.text);
        assert_eq!(r.json(), json!({"detail": detail}), "{uri}");
    }
    // Only one directory level: deeper paths are unknown routes.
    let r = fetch(&t, "GET", "/static/js/x/y.js", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json(), json!({"detail": "Not Found"}));
}
