//! Request decoding that answers like the Python server: JSON bodies with or without a
//! `Content-Type`, 422 problems with a `loc` (every bad field of a body model: `body.rs`),
//! and raw query parameters in order.
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

mod body;

pub use body::{FieldCheck, from_body, from_body_bytes, from_body_checked};

/// Parses a JSON body (whatever its `Content-Type`); a syntax error is a 422.
pub fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::unprocessable(
            &["body"],
            format!("JSON decode error: {e}"),
            "json_invalid",
            Value::Null,
        )
    })
}

/// Deserialises one field's `value` into `T`; a mismatch is a 422 naming where in the body
/// it was. A whole body model goes through [`from_body`], which lists every bad field.
pub fn from_field<T: DeserializeOwned>(value: Value, loc_prefix: &[&str]) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut loc: Vec<String> = loc_prefix.iter().map(|s| (*s).to_owned()).collect();
        let path = e.path().to_string();
        if path != "." {
            loc.extend(path.split('.').map(str::to_owned));
        }
        let msg = e.into_inner().to_string();
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_owned());
        let kind = if let Some(field) = missing {
            // serde reports a missing field at its parent; FastAPI names the field itself.
            loc.push(field);
            "missing"
        } else {
            "value_error"
        };
        ApiError::Unprocessable(vec![serde_json::json!({
            "type": kind, "loc": loc, "msg": msg, "input": Value::Null,
        })])
    })
}

/// The decoded `key=value` pairs of a query string, in order.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// Parses a FastAPI-style boolean query value (`true/1/yes/on`, `false/0/no/off`).
pub fn query_bool(name: &str, raw: &str) -> Result<bool, ApiError> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(ApiError::unprocessable(
            &["query", name],
            "Input should be a valid boolean, unable to interpret input",
            "bool_parsing",
            Value::String(raw.to_owned()),
        )),
    }
}
