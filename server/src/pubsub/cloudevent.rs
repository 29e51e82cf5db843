//! The CloudEvents the server sends (kernelci-api.md section 8.3): built with the CNCF SDK,
//! then laid out as the Python server's `json.dumps` writes them, and wrapped in the
//! Redis-style message envelope of `/listen`.
use std::io;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::{EventBuilder, EventBuilderV10};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::events::StoredEvent;

/// The default `source` (`CLOUD_EVENTS_SOURCE`).
pub const DEFAULT_SOURCE: &str = "https://api.kernelci.org/";

/// The default `type`.
pub const DEFAULT_TYPE: &str = "api.kernelci.org";

/// The payload of keep-alive events.
pub const BEEP: &str = "BEEP";

/// Attributes a publisher may not set through `attributes`: the server sets them.
const RESERVED: [&str; 6] = [
    "type",
    "source",
    "owner",
    "data",
    "specversion",
    "_sequence_id",
];

/// What one CloudEvent is made of, before it gets an id and a time.
#[derive(Debug)]
pub struct CloudEventParts<'a> {
    /// `source`; the configured one when `None`.
    pub source: Option<&'a str>,
    /// `type`; `api.kernelci.org` when `None`.
    pub ty: Option<&'a str>,
    /// The payload.
    pub data: &'a Value,
    /// `owner`, when the event has one.
    pub owner: Option<&'a str>,
    /// Other attributes, in order (`id` and `time` replace the generated ones).
    pub attributes: Option<&'a Map<String, Value>>,
    /// `_sequence_id`, for stored events.
    pub sequence_id: Option<u64>,
}

impl<'a> CloudEventParts<'a> {
    /// The parts of a stored event: `type` and `source` as given to `/publish`, if they were.
    pub fn of_stored(event: &'a StoredEvent) -> Self {
        let attr = |k: &str| {
            event
                .attributes
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        Self {
            source: attr("source"),
            ty: attr("type"),
            data: &event.record.data,
            owner: event.record.owner.as_deref(),
            attributes: Some(&event.attributes),
            sequence_id: Some(event.seq()),
        }
    }

    /// The parts of a BEEP keep-alive: no owner, no sequence.
    pub fn beep(data: &'a Value) -> Self {
        Self {
            source: None,
            ty: None,
            data,
            owner: None,
            attributes: None,
            sequence_id: None,
        }
    }
}

/// `time` as Python's `datetime.now(UTC).isoformat()` writes it.
fn python_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// An extension value the SDK can carry (string, boolean, 64-bit integer).
fn extension_value(v: &Value) -> Option<ExtensionValue> {
    match v {
        Value::String(s) => Some(ExtensionValue::String(s.clone())),
        Value::Bool(b) => Some(ExtensionValue::Boolean(*b)),
        Value::Number(n) => n.as_i64().map(ExtensionValue::Integer),
        _ => None,
    }
}

/// The CloudEvent of `parts` as a JSON object, keys in the Python server's order:
/// `specversion, id, source, type, time, data`, then `owner`, the other attributes and
/// `_sequence_id`.
pub fn cloudevent(parts: &CloudEventParts<'_>, default_source: &str) -> Map<String, Value> {
    let now = Utc::now();
    let extra = |k: &str| parts.attributes.and_then(|a| a.get(k));
    let id = extra("id")
        .and_then(Value::as_str)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let source = parts
        .source
        .filter(|s| !s.is_empty())
        .unwrap_or(default_source);
    let ty = parts.ty.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_TYPE);
    let mut builder = EventBuilderV10::new()
        .id(id)
        .source(source)
        .ty(ty)
        .time(now);
    // Extensions in the order they must come out; values the SDK cannot hold (floats,
    // objects, arrays, null) are passed through as they were published.
    let mut order: Vec<(&str, Option<&Value>)> = Vec::new();
    if let Some(owner) = parts.owner {
        builder = builder.extension("owner", owner);
        order.push(("owner", None));
    }
    for (k, v) in parts.attributes.into_iter().flatten() {
        if RESERVED.contains(&k.as_str()) || k == "id" || k == "time" {
            continue;
        }
        match extension_value(v) {
            Some(ext) => {
                builder = builder.extension(k, ext);
                order.push((k, None));
            }
            None => order.push((k, Some(v))),
        }
    }
    if let Some(seq) = parts.sequence_id {
        builder = builder.extension("_sequence_id", i64::try_from(seq).unwrap_or(i64::MAX));
        order.push(("_sequence_id", None));
    }
    let sdk = match builder.build() {
        Ok(mut event) => {
            // Without a `datacontenttype`, as the Python server sends them.
            event.set_data_unchecked(parts.data.clone());
            serde_json::to_value(&event).ok()
        }
        Err(e) => {
            tracing::warn!(error = %e, "building a CloudEvent");
            None
        }
    };
    let mut sdk = match sdk {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let time = match extra("time") {
        Some(Value::String(t)) => Value::String(t.clone()),
        _ => Value::String(python_time(now)),
    };
    let mut out = Map::with_capacity(6 + order.len());
    out.insert("specversion".into(), Value::String("1.0".into()));
    for key in ["id", "source", "type"] {
        out.insert(key.into(), sdk.remove(key).unwrap_or(Value::Null));
    }
    out.insert("time".into(), time);
    out.insert(
        "data".into(),
        sdk.remove("data").unwrap_or_else(|| parts.data.clone()),
    );
    for (k, raw) in order {
        let v = match raw {
            Some(v) => v.clone(),
            None => sdk.remove(k).unwrap_or(Value::Null),
        };
        out.insert(k.to_owned(), v);
    }
    out
}

/// Writes JSON with Python's `json.dumps` separators (`", "` and `": "`).
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// `value` serialised as Python's `json.dumps` does (ASCII escaping aside).
pub fn python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut buf = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, PythonFormatter);
    if value.serialize(&mut ser).is_err() {
        return "null".to_owned();
    }
    // serde_json writes valid UTF-8.
    String::from_utf8(buf).unwrap_or_default()
}

/// The answer of `/listen`: a Redis pub/sub message whose `data` is the CloudEvent as a
/// JSON string.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Message {
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always null (no pattern subscriptions).
    pub pattern: Option<String>,
    /// The subscription's channel.
    pub channel: String,
    /// The CloudEvent, JSON-encoded: shared by every subscriber of one recent event.
    #[schema(value_type = String)]
    pub data: Arc<str>,
}

impl Message {
    /// A message on `channel` carrying `event`.
    pub fn new(channel: &str, event: &Map<String, Value>) -> Self {
        Self::of_text(channel, python_json(event).into())
    }

    /// A message on `channel` carrying a CloudEvent already encoded by [`python_json`].
    pub fn of_text(channel: &str, data: Arc<str>) -> Self {
        Self {
            kind: "message",
            pattern: None,
            channel: channel.to_owned(),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_have_the_python_layout() {
        let data = json!({"op": "created"});
        let attrs = json!({"type": "custom", "retries": 2, "weight": 1.5, "id": "fixed"});
        let parts = CloudEventParts {
            source: None,
            ty: Some("custom"),
            data: &data,
            owner: Some("bob"),
            attributes: attrs.as_object(),
            sequence_id: Some(7),
        };
        let ev = cloudevent(&parts, DEFAULT_SOURCE);
        let keys: Vec<&str> = ev.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "specversion",
                "id",
                "source",
                "type",
                "time",
                "data",
                "owner",
                "retries",
                "weight",
                "_sequence_id"
            ]
        );
        assert_eq!(ev["id"], "fixed");
        assert_eq!(ev["source"], DEFAULT_SOURCE);
        assert_eq!(ev["type"], "custom");
        assert_eq!(ev["data"], data);
        assert_eq!(ev["weight"], 1.5);
        assert_eq!(ev["_sequence_id"], 7);
        let time = ev["time"].as_str().unwrap();
        assert!(time.ends_with("+00:00"), "{time}");
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok());
    }

    #[test]
    fn beeps_have_no_owner_and_python_separators() {
        let beep = Value::String(BEEP.into());
        let ev = cloudevent(&CloudEventParts::beep(&beep), "https://example.org/");
        let msg = Message::new("node", &ev);
        assert!(
            msg.data
                .starts_with("{\"specversion\": \"1.0\", \"id\": \""),
            "{}",
            msg.data
        );
        assert!(msg.data.ends_with("\"data\": \"BEEP\"}"), "{}", msg.data);
        let uuid = ev["id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(uuid).unwrap().get_version_num(), 4);
        let envelope = serde_json::to_value(&msg).unwrap();
        assert_eq!(
            envelope.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["type", "pattern", "channel", "data"]
        );
    }
}
