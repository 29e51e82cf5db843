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

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(super::health))
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

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
