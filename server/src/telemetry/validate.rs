//! One element of a `POST /telemetry` body checked as pydantic checks the Python server's
//! `TelemetryEvent` model (lax mode): the same accepted values and defaults, unknown fields
//! ignored, and a failure worded as pydantic's `ValidationError` (without its URL lines).
use maestro_common::Timestamp;
use maestro_common::node::ObjectIdHex;
use serde_json::{Map, Value};

use super::TelemetryEvent;
use super::pyrepr::{repr, truncated, type_name};

/// One failed field.
struct FieldError {
    field: &'static str,
    kind: &'static str,
    msg: &'static str,
    /// What was given (the whole object for a missing field, as pydantic shows it).
    input: Value,
}

/// Collects the errors of one object, field by field in the model's order.
struct Checker<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: &'static str, kind: &'static str, msg: &'static str, v: &Value) {
        self.errors.push(FieldError {
            field,
            kind,
            msg,
            input: v.clone(),
        });
    }

    fn required_str(&mut self, field: &'static str) -> String {
        match self.obj.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => {
                self.fail(field, "string_type", "Input should be a valid string", v);
                String::new()
            }
            None => {
                let whole = Value::Object(self.obj.clone());
                self.fail(field, "missing", "Field required", &whole);
                String::new()
            }
        }
    }

    fn optional_str(&mut self, field: &'static str) -> Option<String> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                self.fail(field, "string_type", "Input should be a valid string", v);
                None
            }
        }
    }

    fn boolean(&mut self, field: &'static str) -> bool {
        let Some(v) = self.obj.get(field) else {
            return false;
        };
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_f64() {
                Some(0.0) => Some(false),
                Some(1.0) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
                "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
                _ => None,
            },
            _ => {
                self.fail(field, "bool_type", "Input should be a valid boolean", v);
                return false;
            }
        };
        parsed.unwrap_or_else(|| {
            let msg = "Input should be a valid boolean, unable to interpret input";
            self.fail(field, "bool_parsing", msg, v);
            false
        })
    }

    fn integer(&mut self, field: &'static str) -> i64 {
        let Some(v) = self.obj.get(field) else {
            return 0;
        };
        let (kind, msg) = match v {
            Value::Bool(b) => return i64::from(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    return i;
                }
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => return f as i64,
                    Some(f) if f.fract() == 0.0 => (
                        "int_parsing_size",
                        "Unable to parse input string as an integer, exceeded maximum size",
                    ),
                    _ => (
                        "int_from_float",
                        "Input should be a valid integer, got a number with a fractional part",
                    ),
                }
            }
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => return i,
                Err(_) => (
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                ),
            },
            _ => ("int_type", "Input should be a valid integer"),
        };
        self.fail(field, kind, msg, v);
        0
    }

    fn datetime(&mut self, field: &'static str, now: Timestamp) -> Timestamp {
        let Some(v) = self.obj.get(field) else {
            return now;
        };
        let parsed = match v {
            Value::String(s) => Timestamp::parse_iso(s).ok_or((
                "datetime_from_date_parsing",
                "Input should be a valid datetime or date, invalid datetime format",
            )),
            Value::Number(n) => n.as_f64().and_then(Timestamp::from_epoch_number).ok_or((
                "datetime_parsing",
                "Input should be a valid datetime, dates after 9999 are not supported as \
                 unix timestamps",
            )),
            _ => Err(("datetime_type", "Input should be a valid datetime")),
        };
        parsed.unwrap_or_else(|(kind, msg)| {
            self.fail(field, kind, msg, v);
            now
        })
    }

    fn object(&mut self, field: &'static str) -> Map<String, Value> {
        match self.obj.get(field) {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(v) => {
                self.fail(field, "dict_type", "Input should be a valid dictionary", v);
                Map::new()
            }
        }
    }
}

/// The event `obj` describes, to be stored under `id`; `now` is its `ts` when it has none.
/// `Err` is the message of pydantic's `ValidationError` for it.
pub fn event_from_json(
    obj: &Map<String, Value>,
    id: ObjectIdHex,
    now: Timestamp,
) -> Result<TelemetryEvent, String> {
    let mut c = Checker {
        obj,
        errors: Vec::new(),
    };
    let event = TelemetryEvent {
        id,
        ts: c.datetime("ts", now),
        kind: c.required_str("kind"),
        runtime: c.required_str("runtime"),
        device_type: c.optional_str("device_type"),
        device_id: c.optional_str("device_id"),
        job_name: c.optional_str("job_name"),
        test_name: c.optional_str("test_name"),
        job_id: c.optional_str("job_id"),
        node_id: c.optional_str("node_id"),
        tree: c.optional_str("tree"),
        branch: c.optional_str("branch"),
        arch: c.optional_str("arch"),
        result: c.optional_str("result"),
        is_infra_error: c.boolean("is_infra_error"),
        error_type: c.optional_str("error_type"),
        error_msg: c.optional_str("error_msg"),
        retry: c.integer("retry"),
        extra: c.object("extra"),
    };
    if c.errors.is_empty() {
        return Ok(event);
    }
    Err(message(&c.errors))
}

/// `str(ValidationError)`: a count line, then each field and its problem.
fn message(errors: &[FieldError]) -> String {
    let n = errors.len();
    let plural = if n == 1 { "" } else { "s" };
    let mut out = format!("{n} validation error{plural} for TelemetryEvent");
    for e in errors {
        out.push_str(&format!(
            "\n{}\n  {} [type={}, input_value={}, input_type={}]",
            e.field,
            e.msg,
            e.kind,
            truncated(repr(&e.input)),
            type_name(&e.input),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(v: Value) -> Result<TelemetryEvent, String> {
        let Value::Object(obj) = v else {
            panic!("not an object")
        };
        let id = ObjectIdHex::parse("65a1b2c3d4e5f60718293a4b").unwrap();
        let now = Timestamp::parse_iso("2026-01-02T03:04:05").unwrap();
        event_from_json(&obj, id, now)
    }

    #[test]
    fn defaults_and_lax_values_are_taken() {
        let e = check(json!({"kind": "job_result", "runtime": "lava", "unknown": 1})).unwrap();
        assert_eq!(e.ts.to_string(), "2026-01-02T03:04:05");
        assert_eq!((e.is_infra_error, e.retry, e.extra.len()), (false, 0, 0));
        let e = check(
            json!({"kind": "k", "runtime": "r", "ts": "2025-01-01T02:00:00+02:00",
            "is_infra_error": "yes", "retry": "3", "device_type": null, "extra": {"a": [1]}}),
        )
        .unwrap();
        assert_eq!(e.ts.to_string(), "2025-01-01T00:00:00");
        assert_eq!((e.is_infra_error, e.retry), (true, 3));
        assert_eq!(e.extra["a"], json!([1]));
        let e = check(
            json!({"kind": "k", "runtime": "r", "is_infra_error": 1, "retry": 2.0,
            "ts": 1_700_000_000}),
        )
        .unwrap();
        assert_eq!((e.is_infra_error, e.retry), (true, 2));
        assert_eq!(e.ts.to_string(), "2023-11-14T22:13:20");
    }

    #[test]
    fn failures_are_worded_as_pydantic_words_them() {
        let err = check(json!({"runtime": "lava"})).unwrap_err();
        assert_eq!(
            err,
            "1 validation error for TelemetryEvent\nkind\n  Field required \
             [type=missing, input_value={'runtime': 'lava'}, input_type=dict]"
        );
        let err = check(json!({"kind": 3, "runtime": "r", "retry": 1.5,
            "is_infra_error": "maybe", "extra": [], "ts": "later"}))
        .unwrap_err();
        assert!(
            err.starts_with("5 validation errors for TelemetryEvent\nts\n"),
            "{err}"
        );
        for part in [
            "kind\n  Input should be a valid string [type=string_type, input_value=3, input_type=int]",
            "[type=int_from_float, input_value=1.5, input_type=float]",
            "[type=bool_parsing, input_value='maybe', input_type=str]",
            "extra\n  Input should be a valid dictionary [type=dict_type, input_value=[], input_type=list]",
        ] {
            assert!(err.contains(part), "{part} not in {err}");
        }
        let err = check(json!({"kind": "k", "runtime": null, "ts": null})).unwrap_err();
        assert!(err.contains("[type=datetime_type, input_value=None, input_type=NoneType]"));
        assert!(err.contains("runtime\n  Input should be a valid string"));
    }
}
