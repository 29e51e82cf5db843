//! `GET /metrics` (kernelci-api.md section 12): the Prometheus text exposition of the
//! server's metrics, without authentication as in the Python server.
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state
        .metrics
        .render(&state.pubsub, state.store.event_log())
        .map_err(|e| ApiError::Internal(format!("encoding the metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}
