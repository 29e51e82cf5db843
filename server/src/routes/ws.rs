//! `GET /ws`: the WebSocket event stream (no authentication: events are public, as
//! `/events` is). The session itself lives in `crate::ws`.
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;

use crate::state::AppState;

/// Largest client message accepted; subscriptions are small.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Read buffer per socket (tungstenite's default is 128 KiB): clients send little, and
/// idle sockets should cost little memory.
const READ_BUFFER: usize = 8 * 1024;

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(upgrade))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[utoipa::path(
    get,
    path = "/ws",
    tag = "events",
    responses((status = 101, description = "A WebSocket of the live event stream (Maestro extension; see the README)"), (status = 400, description = "Not a WebSocket upgrade", body = String), (status = 426, description = "Not a WebSocket upgrade", body = String), (status = 503, description = "The server is shutting down", body = String))
)]
async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            let session = crate::ws::serve(
                state.store.clone(),
                state.ws.clone(),
                state.metrics.clone(),
                tokio_util::sync::CancellationToken::clone(&state.shutdown),
                sink,
                stream,
            );
            // Tracked, so that shutdown waits for the close frame.
            state.tasks.track_future(session)
        })
}
