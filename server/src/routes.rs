//! The HTTP surface: routers per resource, version-prefix handling and fallbacks.
use axum::body::Body;
use axum::extract::State;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use utoipa::OpenApi;

use crate::state::AppState;

mod events;
mod groups;
mod health;
pub(crate) mod invites;
mod kv;
mod metrics;
mod nodes;
mod pubsub;
mod root;
mod telemetry;
mod users;
mod ws;

/// The API versions served; `/v0/...` is the same as `/latest/...`.
const SUPPORTED_VERSIONS: [&str; 1] = ["v0"];

/// The operations of this module, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(health))]
struct Docs;

/// Builds the routes of one part of the API, relative to `/latest`.
type PartRouter = fn() -> Router<AppState>;

/// Documents the operations of one part of the API, as its routes are written.
type PartDocs = fn() -> utoipa::openapi::OpenApi;

/// Every part of the API: its routes and their documentation side by side, so a part
/// cannot be served undocumented (`openapi.rs` merges the documents; `tests/http/openapi.rs`
/// checks that each `.route(...)` of the sources is in it).
pub(crate) const PARTS: [(PartRouter, PartDocs); 15] = [
    (own_router, <Docs as OpenApi>::openapi),
    (health::router, <health::Docs as OpenApi>::openapi),
    (root::router, <root::Docs as OpenApi>::openapi),
    (nodes::router, <nodes::Docs as OpenApi>::openapi),
    (users::router, <users::Docs as OpenApi>::openapi),
    (groups::router, <groups::Docs as OpenApi>::openapi),
    (invites::router, <invites::Docs as OpenApi>::openapi),
    (kv::router, <kv::Docs as OpenApi>::openapi),
    (metrics::router, <metrics::Docs as OpenApi>::openapi),
    (telemetry::router, <telemetry::Docs as OpenApi>::openapi),
    (ws::router, <ws::Docs as OpenApi>::openapi),
    (pubsub::router, <pubsub::Docs as OpenApi>::openapi),
    (events::router, <events::Docs as OpenApi>::openapi),
    (
        crate::pages::router,
        <crate::pages::Docs as OpenApi>::openapi,
    ),
    (
        crate::openapi::router,
        <crate::openapi::Docs as OpenApi>::openapi,
    ),
];

/// The routes of this module.
fn own_router() -> Router<AppState> {
    Router::new().route("/maestro/health", get(health))
}

/// Every route, under `/latest`. The layers that apply to every request are not here but
/// around the finished router ([`around_router`]): a layer of a `Router` wraps each route,
/// and each layer clones the services under it on every request (the whole stack, once per
/// layer: 12 clones of the state per `GET /node/{id}`, a third of its instructions).
pub(crate) fn router() -> Router<AppState> {
    let api = PARTS
        .iter()
        .fold(Router::new(), |api, (part, _)| api.merge(part()));
    Router::new()
        .nest("/latest", api)
        .route(
            &format!("{UNSUPPORTED_VERSION_PATH}/{{v}}"),
            axum::routing::any(unsupported_version),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The HTTP service of every request: the routes of `router` (with their state), behind the
/// body limit, the JSON 413, `Connection: close` for unread bodies, request tracing, and
/// the rewrite of version prefixes, which must come before routing.
pub(crate) fn around_router(router: Router) -> crate::App {
    let layered = tower::ServiceBuilder::new()
        // Tracing's answer body is its own type; the service answers axum's.
        .map_response(IntoResponse::into_response)
        .map_request(rewrite_version_prefix as fn(Request) -> Request)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(
            crate::unread_body::close_if_body_unread,
        ))
        .layer(axum::middleware::map_response(json_payload_too_large))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_LIMIT))
        .service(router);
    tower::util::BoxCloneSyncService::new(layered)
}

/// The largest request body read (axum's default, stated so that the 413 can say it).
pub(crate) const REQUEST_BODY_LIMIT: usize = 2 << 20;

/// Axum's own 413 (a body over [`REQUEST_BODY_LIMIT`]) is plain text; every error of this
/// API is JSON `{"detail": ...}`.
async fn json_payload_too_large(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return resp;
    }
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(json!({
            "detail": format!("Request body is larger than the limit of {REQUEST_BODY_LIMIT} bytes")
        })),
    )
        .into_response()
}

/// `GET /maestro/health` (a Maestro extension, no authentication): 200 when the store
/// answers, else 503 with `detail` and `Retry-After`; both with the store's name and the
/// event window's use.
#[utoipa::path(
    get,
    path = "/maestro/health",
    tag = "server",
    responses((status = 200, description = "The store answers", body = Object), (status = 503, description = "The store does not answer", body = Object))
)]
async fn health(State(state): State<AppState>) -> Response {
    let started = std::time::Instant::now();
    let ping = state.store.ping().await;
    let (bytes, events) = state.store.event_log().usage();
    let report = json!({
        "store": {
            "backend": state.store.backend_name(),
            "reachable": ping.is_ok(),
            "latency_ms": started.elapsed().as_millis() as u64,
        },
        "events": {
            "head": state.store.event_log().head(),
            "window_events": events,
            "window_bytes": bytes,
        },
    });
    match ping {
        Ok(()) => {
            let mut body = report;
            body["status"] = json!("ok");
            Json(body).into_response()
        }
        Err(e) => {
            let detail = match e {
                crate::store::StoreError::Unavailable(d) => d,
                other => {
                    tracing::error!(error = %other, "health check of the store");
                    "The store failed, check the server logs".to_owned()
                }
            };
            let mut body = report;
            body["status"] = json!("unavailable");
            body["detail"] = json!(detail);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    header::RETRY_AFTER,
                    crate::error::STORE_RETRY_AFTER_SECS.to_string(),
                )],
                Json(body),
            )
                .into_response()
        }
    }
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"})))
}

async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"detail": "Method Not Allowed"})),
    )
}

/// Where requests for an unsupported `/vN` prefix are sent, to be answered 400.
const UNSUPPORTED_VERSION_PATH: &str = "/__unsupported_version";

/// Rewrites `/v0/x` and `/x` to `/latest/x` before routing; any other `/vN` goes to a
/// handler answering 400, as the Python server's `VersionRedirectMiddleware` does.
pub(crate) fn rewrite_version_prefix(mut req: Request) -> Request {
    let path = req.uri().path().to_owned();
    let version = path
        .strip_prefix("/v")
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
        .map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            format!("v{}", &rest[..end])
        });
    let new_path = match version {
        Some(v) if SUPPORTED_VERSIONS.contains(&v.as_str()) => {
            format!("/latest{}", &path[v.len() + 1..])
        }
        Some(v) => format!("{UNSUPPORTED_VERSION_PATH}/{v}"),
        // Left to the normalisation below: the nested router knows the root only as `/latest`.
        None if path == "/latest/" => path.clone(),
        None if path == "/latest" || path.starts_with("/latest/") => return req,
        None => format!("/latest{path}"),
    };
    let new_path = if new_path == "/latest/" {
        "/latest".to_owned()
    } else {
        new_path
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    if let Ok(uri) = pq.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    req
}

async fn unsupported_version(axum::extract::Path(v): axum::extract::Path<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from(format!("Unsupported API version: {v}")),
    )
        .into_response()
}
