//! `GET /events`: the stored event history, filtered (kernelci-api.md section 8.6), in
//! sequence order.
use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{StreamExt, stream};
use maestro_common::event::EventRecord;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Condition, Filter, FilterValue, Op, Timestamp};

use crate::error::{ApiError, ApiResult};
use crate::extract::{query_bool, query_pairs};
use crate::openapi::{BadRequest, Invalid, Store};
use crate::state::AppState;

/// The most events `recursive` may attach nodes to.
const RECURSIVE_MAX: u64 = 1000;

/// Parameters that match a field of the node event payload.
const DATA_FIELDS: [&str; 7] = ["kind", "state", "result", "op", "name", "group", "owner"];

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_events))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events", get(list_events))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

fn eq(field: &str, value: FilterValue) -> Condition {
    Condition {
        field: field.to_owned(),
        op: Op::Eq,
        value,
    }
}

/// A paging value: a non-negative integer, else 400; `0` means none, as for the Python server.
fn count(name: &str, raw: Option<&str>) -> ApiResult<Option<u64>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match raw.trim().parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(bad(format!(
            "Invalid {name}: '{raw}' is not a non-negative integer"
        ))),
    }
}

fn event_id(raw: &str) -> Option<FilterValue> {
    ObjectIdHex::parse(raw.trim())
        .ok()
        .map(FilterValue::ObjectId)
}

/// What a `GET /events` query asks for.
struct EventQuery {
    filter: Filter,
    limit: Option<u64>,
    offset: u64,
    recursive: bool,
}

fn parse_query(raw: Option<&str>) -> ApiResult<EventQuery> {
    // The last of repeated keys wins, as in the Python server's `dict(query_params)`.
    let mut params: BTreeMap<String, String> = query_pairs(raw).into_iter().collect();
    let limit = count("limit", params.remove("limit").as_deref())?;
    let offset = count("offset", params.remove("offset").as_deref())?.unwrap_or(0);
    let recursive = match params.remove("recursive") {
        Some(v) if !v.is_empty() => query_bool("recursive", &v)?,
        _ => false,
    };
    if recursive && limit.is_none_or(|l| l > RECURSIVE_MAX) {
        return Err(bad("Recursive limit is too large, max is 1000"));
    }
    let mut conditions = Vec::new();
    for field in DATA_FIELDS {
        if let Some(v) = params.remove(field).filter(|v| !v.is_empty()) {
            conditions.push(eq(&format!("data.{field}"), FilterValue::Str(v)));
        }
    }
    if let Some(v) = params.remove("channel") {
        conditions.push(eq("channel", FilterValue::Str(v)));
    }
    if let Some(node_id) = params.remove("node_id").filter(|v| !v.is_empty()) {
        if params.contains_key("data.id") {
            return Err(bad("Provide either node_id or data.id, not both"));
        }
        conditions.push(eq("data.id", FilterValue::Str(node_id)));
    }
    let id = params.remove("id").filter(|v| !v.is_empty());
    let ids = params.remove("ids").filter(|v| !v.is_empty());
    match (id, ids) {
        (Some(_), Some(_)) => return Err(bad("Provide either id or ids, not both")),
        (Some(id), None) => {
            let id = event_id(&id).ok_or_else(|| bad("Invalid id format"))?;
            conditions.push(eq("id", id));
        }
        (None, Some(ids)) => {
            let list = ids
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| event_id(s).ok_or_else(|| bad("Invalid ids format")))
                .collect::<ApiResult<Vec<_>>>()?;
            if list.is_empty() {
                return Err(bad("ids must contain at least one id"));
            }
            conditions.push(Condition {
                field: "id".to_owned(),
                op: Op::In,
                value: FilterValue::List(list),
            });
        }
        (None, None) => {}
    }
    if let Some(from) = params.remove("from").filter(|v| !v.is_empty()) {
        let t = Timestamp::parse_iso(&from)
            .ok_or_else(|| bad("Invalid 'from' parameter, must be an ISO 8601 datetime"))?;
        conditions.push(Condition {
            field: "timestamp".to_owned(),
            op: Op::Gt,
            value: FilterValue::Time(t),
        });
    }
    if let Some(path) = params.remove("path").filter(|v| !v.is_empty()) {
        regex::Regex::new(&path).map_err(|e| bad(format!("Invalid 'path' pattern: {e}")))?;
        maestro_common::pattern::check_pcre_compatible(&path)
            .map_err(|e| bad(format!("Invalid 'path' pattern: {e}")))?;
        conditions.push(Condition {
            field: "data.path".to_owned(),
            op: Op::Regex,
            value: FilterValue::Str(path),
        });
    }
    for (field, v) in params {
        conditions.push(eq(&field_name(&field)?, passthrough_value(&field, v)));
    }
    Ok(EventQuery {
        filter: Filter { conditions },
        limit,
        offset,
        recursive,
    })
}

/// A field name of an exact-match parameter (`_id` is `id`); 400 for names no store could
/// take.
fn field_name(field: &str) -> ApiResult<String> {
    let field = if field == "_id" { "id" } else { field };
    let bad_name = field.is_empty()
        || field.contains(['\0', '"'])
        || field.split('.').any(|s| s.is_empty() || s.starts_with('$'));
    if bad_name {
        return Err(bad(format!("Invalid field name: '{field}'")));
    }
    Ok(field.to_owned())
}

/// `true`/`false` are booleans and `sequence_id` an integer; everything else a string.
fn passthrough_value(field: &str, v: String) -> FilterValue {
    if field == "sequence_id"
        && let Ok(n) = v.trim().parse::<i64>()
    {
        return FilterValue::Int(n);
    }
    match v.as_str() {
        "true" => FilterValue::Bool(true),
        "false" => FilterValue::Bool(false),
        _ => FilterValue::Str(v),
    }
}

/// Events read per store query at first; the page grows while pages stay small in bytes.
const FIRST_PAGE: u64 = 4;
/// The most events per store query.
const MAX_PAGE: u64 = 512;
/// Serialised bytes a page aims at: large events are read a few at a time, so an answer
/// over big events never holds more than about this much of them at once.
const PAGE_BYTES: usize = 1 << 20;

/// Reads the events of a query page by page, in sequence order: the first page at the
/// query's offset, each next one after the last sequence read (not by offset, so that
/// expiring history cannot shift it).
struct Pager {
    state: AppState,
    query: EventQuery,
    last: Option<u64>,
    remaining: Option<u64>,
    page: u64,
    done: bool,
}

impl Pager {
    fn new(state: AppState, query: EventQuery) -> Self {
        Self {
            remaining: query.limit,
            state,
            query,
            last: None,
            page: FIRST_PAGE,
            done: false,
        }
    }

    /// The next page, serialised as array items (each preceded by `,` unless `first`).
    async fn next(&mut self, first: &mut bool) -> ApiResult<Option<Vec<u8>>> {
        if self.done || self.remaining == Some(0) {
            self.done = true;
            return Ok(None);
        }
        let n = self.remaining.map_or(self.page, |r| r.min(self.page));
        let mut filter = self.query.filter.clone();
        let offset = match self.last {
            None => self.query.offset,
            Some(last) => {
                filter.conditions.push(Condition {
                    field: "sequence_id".to_owned(),
                    op: Op::Gt,
                    value: FilterValue::Int(i64::try_from(last).unwrap_or(i64::MAX)),
                });
                0
            }
        };
        let stored = self
            .state
            .store
            .find_events(&filter, offset, Some(n))
            .await?;
        let got = stored.len() as u64;
        self.done = got < n;
        self.remaining = self.remaining.map(|r| r.saturating_sub(got));
        self.last = stored.last().map(|e| e.seq()).or(self.last);
        let mut records: Vec<EventRecord> = stored.into_iter().map(|e| e.record).collect();
        if self.query.recursive {
            attach_nodes(&self.state, &mut records).await?;
        }
        let mut out = Vec::new();
        for r in &records {
            if !std::mem::take(first) {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, r)
                .map_err(|e| ApiError::Internal(format!("serialising an event: {e}")))?;
        }
        self.page = if out.len() < PAGE_BYTES / 2 {
            (self.page * 2).min(MAX_PAGE)
        } else if out.len() > PAGE_BYTES {
            (self.page / 2).max(1)
        } else {
            self.page
        };
        Ok(Some(out))
    }
}

/// `GET /events`: a JSON array, streamed page by page when it takes more than one page, so
/// that a large answer is never whole in memory. An error before the first page is an
/// ordinary error answer; one after it ends the body early (the client sees a truncated
/// array, never a silently short one).
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(("limit" = Option<u64>, Query), ("offset" = Option<u64>, Query), ("recursive" = Option<bool>, Query, description = "Attach each event's node"), ("channel" = Option<String>, Query), ("node_id" = Option<String>, Query), ("id" = Option<String>, Query), ("ids" = Option<String>, Query, description = "Comma-separated event ids"), ("from" = Option<String>, Query, description = "Events stored at or after this time"), ("path" = Option<String>, Query), ("data" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "`sequence_id[__op]=n`, and `kind`, `state`, `result`, `op`, `name`, `group`, `owner` on the payload")),
    responses((status = 200, description = "The matching events, by sequence", body = Vec<maestro_common::event::EventRecord>), BadRequest, Invalid, Store)
)]
async fn list_events(State(state): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let query = parse_query(q.as_deref())?;
    let mut pager = Pager::new(state, query);
    let mut first = true;
    let mut head = vec![b'['];
    if let Some(items) = pager.next(&mut first).await? {
        head.extend(items);
    }
    let json = [(header::CONTENT_TYPE, "application/json")];
    if pager.done {
        head.push(b']');
        return Ok((json, head).into_response());
    }
    let rest = stream::unfold(Some((pager, first)), |st| async move {
        let (mut pager, mut first) = st?;
        match pager.next(&mut first).await {
            Ok(Some(mut items)) if pager.done => {
                items.push(b']');
                Some((Ok(Bytes::from(items)), None))
            }
            Ok(Some(items)) => Some((Ok(Bytes::from(items)), Some((pager, first)))),
            Ok(None) => Some((Ok(Bytes::from_static(b"]")), None)),
            Err(e) => {
                tracing::warn!(error = %e, "GET /events failed after its first page");
                Some((Err(std::io::Error::other(e.to_string())), None))
            }
        }
    });
    let body = stream::once(std::future::ready(Ok(Bytes::from(head)))).chain(rest);
    Ok((json, Body::from_stream(body)).into_response())
}

/// Sets `node` on each record whose `data.id` names an existing node (one query).
async fn attach_nodes(state: &AppState, records: &mut [EventRecord]) -> ApiResult<()> {
    let node_id = |r: &EventRecord| {
        r.data
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|s| ObjectIdHex::parse(s).ok())
    };
    let mut ids: Vec<ObjectIdHex> = records.iter().filter_map(node_id).collect();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let filter = Filter {
        conditions: vec![Condition {
            field: "id".to_owned(),
            op: Op::In,
            value: FilterValue::List(ids.into_iter().map(FilterValue::ObjectId).collect()),
        }],
    };
    let nodes = state.store.find_nodes(&filter, 0, None).await?;
    let by_id: HashMap<String, maestro_common::Node> = nodes
        .into_iter()
        .map(|n| (n.id_str().to_owned(), n))
        .collect();
    for r in records.iter_mut() {
        if let Some(id) = node_id(r) {
            r.node = by_id.get(id.as_str()).cloned().map(Box::new);
        }
    }
    Ok(())
}
