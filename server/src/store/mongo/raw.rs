//! Node reads served from the raw BSON documents: the JSON text the API answers is
//! written straight from the stored bytes, in the field order of the serialised
//! [`maestro_common::Node`], without building a `Document`, a `serde_json::Value` and a
//! `Node` on the way. A document of another shape (written by the Python server, or edited
//! by hand) takes the general path, so the answer is always the stored node parsed and
//! serialised again (`server/tests/http/raw_reads.rs`).
use std::io::Write;

use bson::raw::{RawArray, RawBsonRef, RawDocument};
use futures::TryStreamExt;
use maestro_common::node::{NodeResult, NodeState};
use maestro_common::{Filter, Timestamp};

use super::{MongoStore, backend, convert, filter};
use crate::store::{StoreError, StoreResult};

/// Every result, whose wire names are the only strings `result` reads back the same.
const RESULTS: [NodeResult; 4] = [
    NodeResult::Pass,
    NodeResult::Fail,
    NodeResult::Skip,
    NodeResult::Incomplete,
];

/// Most keys of a nested document the direct path checks for repeats (a longer one takes
/// the general path).
const MAX_KEYS: usize = 256;

/// What a top-level field of a stored node may hold for the direct path to write it as
/// is: anything else takes the general path.
#[derive(Clone, Copy)]
enum Field {
    Id,
    Str,
    OptStr,
    OptId,
    Strings,
    OptStrings,
    State,
    OptResult,
    /// A document or null (`artifacts`, `debug`).
    OptMap,
    /// Any value (`data`).
    Any,
    Date,
    OptDate,
    Bool,
    Int,
}

/// The fields of a node document as this server stores them (`convert::node_to_doc`):
/// `_id` first, then those of the serialised `Node` in its order, under their JSON names.
const FIELDS: [(&str, &str, Field); 23] = [
    ("_id", "id", Field::Id),
    ("kind", "kind", Field::Str),
    ("name", "name", Field::Str),
    ("path", "path", Field::Strings),
    ("group", "group", Field::OptStr),
    ("parent", "parent", Field::OptId),
    ("state", "state", Field::State),
    ("result", "result", Field::OptResult),
    ("artifacts", "artifacts", Field::OptMap),
    ("data", "data", Field::Any),
    ("debug", "debug", Field::OptMap),
    ("jobfilter", "jobfilter", Field::OptStrings),
    ("platform_filter", "platform_filter", Field::OptStrings),
    ("created", "created", Field::Date),
    ("updated", "updated", Field::Date),
    ("timeout", "timeout", Field::Date),
    ("holdoff", "holdoff", Field::OptDate),
    ("owner", "owner", Field::OptStr),
    ("submitter", "submitter", Field::OptStr),
    ("treeid", "treeid", Field::OptStr),
    ("user_groups", "user_groups", Field::Strings),
    (
        "processed_by_kcidb_bridge",
        "processed_by_kcidb_bridge",
        Field::Bool,
    ),
    ("retry_counter", "retry_counter", Field::Int),
];

/// `GET /node/{id}`: one `find` of the raw document.
pub(super) async fn get_node_json(
    store: &MongoStore,
    id: &maestro_common::node::ObjectIdHex,
) -> StoreResult<Option<String>> {
    let found = store
        .raw_nodes()
        .find_one(bson::doc! {"_id": convert::oid(id)?})
        .await
        .map_err(backend)?;
    found
        .map(|raw| {
            let mut out = Vec::with_capacity(raw.as_bytes().len() + 256);
            node_json(&raw, &mut out)?;
            text(out)
        })
        .transpose()
}

/// `/nodes` and `/nodes/fast`: the page of raw documents, as one JSON array.
pub(super) async fn find_nodes_json(
    store: &MongoStore,
    filter: &Filter,
    offset: u64,
    limit: Option<u64>,
) -> StoreResult<String> {
    if limit == Some(0) {
        return Ok("[]".to_owned());
    }
    let nodes = store.raw_nodes();
    let mut find = nodes
        .find(filter::to_query(filter)?)
        .sort(bson::doc! {"_id": 1})
        .skip(offset)
        .max_time(store.max_time);
    if let Some(limit) = limit {
        find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let mut cursor = find.await.map_err(backend)?;
    let mut out = Vec::with_capacity(16 << 10);
    out.push(b'[');
    let mut first = true;
    while let Some(raw) = cursor.try_next().await.map_err(backend)? {
        if !first {
            out.push(b',');
        }
        first = false;
        node_json(&raw, &mut out)?;
    }
    out.push(b']');
    text(out)
}

fn text(out: Vec<u8>) -> StoreResult<String> {
    // Only JSON text is written, from UTF-8 the raw reader checked.
    String::from_utf8(out).map_err(|e| StoreError::Backend(e.into()))
}

/// Appends the node's JSON to `out`: directly when the document has the shape this server
/// stores, else through [`convert::doc_to_node`].
pub(crate) fn node_json(raw: &RawDocument, out: &mut Vec<u8>) -> StoreResult<()> {
    let start = out.len();
    if direct(raw, out).is_some() {
        return Ok(());
    }
    out.truncate(start);
    let doc = bson::Document::try_from(raw).map_err(|e| StoreError::Backend(e.into()))?;
    let node = convert::doc_to_node(doc)?;
    serde_json::to_writer(&mut *out, &node).map_err(|e| StoreError::Backend(e.into()))
}

/// The direct path; `None` (with `out` partly written) when the document is not of the
/// shape it knows.
fn direct(raw: &RawDocument, out: &mut Vec<u8>) -> Option<()> {
    let mut fields = raw.iter();
    out.push(b'{');
    for (i, (stored, name, kind)) in FIELDS.iter().enumerate() {
        let (key, value) = fields.next()?.ok()?;
        if key != *stored {
            return None;
        }
        if i > 0 {
            out.push(b',');
        }
        string(name, out);
        out.push(b':');
        field(*kind, value, out)?;
    }
    if fields.next().is_some() {
        return None;
    }
    out.push(b'}');
    Some(())
}

/// One top-level field, if its value is what the `Node` field takes and prints back the
/// same.
fn field(kind: Field, value: RawBsonRef<'_>, out: &mut Vec<u8>) -> Option<()> {
    match (kind, value) {
        (Field::Id | Field::OptId, RawBsonRef::ObjectId(o)) => string(&o.to_hex(), out),
        (Field::Str | Field::OptStr, RawBsonRef::String(s)) => string(s, out),
        (Field::Strings | Field::OptStrings, RawBsonRef::Array(a)) => strings(a, out)?,
        (Field::State, RawBsonRef::String(s)) => string(NodeState::parse(s)?.as_str(), out),
        (Field::OptResult, RawBsonRef::String(s)) => {
            RESULTS.iter().find(|r| r.as_str() == s)?;
            string(s, out);
        }
        (Field::OptMap, RawBsonRef::Document(d)) => document(d, out)?,
        (Field::Any, v) => any(v, out)?,
        (Field::Date | Field::OptDate, RawBsonRef::DateTime(d)) => date(d, out)?,
        (Field::Bool, RawBsonRef::Boolean(b)) => {
            out.extend_from_slice(if b { b"true" } else { b"false" })
        }
        (Field::Int, RawBsonRef::Int32(n)) => write!(out, "{n}").ok()?,
        (Field::Int, RawBsonRef::Int64(n)) => write!(out, "{n}").ok()?,
        (
            Field::OptStr
            | Field::OptId
            | Field::OptStrings
            | Field::OptResult
            | Field::OptMap
            | Field::OptDate,
            RawBsonRef::Null,
        ) => out.extend_from_slice(b"null"),
        _ => return None,
    }
    Some(())
}

/// A node date: its naive ISO form, within the years that form reads back.
fn date(d: bson::DateTime, out: &mut Vec<u8>) -> Option<()> {
    let t = Timestamp::from_millis(d.timestamp_millis())?;
    let text = t.to_string();
    // Years past 9999 (or before 1) print in a form `Timestamp::parse_iso` refuses.
    if text.len() < 19 || text.as_bytes()[4] != b'-' || text.starts_with("0000") {
        return None;
    }
    string(&text, out);
    Some(())
}

fn strings(a: &RawArray, out: &mut Vec<u8>) -> Option<()> {
    out.push(b'[');
    for (i, item) in a.into_iter().enumerate() {
        let RawBsonRef::String(s) = item.ok()? else {
            return None;
        };
        if i > 0 {
            out.push(b',');
        }
        string(s, out);
    }
    out.push(b']');
    Some(())
}

/// Any value as `convert::bson_to_json` shows it; `None` for the types it writes as
/// extended JSON (rare: the general path prints those).
fn any(v: RawBsonRef<'_>, out: &mut Vec<u8>) -> Option<()> {
    match v {
        RawBsonRef::Null | RawBsonRef::Undefined => out.extend_from_slice(b"null"),
        RawBsonRef::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        RawBsonRef::Int32(n) => write!(out, "{n}").ok()?,
        RawBsonRef::Int64(n) => write!(out, "{n}").ok()?,
        // As `serde_json::Number::from_f64`: not finite is null; else serde_json's form.
        RawBsonRef::Double(f) if f.is_finite() => serde_json::to_writer(&mut *out, &f).ok()?,
        RawBsonRef::Double(_) => out.extend_from_slice(b"null"),
        RawBsonRef::String(s) => string(s, out),
        RawBsonRef::ObjectId(o) => string(&o.to_hex(), out),
        RawBsonRef::DateTime(d) => string(
            &Timestamp::from_millis(d.timestamp_millis())?.to_string(),
            out,
        ),
        RawBsonRef::Array(a) => {
            out.push(b'[');
            for (i, item) in a.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any(item.ok()?, out)?;
            }
            out.push(b']');
        }
        RawBsonRef::Document(d) => document(d, out)?,
        _ => return None,
    }
    Some(())
}

/// A document as a JSON object, keys in stored order; `None` for a key twice (the general
/// path keeps the last value where the first was).
fn document(d: &RawDocument, out: &mut Vec<u8>) -> Option<()> {
    out.push(b'{');
    let mut keys: Vec<&str> = Vec::new();
    for (i, item) in d.iter().enumerate() {
        let (key, value) = item.ok()?;
        if keys.len() >= MAX_KEYS || keys.contains(&key) {
            return None;
        }
        keys.push(key);
        if i > 0 {
            out.push(b',');
        }
        string(key, out);
        out.push(b':');
        any(value, out)?;
    }
    out.push(b'}');
    Some(())
}

/// A JSON string, escaped as serde_json escapes it.
fn string(s: &str, out: &mut Vec<u8>) {
    // Writing to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use bson::{Bson, RawDocumentBuf, doc};
    use maestro_common::Node;
    use serde_json::json;

    use super::*;

    fn via_node(raw: &RawDocument) -> String {
        let doc = bson::Document::try_from(raw).unwrap();
        serde_json::to_string(&convert::doc_to_node(doc).unwrap()).unwrap()
    }

    fn stored(node: serde_json::Value) -> RawDocumentBuf {
        let mut node: Node = serde_json::from_value(node).unwrap();
        node.id =
            Some(maestro_common::node::ObjectIdHex::parse("65a1b2c3d4e5f60718293a4a").unwrap());
        RawDocumentBuf::from_document(&convert::node_to_doc(&node).unwrap()).unwrap()
    }

    #[test]
    fn the_direct_path_prints_what_the_general_one_does() {
        let raw = stored(json!({
            "kind": "test", "name": "c\u{e9}\"\\\t\u{1F600}", "path": ["a", "b"],
            "parent": "65a1b2c3d4e5f60718293a4b", "state": "done", "result": "fail",
            "data": {"z": 1, "a": [null, true, 1.5, -0.0, 1e300, 18446744073709551615u64],
                     "s": "v6.1 \u{2028} \u{7f} </script>", "n": {"deep": {}}},
            "debug": {"i": -12, "big": 9_000_000_000_i64},
            "holdoff": "2024-02-01T09:58:28.479", "created": "2024-01-01",
            "jobfilter": ["x"], "user_groups": ["g"], "retry_counter": 3,
        }));
        let mut out = Vec::new();
        assert!(direct(&raw, &mut out).is_some());
        assert_eq!(String::from_utf8(out).unwrap(), via_node(&raw));
        let minimal = stored(json!({"name": "n", "path": []}));
        let mut out = Vec::new();
        assert!(direct(&minimal, &mut out).is_some());
        assert_eq!(String::from_utf8(out).unwrap(), via_node(&minimal));
    }

    #[test]
    fn other_shapes_take_the_general_path() {
        let raw = stored(json!({"name": "n", "path": []}));
        let mut doc = bson::Document::try_from(raw.as_ref()).unwrap();
        // As the Python server stores it: a redundant `id`, a Double counter.
        doc.insert("id", "65a1b2c3d4e5f60718293a4a");
        doc.insert("retry_counter", Bson::Double(2.0));
        let python = RawDocumentBuf::from_document(&doc).unwrap();
        let mut out = Vec::new();
        assert!(direct(&python, &mut out).is_none());
        let mut out = Vec::new();
        node_json(&python, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), via_node(&python));
        let odd = RawDocumentBuf::from_document(&doc! {"_id": 1, "name": "n"}).unwrap();
        assert!(direct(&odd, &mut Vec::new()).is_none());
        // A key twice in `data`: the general path keeps one.
        let mut twice = bson::Document::try_from(raw.as_ref()).unwrap();
        let mut data = bson::RawDocumentBuf::new();
        data.append("k", 1);
        data.append("k", 2);
        let mut top = RawDocumentBuf::new();
        for (k, v) in twice.iter_mut() {
            if k == "data" {
                top.append(k.as_str(), data.clone());
            } else {
                top.append(k.as_str(), bson::RawBson::try_from(v.clone()).unwrap());
            }
        }
        assert!(direct(&top, &mut Vec::new()).is_none());
    }
}
