//! `GET /telemetry/stats` (counts by the chosen fields) and `GET /telemetry/anomalies`
//! (devices failing or erroring over a recent window): the Python server's parameters,
//! checks and messages; the rows are computed in `crate::telemetry::report`.
use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{Timelike, Utc};
use maestro_common::{Filter, FilterValue, Op, Timestamp};
use serde_json::{Value, json};

use super::{condition, problem, time_window};
use crate::error::{ApiError, ApiResult};
use crate::extract::query_pairs;
use crate::openapi::{BadRequest, Invalid, Store};
use crate::state::AppState;
use crate::store::telemetry::TelemetryGrouping;
use crate::telemetry::TelemetryField;
use crate::telemetry::pyrepr;
use crate::telemetry::report::{Thresholds, error_anomalies, result_anomalies, stats_rows};

/// The fields `group_by` may name, and what each groups by (`lab` is the runtime).
const GROUP_FIELDS: [(&str, TelemetryField); 10] = [
    ("runtime", TelemetryField::Runtime),
    ("lab", TelemetryField::Runtime),
    ("device_type", TelemetryField::DeviceType),
    ("device_id", TelemetryField::DeviceId),
    ("job_name", TelemetryField::JobName),
    ("tree", TelemetryField::Tree),
    ("branch", TelemetryField::Branch),
    ("arch", TelemetryField::Arch),
    ("kind", TelemetryField::Kind),
    ("error_type", TelemetryField::ErrorType),
];

/// The exact-match filters of `/telemetry/stats` besides `runtime` (and its alias `lab`).
const STATS_FILTERS: [&str; 7] = [
    "kind",
    "device_type",
    "device_id",
    "job_name",
    "tree",
    "branch",
    "arch",
];

/// The windows of `/telemetry/anomalies`, in hours.
const WINDOWS: [(&str, i64); 6] = [
    ("1h", 1),
    ("3h", 3),
    ("6h", 6),
    ("12h", 12),
    ("24h", 24),
    ("48h", 48),
];

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// The parameters, the last of repeated keys winning (Starlette's `dict(query_params)`).
fn params(q: Option<&str>) -> BTreeMap<String, String> {
    query_pairs(q).into_iter().collect()
}

/// `GET /telemetry/stats?group_by=a,b&...`: one row per group, most events first. Parameters
/// other than the filters below are ignored, as upstream.
#[utoipa::path(
    get,
    path = "/telemetry/stats",
    tag = "telemetry",
    params(("group_by" = String, Query, description = "Comma list of: runtime, lab, device_type, device_id, job_name, tree, branch, arch, kind, error_type"), ("kind" = Option<String>, Query), ("runtime" = Option<String>, Query), ("lab" = Option<String>, Query), ("device_type" = Option<String>, Query), ("device_id" = Option<String>, Query), ("job_name" = Option<String>, Query), ("tree" = Option<String>, Query), ("branch" = Option<String>, Query), ("arch" = Option<String>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query)),
    responses((status = 200, description = "One row per group, most events first", body = Vec<Object>), BadRequest, Store)
)]
pub(super) async fn stats(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Vec<Value>>> {
    let mut params = params(q.as_deref());
    let group_by = params.remove("group_by").unwrap_or_default();
    let requested: Vec<&str> = group_by
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if requested.is_empty() {
        return Err(bad("'group_by' parameter is required"));
    }
    let field = |name: &str| GROUP_FIELDS.iter().find(|(n, _)| *n == name).map(|g| g.1);
    let invalid: BTreeSet<&str> = requested
        .iter()
        .copied()
        .filter(|f| field(f).is_none())
        .collect();
    if !invalid.is_empty() {
        // Python's repr of the set (whose order is a hash's; here sorted).
        let items: Vec<String> = invalid.iter().map(|f| pyrepr::string(f)).collect();
        return Err(bad(format!(
            "Invalid group_by fields: {{{}}}",
            items.join(", ")
        )));
    }
    let given = |params: &mut BTreeMap<String, String>, name: &str| {
        params.remove(name).filter(|v| !v.is_empty())
    };
    let lab = given(&mut params, "lab");
    let runtime = given(&mut params, "runtime");
    if let (Some(l), Some(r)) = (&lab, &runtime)
        && l != r
    {
        return Err(bad("'lab' and 'runtime' must match when both are provided"));
    }
    let mut conditions = Vec::new();
    if let Some(r) = runtime.or(lab) {
        conditions.push(condition("runtime", Op::Eq, FilterValue::Str(r)));
    }
    for name in STATS_FILTERS {
        if let Some(v) = given(&mut params, name) {
            conditions.push(condition(name, Op::Eq, FilterValue::Str(v)));
        }
    }
    time_window(&mut params, &mut conditions)?;
    // The key holds each stored field once; each requested name points at its value.
    let mut keys: Vec<TelemetryField> = Vec::new();
    let mut names: Vec<(String, usize)> = Vec::new();
    for name in requested {
        if names.iter().any(|(n, _)| n == name) {
            continue;
        }
        let Some(f) = field(name) else { continue };
        let at = keys.iter().position(|k| *k == f).unwrap_or_else(|| {
            keys.push(f);
            keys.len() - 1
        });
        names.push((name.to_owned(), at));
    }
    let grouping = TelemetryGrouping {
        filter: Filter { conditions },
        keys,
        latest: false,
    };
    let groups = state.store.group_telemetry(&grouping).await?;
    Ok(Json(stats_rows(groups, &names)))
}

/// A 422 problem of a query parameter.
fn query_problem(name: &str, kind: &str, msg: &str, raw: &str) -> Value {
    problem(json!(["query", name]), kind, msg, json!(raw))
}

/// `threshold`: a number from 0 to 1.
fn threshold(raw: Option<&str>, problems: &mut Vec<Value>) -> f64 {
    let Some(raw) = raw else { return 0.5 };
    match raw.trim().parse::<f64>() {
        Ok(t) if (0.0..=1.0).contains(&t) => return t,
        Ok(t) if t > 1.0 => problems.push(query_problem(
            "threshold",
            "less_than_equal",
            "Input should be less than or equal to 1",
            raw,
        )),
        Ok(_) => problems.push(query_problem(
            "threshold",
            "greater_than_equal",
            "Input should be greater than or equal to 0",
            raw,
        )),
        Err(_) => problems.push(query_problem(
            "threshold",
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number",
            raw,
        )),
    }
    0.5
}

/// `min_total`: an integer of at least 1.
fn min_total(raw: Option<&str>, problems: &mut Vec<Value>) -> u64 {
    let Some(raw) = raw else { return 3 };
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 1 => return n.unsigned_abs(),
        Ok(_) => problems.push(query_problem(
            "min_total",
            "greater_than_equal",
            "Input should be greater than or equal to 1",
            raw,
        )),
        Err(_) => problems.push(query_problem(
            "min_total",
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            raw,
        )),
    }
    3
}

/// `scope`: `device_type` or `device`; whether it is per device.
fn by_device(raw: Option<&str>, problems: &mut Vec<Value>) -> bool {
    match raw {
        None | Some("device_type") => false,
        Some("device") => true,
        Some(other) => {
            problems.push(query_problem(
                "scope",
                "literal_error",
                "Input should be 'device_type' or 'device'",
                other,
            ));
            false
        }
    }
}

/// `datetime.isoformat()` of an aware UTC time: microseconds when not zero, `+00:00`.
fn python_utc_iso(t: chrono::DateTime<Utc>) -> String {
    let micros = t.nanosecond() / 1000;
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    if micros == 0 {
        format!("{base}+00:00")
    } else {
        format!("{base}.{micros:06}+00:00")
    }
}

/// `GET /telemetry/anomalies?window=6h&threshold=0.5&min_total=3&scope=device_type`: the
/// groups of results whose infrastructure-error or failure rate reaches `threshold`, and
/// the runtime errors and skips that recur, over the last `window`.
#[utoipa::path(
    get,
    path = "/telemetry/anomalies",
    tag = "telemetry",
    params(("window" = Option<String>, Query, description = "e.g. `6h`, `1d`"), ("threshold" = Option<f64>, Query), ("min_total" = Option<u64>, Query), ("scope" = Option<String>, Query)),
    responses((status = 200, description = "Groups whose error or failure rate reaches the threshold", body = Object), BadRequest, Invalid, Store)
)]
pub(super) async fn anomalies(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = params(q.as_deref());
    let get = |name: &str| params.get(name).map(String::as_str);
    // The typed parameters first, all their problems in one 422, as FastAPI checks them.
    let mut problems = Vec::new();
    let t = Thresholds {
        threshold: threshold(get("threshold"), &mut problems),
        min_total: min_total(get("min_total"), &mut problems),
    };
    let device = by_device(get("scope"), &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::Unprocessable(problems));
    }
    let window = get("window").unwrap_or("6h");
    let hours = WINDOWS
        .iter()
        .find(|(w, _)| *w == window)
        .map(|w| w.1)
        .ok_or_else(|| {
            bad(format!(
                "Invalid window '{window}'. Use: 1h, 3h, 6h, 12h, 24h, 48h"
            ))
        })?;
    let since = Utc::now() - chrono::Duration::hours(hours);
    let from = condition(
        "ts",
        Op::Gte,
        FilterValue::Time(Timestamp::from_utc(since.naive_utc())),
    );
    let strings = |items: &[&str]| {
        FilterValue::List(
            items
                .iter()
                .map(|s| FilterValue::Str((*s).to_owned()))
                .collect(),
        )
    };
    let mut results = vec![from.clone()];
    let mut keys = vec![TelemetryField::Runtime, TelemetryField::DeviceType];
    if device {
        // Physical devices, from job results only: a job's many tests would dilute them.
        results.push(condition(
            "kind",
            Op::Eq,
            FilterValue::Str("job_result".into()),
        ));
        let unknown = FilterValue::List(vec![FilterValue::Null, FilterValue::Str(String::new())]);
        results.push(condition("device_id", Op::Nin, unknown));
        keys.push(TelemetryField::DeviceId);
    } else {
        let kinds = strings(&["job_result", "test_result"]);
        results.push(condition("kind", Op::In, kinds));
    }
    let result_groups = TelemetryGrouping {
        filter: Filter {
            conditions: results,
        },
        keys,
        latest: true,
    };
    let error_groups = TelemetryGrouping {
        filter: Filter {
            conditions: vec![
                from,
                condition("kind", Op::In, strings(&["runtime_error", "job_skip"])),
            ],
        },
        keys: vec![TelemetryField::Runtime, TelemetryField::ErrorType],
        latest: false,
    };
    let (result_groups, error_groups) = tokio::try_join!(
        state.store.group_telemetry(&result_groups),
        state.store.group_telemetry(&error_groups),
    )?;
    Ok(Json(json!({
        "window": window,
        "threshold": t.threshold,
        "min_total": t.min_total,
        "scope": if device { "device" } else { "device_type" },
        "since": python_utc_iso(since),
        "result_anomalies": result_anomalies(result_groups, device, t),
        "error_anomalies": error_anomalies(error_groups, t.min_total),
    })))
}
