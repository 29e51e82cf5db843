//! Request-body validation as FastAPI's (pydantic's) answers it: every field that does not
//! fit the model is a problem of the one 422, in the order of the model's fields, each
//! `{"type", "loc", "msg", "input"}` with pydantic's type and message where serde's error
//! has a pydantic equivalent.
//!
//! serde stops at the first error. After a failure, the bad values are found one pass at a
//! time (serde over the parsed body, each bad value taken out for the next pass), then
//! every missing field at once by eserde (Mainmatter's serde companion, which visits the
//! input again and collects every error). eserde alone would do both, but over JSON text a
//! bad list or object where a scalar belongs is not skipped and hides what follows.
//! serde-aux's introspection gives the model's field order, in which pydantic lists.
use eserde::EDeserialize;
use eserde::path::Segment;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;

/// A field validator: a check of the raw body, run alongside the type checks (as pydantic
/// runs validators), so one answer lists every problem. Returns a problem item.
pub type FieldCheck = fn(&Value) -> Option<Value>;

/// Deserialises the body `value` into the model `T`; a 422 lists every field that does
/// not fit.
pub fn from_body<T>(value: Value, loc_prefix: &[&str]) -> Result<T, ApiError>
where
    T: DeserializeOwned + for<'de> EDeserialize<'de>,
{
    from_body_checked(value, loc_prefix, &[])
}

/// Deserialises the JSON text `bytes` into the model `T` straight from the text (no
/// [`Value`] tree of the whole body: a hierarchy body is a megabyte); when that fails, the
/// body goes through [`crate::extract::json_body`] and [`from_body`], so the answer is the
/// same 422 as theirs. Decoding the text succeeds exactly where decoding its parsed tree
/// does, with the same model, except for a repeated field name (an error here, the last
/// value there), which the fallback answers.
pub fn from_body_bytes<T>(bytes: &[u8], loc_prefix: &[&str]) -> Result<T, ApiError>
where
    T: DeserializeOwned + for<'de> EDeserialize<'de>,
{
    match serde_json::from_slice(bytes) {
        Ok(model) => Ok(model),
        Err(_) => from_body(super::json_body(bytes)?, loc_prefix),
    }
}

/// [`from_body`], with the problems `checks` find in the raw body listed too.
pub fn from_body_checked<T>(
    value: Value,
    loc_prefix: &[&str],
    checks: &[FieldCheck],
) -> Result<T, ApiError>
where
    T: DeserializeOwned + for<'de> EDeserialize<'de>,
{
    let decoded = T::deserialize(&value);
    let mut problems: Vec<Value> = checks.iter().filter_map(|check| check(&value)).collect();
    match decoded {
        Ok(model) if problems.is_empty() => return Ok(model),
        Ok(_) => {}
        Err(first) => problems.extend(decode_problems::<T>(&value, loc_prefix, &first)),
    }
    let fields = serde_aux::serde_introspection::serde_introspect::<T>();
    let position = |problem: &Value| {
        let field = problem["loc"].get(loc_prefix.len()).and_then(Value::as_str);
        field
            .and_then(|f| fields.iter().position(|name| *name == f))
            .unwrap_or(fields.len())
    };
    // Stable: the problems of one field keep the order they were found in.
    problems.sort_by_key(position);
    Err(ApiError::Unprocessable(problems))
}

/// How many bad fields are looked for at most: each costs a pass over the body.
const MAX_PROBLEMS: usize = 64;

/// One step of a path into the body.
enum Step {
    Key(String),
    Index(usize),
}

/// Every decoding problem of `value` as `T`: first the present fields whose values do not
/// fit, found by serde one at a time, each taken out of the body for the next pass (over
/// the parsed body, which always moves past a bad value); then, on the body so cleaned, the
/// missing fields, which serde reports one at a time and eserde all at once.
fn decode_problems<T>(value: &Value, loc_prefix: &[&str], first: &serde_json::Error) -> Vec<Value>
where
    T: DeserializeOwned + for<'de> EDeserialize<'de>,
{
    let mut body = value.clone();
    let mut problems = Vec::new();
    let mut taken_out: Vec<Vec<String>> = Vec::new();
    while problems.len() < MAX_PROBLEMS {
        let Err(e) = serde_path_to_error::deserialize::<_, T>(&body) else {
            break;
        };
        let message = e.inner().to_string();
        if missing_field(without_position(&message)).is_some() {
            break;
        }
        let path: Vec<Step> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                _ => None,
            })
            .collect();
        problems.push(problem(value, loc_prefix, &path, &message));
        // Inside a list, the whole list goes: taking an item out would renumber the rest.
        let keys: Vec<String> = path
            .iter()
            .map_while(|s| match s {
                Step::Key(k) => Some(k.clone()),
                Step::Index(_) => None,
            })
            .collect();
        if !take_out(&mut body, &keys) {
            break;
        }
        taken_out.push(keys);
    }
    if let Err(errors) = eserde::json::from_str::<T>(&body.to_string()) {
        for e in errors.iter() {
            let Some(field) = missing_field(without_position(e.message())) else {
                continue;
            };
            let mut path: Vec<Step> = e
                .path()
                .into_iter()
                .flat_map(|p| p.iter())
                .filter_map(|s| match s {
                    Segment::Map { key } => Some(Step::Key(key.clone())),
                    Segment::Seq { index } => Some(Step::Index(*index)),
                    Segment::Enum { .. } => None,
                })
                .collect();
            path.push(Step::Key(field.to_owned()));
            let keys: Vec<String> = path
                .iter()
                .filter_map(|s| match s {
                    Step::Key(k) => Some(k.clone()),
                    Step::Index(_) => None,
                })
                .collect();
            // A field taken out for its bad value is reported already.
            if !taken_out.contains(&keys) {
                problems.push(problem(value, loc_prefix, &path, e.message()));
            }
        }
    }
    if problems.is_empty() {
        vec![problem(value, loc_prefix, &[], &first.to_string())]
    } else {
        problems
    }
}

/// Removes the value at `keys` from `body`; whether there was one.
fn take_out(body: &mut Value, keys: &[String]) -> bool {
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut at = body;
    for key in parents {
        match at.get_mut(key) {
            Some(next) => at = next,
            None => return false,
        }
    }
    at.as_object_mut().and_then(|o| o.remove(last)).is_some()
}

/// One problem at `path` under `loc_prefix`, with the input found there in `body`.
fn problem(body: &Value, loc_prefix: &[&str], path: &[Step], message: &str) -> Value {
    let mut loc: Vec<Value> = loc_prefix.iter().map(|s| json!(s)).collect();
    let mut input = Some(body);
    let last = path.len().saturating_sub(1);
    for (i, step) in path.iter().enumerate() {
        // A missing field's input is its parent, as pydantic's.
        let missing = i == last && missing_field(without_position(message)).is_some();
        match step {
            Step::Key(key) => {
                if !missing {
                    input = input.and_then(|v| v.get(key));
                }
                loc.push(json!(key));
            }
            Step::Index(index) => {
                input = input.and_then(|v| v.get(index));
                loc.push(json!(index));
            }
        }
    }
    let message = without_position(message);
    let input = input.cloned().unwrap_or(Value::Null);
    if missing_field(message).is_some() {
        return json!({"type": "missing", "loc": loc, "msg": "Field required", "input": input});
    }
    let (kind, msg) = pydantic_kind(message);
    json!({"type": kind, "loc": loc, "msg": msg, "input": input})
}

/// serde_json's message without its ` at line L column C`.
fn without_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    }
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// pydantic's error type and message for serde's `message`; `value_error` with serde's
/// message when pydantic has no equivalent.
fn pydantic_kind(message: &str) -> (&'static str, String) {
    let expected = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
        .map(|(_, expected)| expected);
    let typed = match expected {
        Some("a string") => Some(("string_type", "Input should be a valid string")),
        Some("a boolean") => Some(("bool_type", "Input should be a valid boolean")),
        Some("a sequence") => Some(("list_type", "Input should be a valid list")),
        Some("a map") => Some(("dict_type", "Input should be a valid dictionary")),
        Some(e) if e.starts_with("struct ") => Some((
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )),
        Some("i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize") => {
            Some(("int_type", "Input should be a valid integer"))
        }
        Some("f32" | "f64") => Some(("float_type", "Input should be a valid number")),
        _ => None,
    };
    if let Some((kind, msg)) = typed {
        return (kind, msg.to_owned());
    }
    if let Some(variants) = message
        .strip_prefix("unknown variant `")
        .and_then(|rest| rest.split_once("`, expected "))
        .map(|(_, expected)| expected)
    {
        let names: Vec<String> = variants
            .trim_start_matches("one of ")
            .split(", ")
            .map(|v| format!("'{}'", v.trim_matches('`')))
            .collect();
        let listed = match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        return ("enum", format!("Input should be {listed}"));
    }
    ("value_error", message.to_owned())
}
