//! Node endpoints: `/node/{id}`, `/nodes`, `/nodes/fast`, `/count`, `/nodes/{id}` and
//! `/batch/nodeset`.
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, put};
use axum::{Json, Router};
use maestro_common::{Filter, Node};
use serde_json::Value;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{json_body, query_bool, query_pairs};
use crate::nodes::ops;
use crate::state::AppState;

/// How long `/nodes/fast` may take before it answers 504, as the Python server.
const FAST_QUERY_TIMEOUT: Duration = Duration::from_secs(15);

/// Default page size of `/nodes`.
const DEFAULT_LIMIT: u64 = 50;

/// The newest event sequence stored before a read's query ran: stream from it (WebSocket
/// `subscribe` with `since`) to miss nothing that changed after the snapshot.
const SEQUENCE_HEADER: HeaderName = HeaderName::from_static("x-maestro-sequence");

/// A read answer whose body is JSON text made by the store (the stored documents as they
/// are), with [`SEQUENCE_HEADER`].
type RawSnapshot = ([(HeaderName, HeaderValue); 2], String);

/// `body`, JSON text, answered as `Json` would answer it, with the snapshot's sequence.
fn raw_snapshot(seq: [(HeaderName, HeaderValue); 1], body: String) -> RawSnapshot {
    let [sequence] = seq;
    (
        [
            sequence,
            (
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        body,
    )
}

/// An answer whose body is JSON text the write path made (the nodes serialised before they
/// moved into the store's write, so they need not be copied).
type RawJson = ([(HeaderName, HeaderValue); 1], String);

/// `body`, JSON text, answered as `Json` would answer it.
fn raw_json(body: String) -> RawJson {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
}

/// The header of a snapshot; read the head *before* querying.
fn sequence(state: &AppState) -> [(HeaderName, HeaderValue); 1] {
    [(SEQUENCE_HEADER, state.store.event_log().head().into())]
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/node/{id}",
            get(get_node).put(replace_node).patch(patch_node),
        )
        .route("/node", axum::routing::post(create_node))
        .route("/nodes", get(list_nodes))
        .route("/nodes/fast", get(list_nodes_fast))
        .route("/nodes/{id}", put(put_hierarchy))
        .route("/count", get(count_nodes))
        .route("/batch/nodeset", put(batch_nodeset))
        // Maestro extension (the Python server has no such route): whether the caller may
        // edit a node, by the same rule the write paths apply, so that clients such as the
        // monitor ask instead of guessing.
        .route("/maestro/node/{id}/may-edit", get(may_edit))
        // Maestro extension: a checkout's regressions and fixes against the previous
        // checkout of its tree and branch (public, like every read).
        .route("/maestro/node/{id}/compare", get(compare_revision))
}

/// `GET /maestro/node/{id}/compare`: `RevisionCompare`; 400 bad id or not a checkout, 404
/// missing.
async fn compare_revision(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<maestro_common::compare::RevisionCompare>> {
    let id = ops::parse_id(&id)?;
    Ok(Json(
        crate::nodes::compare::compare(&*state.store, &id).await?,
    ))
}

/// `GET /maestro/node/{id}/may-edit`: `{"may_edit": bool}`; 400 bad id, 404 missing node,
/// 401 without a valid token.
async fn may_edit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = ops::parse_id(&id)?;
    let node = state
        .store
        .get_node(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Node not found with id: {id}")))?;
    Ok(Json(
        serde_json::json!({"may_edit": crate::nodes::authz::may_edit(&user, &node)}),
    ))
}

async fn get_node(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<RawSnapshot> {
    let id = ops::parse_id(&id)?;
    let seq = sequence(&state);
    // A missing node is `200 null`, which KernelCI clients rely on.
    let doc = state.store.get_node_json(&id).await?;
    Ok(raw_snapshot(seq, doc.unwrap_or_else(|| "null".to_owned())))
}

/// Splits `limit`/`offset` from the filter parameters.
struct Paged {
    limit: Option<String>,
    offset: Option<String>,
    filter: Filter,
}

fn paged(raw: Option<&str>) -> ApiResult<Paged> {
    let mut limit = None;
    let mut offset = None;
    let mut rest = Vec::new();
    for (k, v) in query_pairs(raw) {
        match k.as_str() {
            "limit" => limit = Some(v),
            "offset" => offset = Some(v),
            _ => rest.push((k, v)),
        }
    }
    let filter = Filter::from_params(rest).map_err(|e| ApiError::BadRequest(e.0))?;
    Ok(Paged {
        limit,
        offset,
        filter,
    })
}

/// A paging parameter as FastAPI validates it: an integer of at least `min`, else 422.
pub(crate) fn page_param(name: &str, raw: Option<&str>, min: u64, default: u64) -> ApiResult<u64> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= min as i64 => Ok(n as u64),
        Ok(_) => Err(ApiError::unprocessable(
            &["query", name],
            format!("Input should be greater than or equal to {min}"),
            "greater_than_equal",
            Value::String(raw.to_owned()),
        )),
        Err(_) => Err(ApiError::unprocessable(
            &["query", name],
            "Input should be a valid integer, unable to parse string as an integer",
            "int_parsing",
            Value::String(raw.to_owned()),
        )),
    }
}

async fn list_nodes(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<RawSnapshot> {
    let p = paged(q.as_deref())?;
    let limit = page_param("limit", p.limit.as_deref(), 1, DEFAULT_LIMIT)?;
    let offset = page_param("offset", p.offset.as_deref(), 0, 0)?;
    let seq = sequence(&state);
    let (items, total) = tokio::try_join!(
        state.store.find_nodes_json(&p.filter, offset, Some(limit)),
        state.store.count_nodes(&p.filter),
    )?;
    // `maestro_common::NodePage` in its field order, around the stored documents.
    let page = format!(r#"{{"items":{items},"total":{total},"limit":{limit},"offset":{offset}}}"#);
    Ok(raw_snapshot(seq, page))
}

/// `/nodes/fast`: paging values that are not integers are a 400 here, as in the Python server.
fn fast_param(name: &str, raw: Option<&str>) -> ApiResult<Option<u64>> {
    raw.map(|r| {
        r.trim().parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "Invalid {name}: '{r}' is not a non-negative integer"
            ))
        })
    })
    .transpose()
}

async fn list_nodes_fast(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<RawSnapshot> {
    let p = paged(q.as_deref())?;
    let limit = fast_param("limit", p.limit.as_deref())?;
    let offset = fast_param("offset", p.offset.as_deref())?.unwrap_or(0);
    let seq = sequence(&state);
    let query = state.store.find_nodes_json(&p.filter, offset, limit);
    match tokio::time::timeout(FAST_QUERY_TIMEOUT, query).await {
        Ok(nodes) => Ok(raw_snapshot(seq, nodes?)),
        Err(_) => Err(ApiError::Timeout("Timeout while fetching nodes: ".into())),
    }
}

async fn count_nodes(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<u64>> {
    // `limit` and `offset` are ignored here (the Python server treated them as filters).
    let p = paged(q.as_deref())?;
    Ok(Json(state.store.count_nodes(&p.filter).await?))
}

async fn create_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> ApiResult<RawJson> {
    Ok(raw_json(ops::create(&*state.store, &user, &body).await?))
}

/// Reads `?noevent=`: when true, the update publishes no event.
fn noevent(raw: Option<&str>) -> ApiResult<bool> {
    let value = query_pairs(raw)
        .into_iter()
        .rev()
        .find(|(k, _)| k == "noevent");
    value.map_or(Ok(false), |(_, v)| query_bool("noevent", &v))
}

async fn replace_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Node>> {
    let publish = !noevent(q.as_deref())?;
    let updated = ops::replace(&*state.store, &user, &id, &body, publish).await?;
    Ok(Json(updated.node))
}

async fn patch_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Node>> {
    let publish = !noevent(q.as_deref())?;
    let updated = ops::patch(&*state.store, &user, &id, &body, publish).await?;
    Ok(Json(updated.node))
}

async fn put_hierarchy(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<RawJson> {
    let written = ops::put_hierarchy(&*state.store, &user, &id, &body).await?;
    Ok(raw_json(written.json))
}

async fn batch_nodeset(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> ApiResult<Json<u64>> {
    Ok(Json(
        ops::batch_set(&*state.store, &user, json_body(&body)?).await?,
    ))
}
