//! Probes for load balancers and Kubernetes, without authentication: `GET /health` (whether
//! this server can reach its store: the report of `/maestro/health`), and the usual pair
//! `GET /healthz` (the process answers: a liveness probe, which must not fail while only the
//! database is away, or every server would be restarted at once) and `GET /readyz` (the
//! store answers: a readiness probe, which takes the server out of rotation until it does).
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

/// The operations of this module, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(report, live, ready))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(report))
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "server",
    responses((status = 200, description = "The store answers: the health report", body = Object), (status = 503, description = "The store does not answer", body = Object))
)]
async fn report(state: State<AppState>) -> Response {
    super::health(state).await
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "server",
    responses((status = 200, description = "The process answers (liveness), whether or not the store does", body = Object))
)]
async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "server",
    responses((status = 200, description = "The store answers (readiness)", body = Object), (status = 503, description = "The store does not answer", body = Object))
)]
async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::debug!(error = %e, "readiness: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    header::RETRY_AFTER,
                    crate::error::STORE_RETRY_AFTER_SECS.to_string(),
                )],
                Json(json!({"status": "unavailable", "detail": "The store does not answer"})),
            )
                .into_response()
        }
    }
}
