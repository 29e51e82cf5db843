//! The telemetry table of the SQLite store: one row per event, every model field a column
//! (`extra` as JSON text), indexed as the Python server indexes its `telemetry` collection.
use async_trait::async_trait;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params_from_iter};
use serde_json::{Map, Value};

use super::{SqliteStore, backend, filter_sql};
use crate::store::StoreResult;
use crate::store::telemetry::{TelemetryGroup, TelemetryGrouping, TelemetryStore};
use crate::telemetry::TelemetryEvent;

/// `telemetry` (schema version 2). `rid` keeps the order events were stored in (the list
/// order); `ts` is epoch milliseconds. The indexes are the Python server's, for the filters
/// of the reports (kind and time window, runtime and device type, job name, result), and
/// `ts` alone for the windows and the retention job.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS telemetry (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    runtime TEXT NOT NULL,
    device_type TEXT,
    device_id TEXT,
    job_name TEXT,
    test_name TEXT,
    job_id TEXT,
    node_id TEXT,
    tree TEXT,
    branch TEXT,
    arch TEXT,
    result TEXT,
    is_infra_error INTEGER NOT NULL,
    error_type TEXT,
    error_msg TEXT,
    retry INTEGER NOT NULL,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_ts ON telemetry (ts);
CREATE INDEX IF NOT EXISTS telemetry_kind_ts ON telemetry (kind, ts);
CREATE INDEX IF NOT EXISTS telemetry_runtime_device_type_ts ON telemetry (runtime, device_type, ts);
CREATE INDEX IF NOT EXISTS telemetry_job_name_ts ON telemetry (job_name, ts);
CREATE INDEX IF NOT EXISTS telemetry_result_is_infra_error_ts ON telemetry (result, is_infra_error, ts);
";

const COLUMNS: &str = "id, ts, kind, runtime, device_type, device_id, job_name, test_name, \
    job_id, node_id, tree, branch, arch, result, is_infra_error, error_type, error_msg, retry, \
    extra";

fn text(s: Option<&str>) -> SqlValue {
    s.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_owned()))
}

fn bind(e: &TelemetryEvent) -> StoreResult<Vec<SqlValue>> {
    Ok(vec![
        SqlValue::Text(e.id.to_string()),
        SqlValue::Integer(e.ts.millis()),
        SqlValue::Text(e.kind.clone()),
        SqlValue::Text(e.runtime.clone()),
        text(e.device_type.as_deref()),
        text(e.device_id.as_deref()),
        text(e.job_name.as_deref()),
        text(e.test_name.as_deref()),
        text(e.job_id.as_deref()),
        text(e.node_id.as_deref()),
        text(e.tree.as_deref()),
        text(e.branch.as_deref()),
        text(e.arch.as_deref()),
        text(e.result.as_deref()),
        SqlValue::Integer(i64::from(e.is_infra_error)),
        text(e.error_type.as_deref()),
        text(e.error_msg.as_deref()),
        SqlValue::Integer(e.retry),
        SqlValue::Text(serde_json::to_string(&e.extra).map_err(backend)?),
    ])
}

/// The raw columns of a row, in [`COLUMNS`] order, decoded by [`decode`] outside SQLite's
/// row callback (which cannot return our errors).
type RawRow = (String, i64, Vec<Option<String>>, bool, i64, String);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    let strings = (2..14)
        .chain([15, 16])
        .map(|i| r.get::<_, Option<String>>(i))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((
        r.get(0)?,
        r.get(1)?,
        strings,
        r.get(14)?,
        r.get(17)?,
        r.get(18)?,
    ))
}

fn decode((id, ts, strings, is_infra_error, retry, extra): RawRow) -> StoreResult<TelemetryEvent> {
    let bad = |what: &str| crate::store::StoreError::Backend(format!("telemetry {what}").into());
    let mut s = strings.into_iter();
    let mut next = || s.next().flatten();
    let extra: Map<String, Value> = serde_json::from_str(&extra).map_err(backend)?;
    Ok(TelemetryEvent {
        id: ObjectIdHex::parse(&id).map_err(|_| bad("id"))?,
        ts: Timestamp::from_millis(ts).ok_or_else(|| bad("time out of range"))?,
        kind: next().unwrap_or_default(),
        runtime: next().unwrap_or_default(),
        device_type: next(),
        device_id: next(),
        job_name: next(),
        test_name: next(),
        job_id: next(),
        node_id: next(),
        tree: next(),
        branch: next(),
        arch: next(),
        result: next(),
        is_infra_error,
        error_type: next(),
        error_msg: next(),
        retry,
        extra,
    })
}

fn int(n: u64) -> SqlValue {
    SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// One page of events and the number of all matches.
fn find(
    c: &Connection,
    filter: &Filter,
    offset: u64,
    limit: u64,
) -> StoreResult<(Vec<TelemetryEvent>, u64)> {
    let (clause, args) = filter_sql::telemetry_where_clause(filter);
    let total: i64 = c
        .prepare_cached(&format!("SELECT count(*) FROM telemetry WHERE {clause}"))
        .and_then(|mut s| s.query_row(params_from_iter(args.clone()), |r| r.get(0)))
        .map_err(backend)?;
    let mut page_args = args;
    page_args.extend([int(limit), int(offset)]);
    let sql =
        format!("SELECT {COLUMNS} FROM telemetry WHERE {clause} ORDER BY rid LIMIT ? OFFSET ?");
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(page_args), raw)
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    let events = rows.into_iter().map(decode).collect::<StoreResult<_>>()?;
    Ok((events, u64::try_from(total).unwrap_or(0)))
}

/// The groups of `g`. With `latest`, the one `max(ts)` makes SQLite take the bare columns
/// `error_type` and `error_msg` from the row of that maximum, the group's newest event.
fn group(c: &Connection, g: &TelemetryGrouping) -> StoreResult<Vec<TelemetryGroup>> {
    let keys: Vec<&str> = g.keys.iter().map(|k| k.as_str()).collect();
    let n = keys.len();
    let counted = |v: &str| format!("count(CASE WHEN result = '{v}' THEN 1 END)");
    let mut select: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    select.extend(["count(*)".to_owned(), counted("pass"), counted("fail")]);
    select.extend([counted("incomplete"), counted("skip")]);
    select.push("count(CASE WHEN is_infra_error THEN 1 END)".to_owned());
    if g.latest {
        select.extend(["max(ts)", "error_type", "error_msg"].map(str::to_owned));
    }
    let (clause, args) = filter_sql::telemetry_where_clause(&g.filter);
    // `+column`: grouping by expressions keeps the planner from scanning the whole table in
    // an index's order to group without sorting; it picks the index of the filter (the time
    // window of the reports) and sorts the few rows that match instead.
    let group_by = if keys.is_empty() {
        String::new()
    } else {
        let terms: Vec<String> = keys.iter().map(|k| format!("+{k}")).collect();
        format!(" GROUP BY {}", terms.join(", "))
    };
    let sql = format!(
        "SELECT {} FROM telemetry WHERE {clause}{group_by}",
        select.join(", ")
    );
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let count = |r: &Row<'_>, i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            let key = (0..n)
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let last: Option<i64> = if g.latest { r.get(n + 6)? } else { None };
            Ok((
                TelemetryGroup {
                    key,
                    total: count(r, n)?,
                    pass: count(r, n + 1)?,
                    fail: count(r, n + 2)?,
                    incomplete: count(r, n + 3)?,
                    skip: count(r, n + 4)?,
                    infra_error: count(r, n + 5)?,
                    last_seen: None,
                    latest_error_type: if g.latest { r.get(n + 7)? } else { None },
                    latest_error_msg: if g.latest { r.get(n + 8)? } else { None },
                },
                last,
            ))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    Ok(rows
        .into_iter()
        // Without GROUP BY an empty match is still one row, of zero events.
        .filter(|(grp, _)| grp.total > 0)
        .map(|(grp, last)| TelemetryGroup {
            last_seen: last.and_then(Timestamp::from_millis),
            ..grp
        })
        .collect())
}

#[async_trait]
impl TelemetryStore for SqliteStore {
    async fn insert_telemetry(&self, events: &[TelemetryEvent]) -> StoreResult<()> {
        let rows = events.iter().map(bind).collect::<StoreResult<Vec<_>>>()?;
        self.write(move |tx| {
            let sql = format!(
                "INSERT INTO telemetry ({COLUMNS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            );
            let mut stmt = tx.prepare_cached(&sql).map_err(backend)?;
            for row in rows {
                stmt.execute(params_from_iter(row)).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn find_telemetry(
        &self,
        filter: &Filter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<TelemetryEvent>, u64)> {
        let filter = filter.clone();
        self.read(move |c| find(c, &filter, offset, limit)).await
    }

    async fn group_telemetry(
        &self,
        grouping: &TelemetryGrouping,
    ) -> StoreResult<Vec<TelemetryGroup>> {
        let grouping = grouping.clone();
        self.read(move |c| group(c, &grouping)).await
    }

    async fn purge_telemetry(&self, before: Timestamp, limit: u64) -> StoreResult<u64> {
        let (before, limit) = (before.millis(), int(limit));
        // A batch per transaction: a large purge never holds the writer for long.
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "DELETE FROM telemetry WHERE rid IN \
                     (SELECT rid FROM telemetry WHERE ts < ? LIMIT ?)",
                )
                .and_then(|mut s| s.execute(rusqlite::params![before, limit]))
                .map_err(backend)?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
        .await
    }
}
