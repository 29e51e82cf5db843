//! Python's `repr` of JSON values, for the messages the Python server words with it:
//! pydantic's `input_value=...` and the set of `Invalid group_by fields: {'x'}`.
use serde_json::Value;

/// `repr(value)` of the Python object JSON `value` parses to.
pub(crate) fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => float(f),
            _ => n.to_string(),
        },
        Value::String(s) => string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", string(k), repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// `repr(s)`: single quotes unless the text has one and no double quote; backslashes,
/// the quote and control characters escaped.
pub(crate) fn string(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let n = u32::from(c);
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr(f)`: the shortest form that reads back, `.0` on integral values, and Python's
/// exponent form (`1e+20`, `1e-05`) outside 1e-4 to 1e16.
fn float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let e = format!("{f:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{f:?}")
}

/// pydantic's shortening of a long `input_value`: the first 25 and last 24 characters.
pub(crate) fn truncated(repr: String) -> String {
    let len = repr.chars().count();
    if len <= 50 {
        return repr;
    }
    let start: String = repr.chars().take(25).collect();
    let end: String = repr.chars().skip(len - 24).collect();
    format!("{start}...{end}")
}

/// The Python type name of what JSON `value` parses to.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reprs_read_as_python_writes_them() {
        assert_eq!(
            repr(&json!({"a": [1, 2.5, null, true], "b": "it's"})),
            r#"{'a': [1, 2.5, None, True], 'b': "it's"}"#
        );
        assert_eq!(
            repr(&json!("tab\there\\ 'q\" \u{1}")),
            "'tab\\there\\\\ \\'q\" \\x01'"
        );
        assert_eq!(repr(&json!(1.0)), "1.0");
        assert_eq!(repr(&json!(1e20)), "1e+20");
        assert_eq!(repr(&json!(0.00001)), "1e-05");
        assert_eq!(repr(&json!(123456.5)), "123456.5");
    }

    #[test]
    fn long_inputs_are_shortened_as_pydantic_does() {
        let long = "x".repeat(60);
        let t = truncated(long);
        assert_eq!(t.chars().count(), 52);
        assert!(t.contains("..."));
        assert_eq!(truncated("short".to_owned()), "short");
    }
}
