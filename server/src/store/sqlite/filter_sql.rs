//! Translates a [`Filter`] into an SQL `WHERE` clause with MongoDB's matching rules:
//! null matches a missing field, `$ne`/`$nin` match a missing field, values only compare
//! within their type, and array fields match when any element does.
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
    Json(String),
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
        // The exact expressions of the node_revision/node_commit indexes, so they are used.
        "data.kernel_revision.tree" => Target::Text("json_extract(doc, '$.data.kernel_revision.tree')"),
        "data.kernel_revision.branch" => {
            Target::Text("json_extract(doc, '$.data.kernel_revision.branch')")
        }
        "data.kernel_revision.commit" => {
            Target::Text("json_extract(doc, '$.data.kernel_revision.commit')")
        }
        "created" => Target::Time("created"),
        "updated" => Target::Time("updated"),
        "timeout" => Target::Time("timeout"),
        "holdoff" => Target::Time("holdoff"),
        "processed_by_kcidb_bridge" => Target::Bool("processed_by_kcidb_bridge"),
        "retry_counter" => Target::Int("retry_counter"),
        other => Target::Json(json_path(other)),
    }
}

/// `data.kernel_revision.x` -> `$."data"."kernel_revision"."x"` (quoted, so any key works).
fn json_path(field: &str) -> String {
    let mut p = String::from("$");
    for seg in field.split('.') {
        p.push_str(".\"");
        p.push_str(seg);
        p.push('"');
    }
    p
}

const TRUE: &str = "1";
const FALSE: &str = "0";

/// The `WHERE` clause (always valid SQL, `1` for the empty filter) and its bound values.
pub(super) fn where_clause(filter: &Filter) -> (String, Vec<Value>) {
    let mut args = Vec::new();
    let parts: Vec<String> = filter.conditions.iter().map(|c| condition(c, &mut args)).collect();
    if parts.is_empty() {
        return (TRUE.to_owned(), args);
    }
    (parts.join(" AND "), args)
}

fn condition(c: &Condition, args: &mut Vec<Value>) -> String {
    match target(&c.field) {
        Target::Json(path) => json_condition(&path, c.op, &c.value, args),
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
        Target::Json(_) => unreachable!("JSON paths are handled by json_condition"),
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
        alts.push(format!("ifnull({col} IN ({}), 0)", vec!["?"; values.len()].join(", ")));
        args.extend(values);
    }
    if items.contains(&FilterValue::Null) {
        alts.push(format!("{col} IS NULL"));
    }
    if alts.is_empty() { FALSE.to_owned() } else { format!("({})", alts.join(" OR ")) }
}

/// A test on each value at `path` (the value itself, or each element of an array).
fn any_element(path: &str, pred: &str, args: &mut Vec<Value>, pred_args: Vec<Value>) -> String {
    args.push(Value::Text(path.to_owned()));
    args.extend(pred_args);
    // json_each yields one row for a scalar (key NULL), one per element for an array
    // (integer keys) and one per member for an object (text keys), which must not match.
    format!(
        "EXISTS (SELECT 1 FROM json_each(node.doc, ?) j WHERE typeof(j.key) <> 'text' AND {pred})"
    )
}

fn json_is_null(path: &str, args: &mut Vec<Value>) -> String {
    args.push(Value::Text(path.to_owned()));
    let missing_or_null = "ifnull(json_type(node.doc, ?), 'null') = 'null'";
    let any_null = any_element(path, "j.type = 'null'", args, Vec::new());
    format!("({missing_or_null} OR {any_null})")
}

/// Element predicate for comparing with `v`, or `None` when `v` can't match any JSON value.
fn element_pred(op: &str, v: &FilterValue) -> Option<(String, Value)> {
    let (types, val) = match v {
        FilterValue::Str(s) => ("'text'", Value::Text(s.clone())),
        FilterValue::Int(i) => ("'integer', 'real'", Value::Integer(*i)),
        FilterValue::Bool(b) => ("'true', 'false'", Value::Integer(i64::from(*b))),
        // Dates and ObjectIds only exist in the typed top-level columns.
        _ => return None,
    };
    Some((format!("j.type IN ({types}) AND j.atom {op} ?"), val))
}

fn json_eq(path: &str, v: &FilterValue, args: &mut Vec<Value>) -> String {
    if *v == FilterValue::Null {
        return json_is_null(path, args);
    }
    match element_pred("=", v) {
        Some((pred, val)) => any_element(path, &pred, args, vec![val]),
        None => FALSE.to_owned(),
    }
}

fn json_condition(path: &str, op: Op, v: &FilterValue, args: &mut Vec<Value>) -> String {
    match (op, v) {
        (Op::In, FilterValue::List(items)) => json_in(path, items, args),
        (Op::Nin, FilterValue::List(items)) => format!("NOT {}", json_in(path, items, args)),
        (Op::Eq | Op::In, _) => json_eq(path, v, args),
        (Op::Ne | Op::Nin, _) => format!("NOT {}", json_eq(path, v, args)),
        (Op::Lte | Op::Gte, FilterValue::Null) => json_is_null(path, args),
        (_, FilterValue::Null) => FALSE.to_owned(),
        (Op::Regex, FilterValue::Str(p)) => any_element(
            path,
            "j.type = 'text' AND ifnull(j.atom REGEXP ?, 0)",
            args,
            vec![Value::Text(p.clone())],
        ),
        (Op::Regex, _) => FALSE.to_owned(),
        (Op::Lt | Op::Lte | Op::Gt | Op::Gte, _) => {
            let sym = match op {
                Op::Lt => "<",
                Op::Lte => "<=",
                Op::Gt => ">",
                _ => ">=",
            };
            match element_pred(sym, v) {
                Some((pred, val)) => any_element(path, &pred, args, vec![val]),
                None => FALSE.to_owned(),
            }
        }
    }
}

fn json_in(path: &str, items: &[FilterValue], args: &mut Vec<Value>) -> String {
    if items.is_empty() {
        return FALSE.to_owned();
    }
    let alts: Vec<String> = items.iter().map(|v| json_eq(path, v, args)).collect();
    format!("({})", alts.join(" OR "))
}
