//! The browser pages (`/viewer`, `/dashboard`, `/stats`, `/analytics`, `/manage`, the
//! invite forms `GET /user/invite` and `GET /user/accept-invite`) and their static assets
//! (`/static/css/*`, `/static/js/*`, `/icons/*`), at the Python server's paths.
//!
//! The pages are static HTML and vanilla JavaScript that call the JSON API from the
//! browser, embedded in the binary (`assets.rs`): nothing to build or install, and they work
//! offline. Like every route they live under `/latest`, so the bare and `/v0` paths reach
//! them through the version rewrite.
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

mod assets;

use assets::Asset;

/// How a response may be cached.
#[derive(Clone, Copy)]
enum Caching {
    /// The tool pages: never cached, as the Python server sends them (they change with each
    /// release, and a stale page could call the API in an old way).
    NoStore,
    /// The invite forms: kept, but checked with the server (`ETag`) before each use.
    Revalidate,
    /// JS, CSS and icons: an hour, as the Python server; their URLs carry a version, so a
    /// new release is fetched at once anyway.
    Hour,
}

pub(crate) fn router() -> Router<AppState> {
    // `GET /user/invite` and `GET /user/accept-invite` join the POST routes of the same
    // paths (`routes::invites`): axum merges the method routers of equal paths.
    Router::new()
        .route("/viewer", get(|h: HeaderMap| page("viewer", h)))
        .route("/dashboard", get(|h: HeaderMap| page("dashboard", h)))
        .route("/stats", get(|h: HeaderMap| page("stats", h)))
        .route("/analytics", get(|h: HeaderMap| page("analytics", h)))
        .route("/manage", get(|h: HeaderMap| page("manage", h)))
        .route("/user/invite", get(|h: HeaderMap| page("invite", h)))
        .route(
            "/user/accept-invite",
            get(|h: HeaderMap| page("accept-invite", h)),
        )
        .route("/static/css/{file}", get(css))
        .route("/static/js/{file}", get(js))
        .route("/icons/{name}", get(icon))
}

async fn page(name: &'static str, headers: HeaderMap) -> Response {
    let Some(asset) = assets::page(name) else {
        // Every routed name has its page (a unit test checks); never a panic on a request.
        return ApiError::NotFound("Not Found".into()).into_response();
    };
    let caching = if matches!(asset.name, "invite" | "accept-invite") {
        Caching::Revalidate
    } else {
        Caching::NoStore
    };
    let mut resp = serve(asset, &headers, caching);
    let h = resp.headers_mut();
    // The pages load only their own scripts and styles and talk only to this origin: an
    // injection that slipped past the escaping could neither run inline code nor send data
    // elsewhere.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    // The accept-invite URL carries the invite token: no other site may see it in a
    // `Referer`, say when a page links to an artifact elsewhere.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn css(Path(file): Path<String>, headers: HeaderMap) -> Response {
    static_file(assets::css, &file, &headers)
}

async fn js(Path(file): Path<String>, headers: HeaderMap) -> Response {
    static_file(assets::js, &file, &headers)
}

fn static_file(
    find: fn(&str) -> Option<&'static Asset>,
    file: &str,
    headers: &HeaderMap,
) -> Response {
    if !safe_name(file) {
        return ApiError::BadRequest("Invalid filename".into()).into_response();
    }
    match find(file) {
        Some(asset) => serve(asset, headers, Caching::Hour),
        None => ApiError::NotFound("File not found".into()).into_response(),
    }
}

async fn icon(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if !(safe_name(&name) && name.len() > ".png".len() && name.ends_with(".png")) {
        return ApiError::BadRequest("Invalid icon name".into()).into_response();
    }
    match assets::icon(&name) {
        Some(asset) => serve(asset, &headers, Caching::Hour),
        // The Python server answers 500 for a missing icon (a quirk); a 404 says what it is.
        None => ApiError::NotFound("Icon not found".into()).into_response(),
    }
}

/// `^[A-Za-z0-9_.-]+$`, the Python server's rule for asset names.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The asset with its type and caching headers, or a 304 when the client's copy (by
/// `If-None-Match`) is current.
fn serve(asset: &'static Asset, headers: &HeaderMap, caching: Caching) -> Response {
    let etag = HeaderValue::from_str(&asset.etag).ok();
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(5);
    match caching {
        Caching::NoStore => {
            out.push((
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            ));
            out.push((header::PRAGMA, HeaderValue::from_static("no-cache")));
            out.push((header::EXPIRES, HeaderValue::from_static("0")));
        }
        Caching::Revalidate => {
            out.push((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
        }
        Caching::Hour => {
            out.push((
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ));
        }
    }
    let cacheable = !matches!(caching, Caching::NoStore);
    if let (true, Some(tag)) = (cacheable, &etag) {
        out.push((header::ETAG, tag.clone()));
        if client_has(headers, &asset.etag) {
            return with_headers(StatusCode::NOT_MODIFIED.into_response(), out);
        }
    }
    out.push((
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    ));
    out.push((
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ));
    with_headers(asset.body.clone().into_response(), out)
}

/// `resp` with `headers`, each replacing what the response had (`Bytes` come as
/// `application/octet-stream`; `HeaderMap::extend` would add a second type).
fn with_headers(mut resp: Response, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    for (name, value) in headers {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// Whether `If-None-Match` names `etag` (or `*`); weak tags compare equal too (RFC 9110
/// 13.1.2: the weak comparison).
fn client_has(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_follow_the_python_rule() {
        for ok in ["viewer.js", "a_b-c.1.css", "x"] {
            assert!(safe_name(ok), "{ok}");
        }
        for bad in ["", "..%2f", "a b", "a/b", "é.js", "a\\b"] {
            assert!(!safe_name(bad), "{bad}");
        }
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(client_has(&h, "\"a\""));
        assert!(client_has(&h, "\"b\""));
        assert!(!client_has(&h, "\"c\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(client_has(&h, "\"c\""));
        assert!(!client_has(&HeaderMap::new(), "\"a\""));
    }
}
