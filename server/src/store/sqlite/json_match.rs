//! `mongo_match(doc, path, op, operand)`: MongoDB's matching rules for a dotted path into
//! a node's JSON, as an SQL function. A path continues into every object of an array on
//! the way, a terminal array matches when the array or any element does, null matches a
//! missing field, and values only compare within their type (numbers, strings, booleans).
use std::cmp::Ordering;

use regex::Regex;
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The operand of one condition, parsed once per statement.
struct Operand {
    value: Value,
    regex: Option<Regex>,
}

/// Registers `mongo_match` on `conn`.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "mongo_match",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        evaluate,
    )
}

fn evaluate(ctx: &Context<'_>) -> rusqlite::Result<bool> {
    let op: String = ctx.get(2)?;
    let path = ctx.get_or_create_aux(1, |v| -> Result<Vec<String>, BoxError> {
        Ok(v.as_str()?.split('.').map(str::to_owned).collect())
    })?;
    let is_regex = op == "re";
    let operand = ctx.get_or_create_aux(3, move |v| -> Result<Operand, BoxError> {
        let value: Value = serde_json::from_str(v.as_str()?)?;
        let regex = match (&value, is_regex) {
            (Value::String(p), true) => Some(Regex::new(p)?),
            _ => None,
        };
        Ok(Operand { value, regex })
    })?;
    let doc: Value = match ctx.get_raw(0) {
        ValueRef::Text(t) => {
            serde_json::from_slice(t).map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?
        }
        _ => return Ok(false),
    };
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    collect(&doc, &segs, &mut found);
    Ok(matches(&found, &op, &operand))
}

/// A value reached by a path, or the mark of a place where the field is missing.
enum Found<'a> {
    Missing,
    Value(&'a Value),
}

fn collect<'a>(v: &'a Value, segs: &[&str], out: &mut Vec<Found<'a>>) {
    let Some((seg, rest)) = segs.split_first() else {
        out.push(Found::Value(v));
        if let Value::Array(items) = v {
            out.extend(items.iter().map(Found::Value));
        }
        return;
    };
    match v {
        Value::Object(map) => match map.get(*seg) {
            Some(child) => collect(child, rest, out),
            None => out.push(Found::Missing),
        },
        Value::Array(items) => {
            if let Some(item) = seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                collect(item, rest, out);
            }
            for item in items.iter().filter(|i| i.is_object()) {
                collect(item, segs, out);
            }
        }
        _ => out.push(Found::Missing),
    }
}

/// Orders two JSON values of the same type bracket; `None` across brackets.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn equals(found: &[Found<'_>], want: &Value) -> bool {
    found.iter().any(|f| match f {
        Found::Missing => want.is_null(),
        Found::Value(v) => compare(v, want) == Some(Ordering::Equal),
    })
}

fn ordered(found: &[Found<'_>], want: &Value, accept: fn(Ordering) -> bool) -> bool {
    found.iter().any(|f| match f {
        // `$lte: null` and `$gte: null` match a missing field, as equality with null does.
        Found::Missing => want.is_null() && accept(Ordering::Equal),
        Found::Value(v) => compare(v, want).is_some_and(accept),
    })
}

fn one_of(found: &[Found<'_>], list: &Value) -> bool {
    match list {
        Value::Array(items) => items.iter().any(|w| equals(found, w)),
        single => equals(found, single),
    }
}

fn matches(found: &[Found<'_>], op: &str, operand: &Operand) -> bool {
    let want = &operand.value;
    match op {
        "eq" => equals(found, want),
        "ne" => !equals(found, want),
        "lt" => ordered(found, want, Ordering::is_lt),
        "lte" => ordered(found, want, Ordering::is_le),
        "gt" => ordered(found, want, Ordering::is_gt),
        "gte" => ordered(found, want, Ordering::is_ge),
        "in" => one_of(found, want),
        "nin" => !one_of(found, want),
        "re" => operand.regex.as_ref().is_some_and(|re| {
            found
                .iter()
                .any(|f| matches!(f, Found::Value(Value::String(s)) if re.is_match(s)))
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(doc: Value, path: &str, op: &str, want: Value) -> bool {
        let segs: Vec<&str> = path.split('.').collect();
        let mut found = Vec::new();
        collect(&doc, &segs, &mut found);
        let regex = want
            .as_str()
            .filter(|_| op == "re")
            .map(|p| Regex::new(p).unwrap());
        matches(&found, op, &Operand { value: want, regex })
    }

    #[test]
    fn paths_continue_through_arrays_of_objects() {
        let doc = json!({"runs": [{"arch": "x86"}, {"arch": "arm"}], "tags": ["a", "b"]});
        assert!(check(doc.clone(), "runs.arch", "eq", json!("arm")));
        assert!(check(doc.clone(), "runs.0.arch", "eq", json!("x86")));
        assert!(!check(doc.clone(), "runs.arch", "ne", json!("x86")));
        assert!(check(doc.clone(), "tags", "eq", json!("b")));
        assert!(check(doc.clone(), "tags", "re", json!("^b$")));
        assert!(check(doc.clone(), "nothing", "eq", Value::Null));
    }

    #[test]
    fn types_compare_only_within_their_bracket() {
        let doc = json!({"n": 5, "s": "5", "b": true});
        assert!(check(doc.clone(), "n", "gt", json!(4)));
        assert!(!check(doc.clone(), "s", "gt", json!(4)));
        assert!(check(doc.clone(), "s", "ne", json!(5)));
        assert!(!check(doc.clone(), "b", "eq", json!(1)));
        assert!(check(doc.clone(), "n", "in", json!(["5", 5])));
        assert!(check(doc, "missing", "nin", json!(["x"])));
    }
}
