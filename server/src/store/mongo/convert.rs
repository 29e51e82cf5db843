//! Conversion between API types and the BSON documents the Python KernelCI server stores
//! (`node`, `user` and `usergroup` collections), in both directions.
use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, doc};
use maestro_common::node::ObjectIdHex;
use maestro_common::{Node, Timestamp, UserGroupRef};
use serde_json::{Map, Number, Value};

use super::backend_msg;
use crate::store::{StoreError, StoreResult, StoredUser, UserGroup};

/// Top-level node fields whose Rust type has no null: a null read from an old or
/// hand-edited document falls back to the field's default instead of failing the load.
const NON_NULL_NODE_FIELDS: [&str; 7] = [
    "kind",
    "created",
    "updated",
    "timeout",
    "user_groups",
    "processed_by_kcidb_bridge",
    "retry_counter",
];

/// The BSON ObjectId of a validated 24-hex id.
pub(crate) fn oid(id: &ObjectIdHex) -> StoreResult<ObjectId> {
    ObjectId::parse_str(id.as_str()).map_err(|e| backend_msg(format!("bad ObjectId {id}: {e}")))
}

/// The BSON date of a timestamp (both have millisecond precision).
pub(crate) fn date(t: Timestamp) -> Bson {
    Bson::DateTime(DateTime::from_millis(t.millis()))
}

/// The stored form of a node: its JSON with `_id` first, ObjectIds and dates as BSON types,
/// and no top-level `id`.
pub(crate) fn node_to_doc(node: &Node) -> StoreResult<Document> {
    let id = node
        .id
        .as_ref()
        .ok_or_else(|| backend_msg("cannot store a node without an id".to_owned()))?;
    let json = serde_json::to_value(node).map_err(|e| StoreError::Backend(e.into()))?;
    let Value::Object(fields) = json else {
        return Err(backend_msg(
            "a node did not serialise to a JSON object".to_owned(),
        ));
    };
    let mut doc = Document::new();
    doc.insert("_id", oid(id)?);
    for (key, value) in fields {
        // Typed fields are taken from the struct so that no string round trip is involved.
        let bson = match key.as_str() {
            "id" => continue,
            "parent" => node
                .parent
                .as_ref()
                .map_or(Ok(Bson::Null), |p| oid(p).map(Bson::ObjectId))?,
            "created" => date(node.created),
            "updated" => date(node.updated),
            "timeout" => date(node.timeout),
            "holdoff" => node.holdoff.map_or(Bson::Null, date),
            _ => json_to_bson(value),
        };
        doc.insert(key, bson);
    }
    Ok(doc)
}

/// Loads a stored node, tolerating what the Python server writes: a redundant top-level
/// `id`, Int32 or Double numbers, and ObjectIds or dates nested in `data`.
pub(crate) fn doc_to_node(doc: Document) -> StoreResult<Node> {
    let mut fields = Map::new();
    let id = doc.get("_id").cloned().map_or(Value::Null, bson_to_json);
    fields.insert("id".to_owned(), id.clone());
    for (key, value) in doc {
        match key.as_str() {
            "_id" | "id" => continue,
            k if value == Bson::Null && NON_NULL_NODE_FIELDS.contains(&k) => continue,
            "retry_counter" => {
                fields.insert(key, retry_counter(value));
            }
            _ => {
                fields.insert(key, bson_to_json(value));
            }
        }
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| backend_msg(format!("stored node {id} cannot be read: {e}")))
}

/// `retry_counter` as an integer whatever numeric BSON type holds it.
fn retry_counter(value: Bson) -> Value {
    match value {
        Bson::Double(f) if f.is_finite() => Value::from(f.trunc() as i64),
        other => bson_to_json(other),
    }
}

/// JSON to BSON as pymongo would store the parsed JSON: integers as Int32 when they fit,
/// else Int64; object key order kept.
pub(crate) fn json_to_bson(value: Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            // u64 above i64::MAX or a float: BSON has no wider integer.
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s),
        Value::Array(items) => Bson::Array(items.into_iter().map(json_to_bson).collect()),
        Value::Object(map) => {
            Bson::Document(map.into_iter().map(|(k, v)| (k, json_to_bson(v))).collect())
        }
    }
}

/// BSON to the JSON the API shows: ObjectIds as 24-hex strings, dates in the naive ISO
/// form of [`Timestamp`], key order kept; exotic types as relaxed extended JSON.
pub(crate) fn bson_to_json(value: Bson) -> Value {
    match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::String(s) => Value::String(s),
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        Bson::DateTime(d) => match Timestamp::from_millis(d.timestamp_millis()) {
            Some(t) => Value::String(t.to_string()),
            None => Bson::DateTime(d).into_relaxed_extjson(),
        },
        Bson::Array(items) => Value::Array(items.into_iter().map(bson_to_json).collect()),
        Bson::Document(doc) => {
            Value::Object(doc.into_iter().map(|(k, v)| (k, bson_to_json(v))).collect())
        }
        other => other.into_relaxed_extjson(),
    }
}

/// The stored form of a user; group ids that are ObjectIds are stored as such.
/// A filter that matches the user record only while it is still `expected`: every field,
/// and exactly its groups by name (entries may carry other fields when the Python server
/// wrote them).
pub(crate) fn user_version_filter(expected: &StoredUser) -> StoreResult<Document> {
    let mut filter = doc! {
        "_id": oid(&expected.id)?,
        "email": &expected.email,
        "hashed_password": &expected.hashed_password,
        "is_active": expected.is_active,
        "is_superuser": expected.is_superuser,
        "is_verified": expected.is_verified,
        "username": &expected.username,
    };
    let names: Vec<&str> = expected.groups.iter().map(|g| g.name.as_str()).collect();
    // No element past the last: at most as many groups as read (and none, or no field).
    filter.insert(format!("groups.{}", names.len()), doc! {"$exists": false});
    if !names.is_empty() {
        // Names are unique in a record, so all of them and no more is exactly them. One
        // equality per name rather than `$all`, which not every MongoDB-wire server
        // evaluates through arrays of documents.
        let each: Vec<Document> = names.iter().map(|n| doc! {"groups.name": *n}).collect();
        filter.insert("$and", each);
    }
    Ok(filter)
}

pub(crate) fn user_to_doc(user: &StoredUser) -> StoreResult<Document> {
    let groups: Vec<Bson> = user
        .groups
        .iter()
        .map(|g| {
            let mut entry = Document::new();
            if !g.id.is_empty() {
                let id = ObjectId::parse_str(&g.id)
                    .map_or_else(|_| Bson::String(g.id.clone()), Bson::ObjectId);
                entry.insert("id", id);
            }
            entry.insert("name", g.name.clone());
            Bson::Document(entry)
        })
        .collect();
    let mut doc = Document::new();
    doc.insert("_id", oid(&user.id)?);
    doc.insert("email", user.email.clone());
    doc.insert("hashed_password", user.hashed_password.clone());
    doc.insert("is_active", user.is_active);
    doc.insert("is_superuser", user.is_superuser);
    doc.insert("is_verified", user.is_verified);
    doc.insert("username", user.username.clone());
    doc.insert("groups", groups);
    Ok(doc)
}

/// Loads a stored user; group entries may carry their id as `id` or `_id`.
pub(crate) fn doc_to_user(doc: &Document) -> StoreResult<StoredUser> {
    let id = doc_id(doc)?;
    let text = |key: &str| {
        doc.get_str(key)
            .map(str::to_owned)
            .map_err(|e| backend_msg(format!("stored user {id}: field '{key}': {e}")))
    };
    // Defaults of the fastapi-users model, for documents written without them.
    let flag = |key: &str, default: bool| doc.get_bool(key).unwrap_or(default);
    let mut groups = Vec::new();
    if let Ok(entries) = doc.get_array("groups") {
        for entry in entries {
            let Bson::Document(entry) = entry else {
                return Err(backend_msg(format!(
                    "stored user {id}: a group is not a document"
                )));
            };
            let gid =
                entry
                    .get("id")
                    .or_else(|| entry.get("_id"))
                    .map_or(String::new(), |v| match v {
                        Bson::ObjectId(o) => o.to_hex(),
                        Bson::String(s) => s.clone(),
                        other => other.to_string(),
                    });
            let name = entry
                .get_str("name")
                .map_err(|e| backend_msg(format!("stored user {id}: group name: {e}")))?;
            groups.push(UserGroupRef {
                id: gid,
                name: name.to_owned(),
            });
        }
    }
    Ok(StoredUser {
        email: text("email")?,
        hashed_password: text("hashed_password")?,
        is_active: flag("is_active", true),
        is_superuser: flag("is_superuser", false),
        is_verified: flag("is_verified", false),
        username: text("username")?,
        groups,
        id,
    })
}

/// The stored form of a group.
pub(crate) fn group_to_doc(group: &UserGroup) -> StoreResult<Document> {
    let mut doc = Document::new();
    doc.insert("_id", oid(&group.id)?);
    doc.insert("name", group.name.clone());
    Ok(doc)
}

/// Loads a stored group.
pub(crate) fn doc_to_group(doc: &Document) -> StoreResult<UserGroup> {
    let id = doc_id(doc)?;
    let name = doc
        .get_str("name")
        .map_err(|e| backend_msg(format!("stored group {id}: field 'name': {e}")))?;
    Ok(UserGroup {
        id,
        name: name.to_owned(),
    })
}

fn doc_id(doc: &Document) -> StoreResult<ObjectIdHex> {
    let id = doc
        .get_object_id("_id")
        .map_err(|e| backend_msg(format!("stored document without an ObjectId _id: {e}")))?;
    ObjectIdHex::parse(&id.to_hex()).map_err(backend_msg)
}

#[cfg(test)]
mod tests {
    use bson::doc;
    use maestro_common::NodeState;
    use serde_json::json;

    use super::*;

    fn sample() -> Node {
        let mut n = Node::new("kbuild", "gcc-12", vec!["checkout".into(), "gcc-12".into()]);
        n.id = Some(ObjectIdHex::parse("65a1b2c3d4e5f60718293a4b").unwrap());
        n.parent = Some(ObjectIdHex::parse("65a1b2c3d4e5f60718293a4a").unwrap());
        n.created = Timestamp::parse_iso("2024-02-01T09:58:28.479").unwrap();
        n.updated = n.created.plus_seconds(5);
        n.timeout = n.created.plus_seconds(3600);
        n.holdoff = Some(n.created.plus_seconds(60));
        n.data =
            Some(json!({"zeta": 1, "alpha": {"b": 2, "a": [1, "x", null]}, "big": 1i64 << 40}));
        n.retry_counter = 2;
        n
    }

    #[test]
    fn node_round_trips_with_bson_types() {
        let n = sample();
        let d = node_to_doc(&n).unwrap();
        assert_eq!(d.keys().next().map(String::as_str), Some("_id"));
        assert!(!d.contains_key("id"));
        assert!(matches!(d.get("_id"), Some(Bson::ObjectId(_))));
        assert!(matches!(d.get("parent"), Some(Bson::ObjectId(_))));
        assert_eq!(
            d.get_datetime("created").unwrap().timestamp_millis(),
            n.created.millis()
        );
        assert!(matches!(d.get("holdoff"), Some(Bson::DateTime(_))));
        assert_eq!(d.get_str("state").unwrap(), "running");
        assert_eq!(
            d.get_document("data").unwrap().get_i64("big").unwrap(),
            1 << 40
        );
        let keys: Vec<_> = d.get_document("data").unwrap().keys().cloned().collect();
        assert_eq!(keys, ["zeta", "alpha", "big"]);
        let back = doc_to_node(d).unwrap();
        assert_eq!(back, n);
        let keys: Vec<_> = back
            .data
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["zeta", "alpha", "big"]);
    }

    #[test]
    fn root_node_stores_null_parent_and_holdoff() {
        let mut n = sample();
        n.parent = None;
        n.holdoff = None;
        let d = node_to_doc(&n).unwrap();
        assert_eq!(d.get("parent"), Some(&Bson::Null));
        assert_eq!(d.get("holdoff"), Some(&Bson::Null));
        assert_eq!(doc_to_node(d).unwrap(), n);
    }

    #[test]
    fn node_without_id_is_refused() {
        let n = Node::new("test", "t", vec!["t".into()]);
        assert!(matches!(node_to_doc(&n), Err(StoreError::Backend(_))));
    }

    #[test]
    fn python_shaped_document_loads() {
        let id = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        let other = ObjectId::parse_str("65a1b2c3d4e5f60718293a4c").unwrap();
        let created = DateTime::from_millis(1_706_781_508_479);
        let d = doc! {
            "_id": id,
            "id": id,
            "kind": "regression",
            "name": "r",
            "path": ["checkout", "r"],
            "group": null,
            "parent": other,
            "state": "done",
            "result": "fail",
            "artifacts": {},
            "data": {"fail_node": other, "pass_node": "x", "when": created, "n": 3.5},
            "debug": null,
            "jobfilter": null,
            "platform_filter": [],
            "created": created,
            "updated": created,
            "timeout": created,
            "holdoff": null,
            "owner": "admin",
            "submitter": null,
            "treeid": null,
            "user_groups": [],
            "processed_by_kcidb_bridge": false,
            "retry_counter": 3_i32,
        };
        let n = doc_to_node(d).unwrap();
        assert_eq!(n.id_str(), "65a1b2c3d4e5f60718293a4b");
        assert_eq!(n.parent.unwrap().as_str(), "65a1b2c3d4e5f60718293a4c");
        assert_eq!(n.state, NodeState::Done);
        assert_eq!(n.retry_counter, 3);
        assert_eq!(n.created.to_string(), "2024-02-01T09:58:28.479000");
        assert_eq!(
            n.data.unwrap(),
            json!({"fail_node": "65a1b2c3d4e5f60718293a4c", "pass_node": "x",
                   "when": "2024-02-01T09:58:28.479000", "n": 3.5})
        );
        assert_eq!(n.debug, None);
    }

    #[test]
    fn retry_counter_accepts_every_numeric_type() {
        for v in [Bson::Int32(4), Bson::Int64(4), Bson::Double(4.0)] {
            let mut d = node_to_doc(&sample()).unwrap();
            d.insert("retry_counter", v.clone());
            assert_eq!(doc_to_node(d).unwrap().retry_counter, 4, "{v:?}");
        }
    }

    #[test]
    fn missing_and_null_optional_fields_take_defaults() {
        let d = doc! {
            "_id": ObjectId::new(), "name": "n", "path": ["n"], "created": DateTime::now(),
            "user_groups": null, "retry_counter": null,
        };
        let n = doc_to_node(d).unwrap();
        assert_eq!(n.kind, "node");
        assert!(n.user_groups.is_empty());
        assert_eq!(n.retry_counter, 0);
    }

    #[test]
    fn user_round_trips_and_accepts_underscore_group_ids() {
        let u = StoredUser {
            id: ObjectIdHex::parse("6526448e7d140ee220971a0e").unwrap(),
            email: "a@b.org".into(),
            hashed_password: "$argon2id$x".into(),
            is_active: true,
            is_superuser: false,
            is_verified: true,
            username: "alice".into(),
            groups: vec![UserGroupRef {
                id: "648ff894bd39930355ed16ad".into(),
                name: "kernelci".into(),
            }],
        };
        let d = user_to_doc(&u).unwrap();
        let g = d.get_array("groups").unwrap()[0].as_document().unwrap();
        assert!(matches!(g.get("id"), Some(Bson::ObjectId(_))));
        assert_eq!(doc_to_user(&d).unwrap(), u);

        let mut d = d;
        let oid = ObjectId::parse_str("648ff894bd39930355ed16ad").unwrap();
        d.insert(
            "groups",
            vec![Bson::Document(doc! {"_id": oid, "name": "kernelci"})],
        );
        d.insert("revision_id", Bson::Null);
        assert_eq!(doc_to_user(&d).unwrap(), u);
    }

    #[test]
    fn group_round_trips() {
        let g = UserGroup {
            id: ObjectIdHex::parse("648ff894bd39930355ed16ad").unwrap(),
            name: "k".into(),
        };
        assert_eq!(doc_to_group(&group_to_doc(&g).unwrap()).unwrap(), g);
    }
}
