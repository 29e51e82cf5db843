//! Telemetry (kernelci-api.md section 11): `POST /telemetry` (any active user) stores a
//! batch of events all or nothing; `GET /telemetry` lists them, and `GET /telemetry/stats`
//! and `GET /telemetry/anomalies` (`reports.rs`) count them; the reads need no token.
use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use maestro_common::{Condition, Filter, FilterValue, Op, Timestamp};
use serde_json::{Value, json};

use super::nodes::page_param;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{json_body, query_pairs};
use crate::nodes::ops::new_id;
use crate::openapi::{Auth, BadRequest, Invalid, Store};
use crate::state::AppState;
use crate::telemetry::validate::event_from_json;

mod reports;

/// Default page size of `GET /telemetry`, as the other lists.
const DEFAULT_LIMIT: u64 = 50;

/// The operations of this module, for the OpenAPI document (`routes::PARTS`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(insert_events, list_events, reports::stats, reports::anomalies))]
pub(crate) struct Docs;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/telemetry", get(list_events).post(insert_events))
        .route("/telemetry/stats", get(reports::stats))
        .route("/telemetry/anomalies", get(reports::anomalies))
}

/// A FastAPI validation problem at `loc` in the body.
fn problem(loc: Value, kind: &str, msg: &str, input: Value) -> Value {
    json!({"type": kind, "loc": loc, "msg": msg, "input": input})
}

/// `POST /telemetry`: a JSON array of events. Its shape (`List[dict]`) is checked first
/// (422, as FastAPI does), then each event as the model (400 at the first invalid one);
/// nothing is stored unless every event is valid.
#[utoipa::path(
    post,
    path = "/telemetry",
    tag = "telemetry",
    request_body(content = Vec<crate::openapi::bodies::TelemetryEvent>),
    security(("bearer" = [])),
    responses((status = 200, description = "How many were stored", body = crate::openapi::bodies::Inserted), Auth, BadRequest, Invalid, Store)
)]
async fn insert_events(
    State(state): State<AppState>,
    _: CurrentUser,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if body.is_empty() {
        let missing = problem(json!(["body"]), "missing", "Field required", Value::Null);
        return Err(ApiError::Unprocessable(vec![missing]));
    }
    let items = match json_body(&body)? {
        Value::Array(items) => items,
        other => {
            let msg = "Input should be a valid list";
            return Err(ApiError::Unprocessable(vec![problem(
                json!(["body"]),
                "list_type",
                msg,
                other,
            )]));
        }
    };
    let not_objects: Vec<Value> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item.is_object())
        .map(|(i, item)| {
            let msg = "Input should be a valid dictionary";
            problem(json!(["body", i]), "dict_type", msg, item.clone())
        })
        .collect();
    if !not_objects.is_empty() {
        return Err(ApiError::Unprocessable(not_objects));
    }
    if items.is_empty() {
        return Err(ApiError::BadRequest("Events list cannot be empty".into()));
    }
    let now = Timestamp::now();
    let events = items
        .iter()
        .filter_map(Value::as_object)
        .map(|obj| event_from_json(obj, new_id(), now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::BadRequest(format!("Invalid telemetry event: {e}")))?;
    state.store.insert_telemetry(&events).await?;
    Ok(Json(json!({"inserted": events.len()})))
}

fn condition(field: &str, op: Op, value: FilterValue) -> Condition {
    Condition {
        field: field.to_owned(),
        op,
        value,
    }
}

/// `since` and `until` as `ts >= since` and `ts <= until` (taken out of `params`); an
/// empty value is no bound, a bad one a 400 with Python's `fromisoformat` message.
fn time_window(
    params: &mut BTreeMap<String, String>,
    conditions: &mut Vec<Condition>,
) -> ApiResult<()> {
    for (name, op) in [("since", Op::Gte), ("until", Op::Lte)] {
        let Some(raw) = params.remove(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let t = Timestamp::parse_iso(&raw)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid isoformat string: '{raw}'")))?;
        conditions.push(condition("ts", op, FilterValue::Time(t)));
    }
    Ok(())
}

/// `GET /telemetry`: paginated; `since`/`until` bound `ts`; `is_infra_error` must be
/// `true` or `false`; every other parameter is an exact match, `true`/`false` (any case)
/// as booleans, as the Python server's pass-through filters.
#[utoipa::path(
    get,
    path = "/telemetry",
    tag = "telemetry",
    params(("limit" = Option<u64>, Query, minimum = 1, description = "Page size (default 50)"), ("offset" = Option<u64>, Query, description = "How many to skip"), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("is_infra_error" = Option<bool>, Query), ("filter" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "Exact matches on other fields")),
    responses((status = 200, description = "A page of events", body = crate::openapi::bodies::TelemetryPage), BadRequest, Invalid, Store)
)]
async fn list_events(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    // Repeated keys: the last one counts, as in Starlette's `dict(request.query_params)`.
    let mut params: BTreeMap<String, String> = query_pairs(q.as_deref()).into_iter().collect();
    let limit = page_param("limit", params.remove("limit").as_deref(), 1, DEFAULT_LIMIT)?;
    let offset = page_param("offset", params.remove("offset").as_deref(), 0, 0)?;
    let mut conditions = Vec::new();
    time_window(&mut params, &mut conditions)?;
    if let Some(raw) = params.remove("is_infra_error") {
        let flag = match raw.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(ApiError::BadRequest(
                    "Bad is_infra_error value, use 'true' or 'false'".into(),
                ));
            }
        };
        conditions.push(condition("is_infra_error", Op::Eq, FilterValue::Bool(flag)));
    }
    for (field, raw) in params {
        let bad_name = field.is_empty()
            || field.contains(['\0', '"'])
            || field.split('.').any(|s| s.is_empty() || s.starts_with('$'));
        if bad_name {
            return Err(ApiError::BadRequest(format!(
                "Invalid field name: '{field}'"
            )));
        }
        let value = match raw.to_ascii_lowercase().as_str() {
            "true" => FilterValue::Bool(true),
            "false" => FilterValue::Bool(false),
            _ => FilterValue::Str(raw),
        };
        conditions.push(condition(&field, Op::Eq, value));
    }
    let filter = Filter { conditions };
    let (items, total) = state.store.find_telemetry(&filter, offset, limit).await?;
    Ok(Json(
        json!({"items": items, "total": total, "limit": limit, "offset": offset}),
    ))
}
