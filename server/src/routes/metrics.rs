//! `GET /metrics` (kernelci-api.md section 12): the Prometheus text exposition of the
//! server's metrics, without authentication as in the Python server.
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::openapi::Store;
use crate::state::AppState;

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(scrape))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String), Store)
)]
async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state
        .metrics
        .render(&state.pubsub, state.store.event_log())
        .map_err(|e| ApiError::Internal(format!("encoding the metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}
