//! Translates a [`Filter`] into an SQL `WHERE` clause with MongoDB's matching rules:
//! null matches a missing field, `$ne`/`$nin` match a missing field, and values only
//! compare within their type. Indexed fields are columns; other paths go to `mongo_match`.
use maestro_common::{Condition, Filter, FilterValue, Op};
use rusqlite::types::Value;

/// How a query field is stored.
enum Target {
    /// An indexed column (or indexed JSON expression) holding text or NULL.
    Text(&'static str),
    /// A column of epoch milliseconds.
    Time(&'static str),
    /// A 0/1 column.
    Bool(&'static str),
    /// An integer column.
    Int(&'static str),
    /// Any other path, read from the node's JSON document.
    Json,
    /// A path below a JSON column: the part after `<prefix>.` is read from the column.
    JsonColumn(&'static str, &'static str),
    /// A field that is never stored: matched as a missing field.
    Missing,
}

fn target(field: &str) -> Target {
    match field {
        "id" => Target::Text("id"),
        "kind" => Target::Text("kind"),
        "name" => Target::Text("name"),
        "group" => Target::Text("grp"),
        "parent" => Target::Text("parent"),
        "state" => Target::Text("state"),
        "result" => Target::Text("result"),
        "owner" => Target::Text("owner"),
        "submitter" => Target::Text("submitter"),
        "treeid" => Target::Text("treeid"),
        // Copies of the string values (validated as strings for every kind but `process`).
        "data.kernel_revision.tree" => Target::Text("rev_tree"),
        "data.kernel_revision.branch" => Target::Text("rev_branch"),
        "data.kernel_revision.commit" => Target::Text("rev_commit"),
        "created" => Target::Time("created"),
        "updated" => Target::Time("updated"),
        "timeout" => Target::Time("timeout"),
        "holdoff" => Target::Time("holdoff"),
        "processed_by_kcidb_bridge" => Target::Bool("processed_by_kcidb_bridge"),
        "retry_counter" => Target::Int("retry_counter"),
        _ => Target::Json,
    }
}

const TRUE: &str = "1";
const FALSE: &str = "0";

/// Where the fields of an event record are stored (table `event`).
fn event_target(field: &str) -> Target {
    match field {
        "id" => Target::Text("id"),
        "channel" => Target::Text("channel"),
        "owner" => Target::Text("owner"),
        "timestamp" => Target::Time("timestamp"),
        "sequence_id" => Target::Int("seq"),
        _ => Target::Json,
    }
}

/// Where the fields of a telemetry event are stored (table `telemetry`); `id` and fields
/// outside the model are missing, as in the documents of the Python server (which stores
/// `id: null`).
fn telemetry_target(field: &str) -> Target {
    match field {
        "kind" => Target::Text("kind"),
        "runtime" => Target::Text("runtime"),
        "device_type" => Target::Text("device_type"),
        "device_id" => Target::Text("device_id"),
        "job_name" => Target::Text("job_name"),
        "test_name" => Target::Text("test_name"),
        "job_id" => Target::Text("job_id"),
        "node_id" => Target::Text("node_id"),
        "tree" => Target::Text("tree"),
        "branch" => Target::Text("branch"),
        "arch" => Target::Text("arch"),
        "result" => Target::Text("result"),
        "error_type" => Target::Text("error_type"),
        "error_msg" => Target::Text("error_msg"),
        "ts" => Target::Time("ts"),
        "is_infra_error" => Target::Bool("is_infra_error"),
        "retry" => Target::Int("retry"),
        f if f.starts_with("extra.") => Target::JsonColumn("extra", "extra"),
        _ => Target::Missing,
    }
}

/// The `WHERE` clause (always valid SQL, `1` for the empty filter) and its bound values,
/// for table `node`.
pub(super) fn where_clause(filter: &Filter) -> (String, Vec<Value>) {
    where_clause_with(filter, target)
}

/// The same for table `event`.
pub(super) fn event_where_clause(filter: &Filter) -> (String, Vec<Value>) {
    where_clause_with(filter, event_target)
}

/// The same for table `telemetry`.
pub(super) fn telemetry_where_clause(filter: &Filter) -> (String, Vec<Value>) {
    where_clause_with(filter, telemetry_target)
}

fn where_clause_with(filter: &Filter, target: fn(&str) -> Target) -> (String, Vec<Value>) {
    let mut args = Vec::new();
    let parts: Vec<String> = filter
        .conditions
        .iter()
        .map(|c| condition(c, target, &mut args))
        .collect();
    if parts.is_empty() {
        return (TRUE.to_owned(), args);
    }
    (and_all(&parts), args)
}

/// Conditions joined by a flat `AND` chain up to this many; beyond, a balanced tree.
const FLAT_AND_MAX: usize = 64;

/// `parts` joined with `AND`, in order (the bound values follow the same order). SQLite
/// parses `a AND b AND c ...` as a tree as deep as the chain is long and refuses depths over
/// 1,000 (`SQLITE_MAX_EXPR_DEPTH`), so a long chain is nested as a balanced tree of depth
/// log2(n); the planner flattens `AND`s however they are grouped.
fn and_all(parts: &[String]) -> String {
    if parts.len() <= FLAT_AND_MAX {
        return parts.join(" AND ");
    }
    let (left, right) = parts.split_at(parts.len() / 2);
    format!("({}) AND ({})", and_all(left), and_all(right))
}

fn condition(c: &Condition, target: fn(&str) -> Target, args: &mut Vec<Value>) -> String {
    match target(&c.field) {
        Target::Json => json_condition("doc", &c.field, c.op, &c.value, args),
        Target::JsonColumn(column, prefix) => {
            let path = c.field[prefix.len()..].trim_start_matches('.');
            json_condition(column, path, c.op, &c.value, args)
        }
        // An empty document: whatever the path, the field is missing.
        Target::Missing => json_condition("'{}'", &c.field, c.op, &c.value, args),
        column => column_condition(&column, c.op, &c.value, args),
    }
}

/// The column's SQL expression and the bound form of `v`, if `v` is of the column's type.
fn column_value(t: &Target, v: &FilterValue) -> Option<Value> {
    match (t, v) {
        (Target::Text(_), FilterValue::Str(s)) => Some(Value::Text(s.clone())),
        (Target::Text(_), FilterValue::ObjectId(id)) => Some(Value::Text(id.to_string())),
        (Target::Time(_), FilterValue::Time(t)) => Some(Value::Integer(t.millis())),
        (Target::Bool(_), FilterValue::Bool(b)) => Some(Value::Integer(i64::from(*b))),
        (Target::Int(_), FilterValue::Int(i)) => Some(Value::Integer(*i)),
        _ => None,
    }
}

fn column_expr(t: &Target) -> &str {
    match t {
        Target::Text(c) | Target::Time(c) | Target::Bool(c) | Target::Int(c) => c,
        Target::Json | Target::JsonColumn(..) | Target::Missing => {
            unreachable!("JSON paths are handled by json_condition")
        }
    }
}

fn column_condition(t: &Target, op: Op, v: &FilterValue, args: &mut Vec<Value>) -> String {
    let col = column_expr(t);
    match (op, v) {
        (Op::In, FilterValue::List(items)) => column_in(t, items, args),
        (Op::Nin, FilterValue::List(items)) => format!("NOT ({})", column_in(t, items, args)),
        (Op::Eq | Op::Lte | Op::Gte, FilterValue::Null) => format!("{col} IS NULL"),
        (Op::Ne, FilterValue::Null) => format!("{col} IS NOT NULL"),
        (_, FilterValue::Null) => FALSE.to_owned(),
        _ => match column_value(t, v) {
            None if matches!(op, Op::Ne | Op::Nin) => TRUE.to_owned(),
            None => FALSE.to_owned(),
            Some(val) => {
                args.push(val);
                match op {
                    Op::Eq => format!("{col} = ?"),
                    Op::Ne => format!("{col} IS NOT ?"),
                    Op::Lt => format!("{col} < ?"),
                    Op::Lte => format!("{col} <= ?"),
                    Op::Gt => format!("{col} > ?"),
                    Op::Gte => format!("{col} >= ?"),
                    Op::Regex => format!("ifnull({col} REGEXP ?, 0)"),
                    // A scalar operand for a list operator: compare as equality.
                    Op::In => format!("{col} = ?"),
                    Op::Nin => format!("{col} IS NOT ?"),
                }
            }
        },
    }
}

/// `col IN (...)`, NULL-safe and true when the list holds null and the column is NULL.
fn column_in(t: &Target, items: &[FilterValue], args: &mut Vec<Value>) -> String {
    let col = column_expr(t);
    let mut alts = Vec::new();
    let values: Vec<Value> = items.iter().filter_map(|v| column_value(t, v)).collect();
    if !values.is_empty() {
        alts.push(format!(
            "ifnull({col} IN ({}), 0)",
            vec!["?"; values.len()].join(", ")
        ));
        args.extend(values);
    }
    if items.contains(&FilterValue::Null) {
        alts.push(format!("{col} IS NULL"));
    }
    if alts.is_empty() {
        FALSE.to_owned()
    } else {
        format!("({})", alts.join(" OR "))
    }
}

/// A condition on a path inside the JSON document `doc` (an SQL expression), evaluated by
/// `mongo_match`.
fn json_condition(
    doc: &str,
    field: &str,
    op: Op,
    v: &FilterValue,
    args: &mut Vec<Value>,
) -> String {
    let op = match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Lt => "lt",
        Op::Lte => "lte",
        Op::Gt => "gt",
        Op::Gte => "gte",
        Op::Regex => "re",
        Op::In => "in",
        Op::Nin => "nin",
    };
    args.push(Value::Text(field.to_owned()));
    args.push(Value::Text(op.to_owned()));
    args.push(Value::Text(operand_json(v).to_string()));
    format!("mongo_match({doc}, ?, ?, ?)")
}

fn operand_json(v: &FilterValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        FilterValue::Null => J::Null,
        FilterValue::Bool(b) => J::Bool(*b),
        FilterValue::Int(i) => J::from(*i),
        FilterValue::Str(s) => J::String(s.clone()),
        // Only the typed top-level columns hold dates and ObjectIds; in JSON they are text.
        FilterValue::Time(t) => J::String(t.to_string()),
        FilterValue::ObjectId(id) => J::String(id.to_string()),
        FilterValue::List(items) => J::Array(items.iter().map(operand_json).collect()),
    }
}
