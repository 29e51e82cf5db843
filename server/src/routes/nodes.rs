//! Node endpoints: `/node/{id}`, `/nodes`, `/nodes/fast`, `/count`, `/nodes/{id}` and
//! `/batch/nodeset`.
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, put};
use axum::{Json, Router};
use maestro_common::{Filter, Node, NodePage};
use serde_json::Value;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{json_body, query_bool, query_pairs};
use crate::nodes::ops;
use crate::openapi::{Auth, BadRequest, Invalid, NotFound, Store};
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

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    compare_revision,
    may_edit,
    get_node,
    list_nodes,
    list_nodes_fast,
    count_nodes,
    create_node,
    replace_node,
    patch_node,
    put_hierarchy,
    batch_nodeset
))]
pub(crate) struct Docs;

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
#[utoipa::path(
    get,
    path = "/maestro/node/{id}/compare",
    tag = "nodes",
    params(("id" = String, Path, description = "A checkout node's id")),
    responses((status = 200, description = "Regressions and fixes against the previous checkout of the tree and branch", body = maestro_common::compare::RevisionCompare), BadRequest, NotFound, Store)
)]
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
#[utoipa::path(
    get,
    path = "/maestro/node/{id}/may-edit",
    tag = "nodes",
    params(("id" = String, Path, description = "The node's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "Whether the caller may edit the node", body = crate::openapi::bodies::MayEdit), Auth, BadRequest, NotFound, Store)
)]
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

#[utoipa::path(
    get,
    path = "/node/{id}",
    tag = "nodes",
    params(("id" = String, Path, description = "The node's id (24 hex digits)")),
    responses((status = 200, description = "The node, or `null` when there is none", body = Option<Node>, headers(("X-Maestro-Sequence" = u64, description = "The newest event sequence stored before the query ran: stream from it to miss nothing"))), BadRequest, Store)
)]
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

#[utoipa::path(
    get,
    path = "/nodes",
    tag = "nodes",
    params(("limit" = Option<u64>, Query, minimum = 1, description = "Page size (default 50)"), ("offset" = Option<u64>, Query, description = "How many to skip"), ("filter" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "`field[__op]=value` conditions (ops: `ne`, `lt`, `lte`, `gt`, `gte`, `re`, `in`, `nin`), e.g. `kind=checkout`, `created__gt=2024-01-01`, `data.kernel_revision.tree=mainline`")),
    responses((status = 200, description = "A page of the matching nodes, by id", body = NodePage, headers(("X-Maestro-Sequence" = u64, description = "The newest event sequence stored before the query ran: stream from it to miss nothing"))), BadRequest, Invalid, Store)
)]
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

#[utoipa::path(
    get,
    path = "/nodes/fast",
    tag = "nodes",
    params(("limit" = Option<u64>, Query, description = "Page size (default 50)"), ("offset" = Option<u64>, Query, description = "How many to skip"), ("filter" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "`field[__op]=value` conditions (ops: `ne`, `lt`, `lte`, `gt`, `gte`, `re`, `in`, `nin`), e.g. `kind=checkout`, `created__gt=2024-01-01`, `data.kernel_revision.tree=mainline`")),
    responses((status = 200, description = "The matching nodes (not paginated unless asked)", body = Vec<Node>, headers(("X-Maestro-Sequence" = u64, description = "The newest event sequence stored before the query ran: stream from it to miss nothing"))), BadRequest, Invalid, Store, (status = 504, description = "The query took over 15 s", body = crate::openapi::Error))
)]
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

#[utoipa::path(
    get,
    path = "/count",
    tag = "nodes",
    params(("filter" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "`field[__op]=value` conditions (ops: `ne`, `lt`, `lte`, `gt`, `gte`, `re`, `in`, `nin`), e.g. `kind=checkout`, `created__gt=2024-01-01`, `data.kernel_revision.tree=mainline`")),
    responses((status = 200, description = "How many nodes match", content_type = "application/json", body = u64), BadRequest, Store)
)]
async fn count_nodes(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Json<u64>> {
    // `limit` and `offset` are ignored here (the Python server treated them as filters).
    let p = paged(q.as_deref())?;
    Ok(Json(state.store.count_nodes(&p.filter).await?))
}

#[utoipa::path(
    post,
    path = "/node",
    tag = "nodes",
    request_body(content = Node, description = "The node; the server sets `id`, `owner`, `submitter`, `created`, `updated` and `treeid`"),
    security(("bearer" = [])),
    // Links: the stored node's id is what the node operations take (schemathesis's
    // stateful phase follows them, so those operations are fuzzed on a node that exists).
    responses((status = 200, description = "The stored node", body = Node, links(
            ("GetNode" = (operation_id = "get_node", parameters(("id" = "$response.body#/id")))),
            ("ReplaceNode" = (operation_id = "replace_node", parameters(("id" = "$response.body#/id")))),
            ("PatchNode" = (operation_id = "patch_node", parameters(("id" = "$response.body#/id")))),
            ("PutHierarchy" = (operation_id = "put_hierarchy", parameters(("id" = "$response.body#/id")))),
            ("MayEdit" = (operation_id = "may_edit", parameters(("id" = "$response.body#/id")))),
            ("Compare" = (operation_id = "compare_revision", parameters(("id" = "$response.body#/id"))))
        )), BadRequest, Auth, Invalid, Store)
)]
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

#[utoipa::path(
    put,
    path = "/node/{id}",
    tag = "nodes",
    params(("id" = String, Path, description = "The node's id"), ("noevent" = Option<bool>, Query, description = "Publish no event for this write")),
    request_body(content = Node, description = "The whole node"),
    security(("bearer" = [])),
    responses((status = 200, description = "The stored node", body = Node), BadRequest, Auth, NotFound, Invalid, Store)
)]
async fn replace_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<RawJson> {
    let publish = !noevent(q.as_deref())?;
    let updated = ops::replace(&*state.store, &user, &id, &body, publish).await?;
    Ok(raw_json(updated.json))
}

#[utoipa::path(
    patch,
    path = "/node/{id}",
    tag = "nodes",
    params(("id" = String, Path, description = "The node's id"), ("noevent" = Option<bool>, Query, description = "Publish no event for this write")),
    request_body(content = Object, description = "The fields to change (a partial node)"),
    security(("bearer" = [])),
    responses((status = 200, description = "The stored node", body = Node), BadRequest, Auth, NotFound, Invalid, Store)
)]
async fn patch_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<RawJson> {
    let publish = !noevent(q.as_deref())?;
    let updated = ops::patch(&*state.store, &user, &id, &body, publish).await?;
    Ok(raw_json(updated.json))
}

#[utoipa::path(
    put,
    path = "/nodes/{id}",
    tag = "nodes",
    params(("id" = String, Path, description = "The root node's id")),
    request_body(content = maestro_common::Hierarchy, description = "The root node and the children to add beneath it"),
    security(("bearer" = [])),
    responses((status = 200, description = "Every node written, root first", body = Vec<Node>), BadRequest, Auth, NotFound, Invalid, Store)
)]
async fn put_hierarchy(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<RawJson> {
    let written = ops::put_hierarchy(&*state.store, &user, &id, &body).await?;
    Ok(raw_json(written.json))
}

#[utoipa::path(
    put,
    path = "/batch/nodeset",
    tag = "nodes",
    request_body(content = crate::openapi::bodies::BatchNodeset),
    security(("bearer" = [])),
    responses((status = 200, description = "How many nodes were updated", content_type = "application/json", body = u64), BadRequest, Auth, NotFound, Invalid, Store)
)]
async fn batch_nodeset(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> ApiResult<Json<u64>> {
    Ok(Json(
        ops::batch_set(&*state.store, &user, json_body(&body)?).await?,
    ))
}
