//! The indexes the server relies on, created idempotently at startup.
use std::time::Duration;

use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::IndexModel;
use mongodb::options::{Collation, CollationStrength, IndexOptions};

use super::{backend, backend_msg, error_code};
use crate::store::StoreResult;

/// Mongo's `IndexOptionsConflict` (same keys under another name, or other options).
const INDEX_OPTIONS_CONFLICT: i32 = 85;
/// Mongo's `IndexKeySpecsConflict` (same name, other keys).
const INDEX_KEY_SPECS_CONFLICT: i32 = 86;

/// One index to ensure.
struct Spec {
    collection: &'static str,
    keys: Document,
    unique: bool,
    /// Case-insensitive English collation (strength 2), as Beanie gives `user.email`.
    case_insensitive: bool,
    /// Fixed name; `None` lets the driver derive it (`parent_1`, `kind_1_created_1`, ...),
    /// the same names the Python server's creations get.
    name: Option<&'static str>,
    /// TTL index: documents expire this many seconds after the indexed date.
    expire_after_seconds: Option<u64>,
}

fn spec(collection: &'static str, keys: Document) -> Spec {
    Spec {
        collection,
        keys,
        unique: false,
        case_insensitive: false,
        name: None,
        expire_after_seconds: None,
    }
}

fn named(name: &'static str, spec: Spec) -> Spec {
    Spec {
        name: Some(name),
        ..spec
    }
}

/// How long events are kept: the Python server's default `EVENT_HISTORY_TTL_SECONDS`.
const EVENT_HISTORY_TTL_SECONDS: u64 = 604_800;

fn unique(collection: &'static str, keys: Document) -> Spec {
    Spec {
        unique: true,
        ..spec(collection, keys)
    }
}

fn specs() -> Vec<Spec> {
    vec![
        // Node indexes: the fields the API and the pipeline services filter on.
        spec("node", doc! {"parent": 1}),
        spec("node", doc! {"kind": 1, "created": 1}),
        // `/nodes?kind=test&state=done` in id order, the pipeline's usual page: equality on
        // both, then `_id`, so a page of 100 reads 100 entries, with no sort of all matches.
        spec("node", doc! {"kind": 1, "state": 1, "_id": 1}),
        // The life-cycle rules page through these by (key, _id) (lifecycle.rs); `_id` in
        // the index gives that order without an in-memory sort. The first one also serves
        // the `state` + `timeout` filters of clients, as the (state, timeout) index did.
        spec("node", doc! {"state": 1, "timeout": 1, "_id": 1}),
        spec("node", doc! {"state": 1, "holdoff": 1, "_id": 1}),
        spec("node", doc! {"treeid": 1}),
        spec(
            "node",
            doc! {
                "data.kernel_revision.tree": 1,
                "data.kernel_revision.branch": 1,
                "data.kernel_revision.commit": 1,
            },
        ),
        spec("node", doc! {"data.kernel_revision.commit": 1}),
        spec("node", doc! {"owner": 1}),
        spec("node", doc! {"name": 1}),
        // Also the node purge's, which names it in a hint (purge.rs).
        spec("node", doc! {"created": 1}),
        spec("node", doc! {"updated": 1}),
        spec("node", doc! {"processed_by_kcidb_bridge": 1}),
        unique("user", doc! {"email": 1}),
        // Makes the case-insensitive email uniqueness atomic; same name and options as the
        // index Beanie creates, so a database shared with the Python server is left as is.
        Spec {
            case_insensitive: true,
            name: Some("case_insensitive_email_index"),
            ..unique("user", doc! {"email": 1})
        },
        unique("user", doc! {"username": 1}),
        unique("usergroup", doc! {"name": 1}),
        // Event history, as the Python server indexes it, plus `sequence_id` alone for
        // reads across channels. Not unique: a wiped Redis counter made the Python server
        // reuse numbers.
        Spec {
            expire_after_seconds: Some(EVENT_HISTORY_TTL_SECONDS),
            ..spec("eventhistory", doc! {"timestamp": 1})
        },
        spec("eventhistory", doc! {"channel": 1, "sequence_id": 1}),
        spec("eventhistory", doc! {"sequence_id": 1}),
        named(
            "kind_timestamp",
            spec("eventhistory", doc! {"data.kind": 1, "timestamp": 1}),
        ),
        // Ours: a claim lives as long as the event it resolves (the `_id` is the number).
        Spec {
            expire_after_seconds: Some(EVENT_HISTORY_TTL_SECONDS),
            ..spec("event_claims", doc! {"at": 1})
        },
        // Ours: `/pop` takes the oldest item of a list.
        spec("lists", doc! {"list": 1, "seq": 1}),
        named(
            "unique_subscriber_id",
            unique("subscriber_state", doc! {"subscriber_id": 1}),
        ),
        named("last_poll", spec("subscriber_state", doc! {"last_poll": 1})),
        // Telemetry, as the Python server indexes it (same keys, options and derived names,
        // so a shared database is left as is): the TTL that keeps events 14 days, and the
        // report filters.
        Spec {
            expire_after_seconds: Some(crate::telemetry::TELEMETRY_TTL_SECONDS),
            ..spec("telemetry", doc! {"ts": 1})
        },
        spec("telemetry", doc! {"kind": 1, "ts": -1}),
        spec("telemetry", doc! {"runtime": 1, "device_type": 1, "ts": -1}),
        spec("telemetry", doc! {"job_name": 1, "ts": -1}),
        spec(
            "telemetry",
            doc! {"result": 1, "is_infra_error": 1, "ts": -1},
        ),
    ]
}

fn collation() -> Collation {
    Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build()
}

/// Creates every index that is missing. An equivalent index under another name (error
/// 85/86) is accepted; a conflicting one fails startup when it is a unique index (its
/// constraint is part of the store's contract) and is only logged otherwise.
pub(crate) async fn ensure(db: &Database) -> StoreResult<()> {
    for spec in specs() {
        let options = IndexOptions::builder()
            .unique(spec.unique.then_some(true))
            .collation(spec.case_insensitive.then(collation))
            .name(spec.name.map(str::to_owned))
            .expire_after(spec.expire_after_seconds.map(Duration::from_secs))
            .build();
        let model = IndexModel::builder()
            .keys(spec.keys.clone())
            .options(options)
            .build();
        let coll = db.collection::<Document>(spec.collection);
        let Err(err) = coll.create_index(model).await else {
            continue;
        };
        if !matches!(
            error_code(&err),
            Some(INDEX_OPTIONS_CONFLICT | INDEX_KEY_SPECS_CONFLICT)
        ) {
            return Err(backend(err));
        }
        if has_equivalent(db, &spec).await? {
            tracing::debug!(collection = spec.collection, keys = %spec.keys, "equivalent index exists");
        } else if spec.unique {
            return Err(backend_msg(format!(
                "cannot create unique index {} on {}: {err}",
                spec.keys, spec.collection
            )));
        } else {
            tracing::warn!(collection = spec.collection, keys = %spec.keys, error = %err,
                "index not created; queries on these fields may be slow");
        }
    }
    Ok(())
}

/// Whether the collection has an index with the same keys (in order) and options.
async fn has_equivalent(db: &Database, spec: &Spec) -> StoreResult<bool> {
    let existing: Vec<Document> = db
        .run_cursor_command(doc! {"listIndexes": spec.collection})
        .await
        .map_err(backend)?
        .try_collect()
        .await
        .map_err(backend)?;
    Ok(existing.iter().any(|index| is_equivalent(index, spec)))
}

fn is_equivalent(index: &Document, spec: &Spec) -> bool {
    let Ok(keys) = index.get_document("key") else {
        return false;
    };
    let flag = |key: &str| matches!(index.get(key), Some(Bson::Boolean(true)));
    let same_keys = keys.len() == spec.keys.len()
        && keys
            .iter()
            .zip(spec.keys.iter())
            .all(|((k1, v1), (k2, v2))| {
                k1 == k2 && numeric(v1).is_some() && numeric(v1) == numeric(v2)
            });
    let same_collation = match index.get_document("collation") {
        Err(_) => !spec.case_insensitive,
        Ok(c) => {
            spec.case_insensitive
                && c.get_str("locale") == Ok("en")
                && c.get("strength").and_then(numeric) == Some(2.0)
        }
    };
    let same_ttl = index.get("expireAfterSeconds").and_then(numeric)
        == spec.expire_after_seconds.map(|s| s as f64);
    same_keys
        && same_collation
        && same_ttl
        && flag("unique") == spec.unique
        && !flag("sparse")
        && !index.contains_key("partialFilterExpression")
}

/// An index key direction whatever numeric type stored it (`1`, `1_i64`, `1.0`).
fn numeric(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(f) => Some(*f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalence_ignores_name_and_number_type() {
        let s = unique("user", doc! {"username": 1});
        assert!(is_equivalent(
            &doc! {"v": 2, "key": {"username": 1.0}, "name": "u", "unique": true},
            &s
        ));
        assert!(!is_equivalent(
            &doc! {"key": {"username": 1}, "name": "u"},
            &s
        ));
        assert!(!is_equivalent(
            &doc! {"key": {"username": -1}, "unique": true},
            &s
        ));
        let compound = spec("node", doc! {"kind": 1, "created": 1});
        assert!(!is_equivalent(
            &doc! {"key": {"created": 1, "kind": 1}},
            &compound
        ));
        let all = specs();
        let ci = all
            .iter()
            .find(|s| s.case_insensitive)
            .expect("the case-insensitive email index");
        assert!(is_equivalent(
            &doc! {"key": {"email": 1}, "unique": true,
            "collation": {"locale": "en", "strength": 2, "caseLevel": false}},
            ci
        ));
        assert!(!is_equivalent(
            &doc! {"key": {"email": 1}, "unique": true},
            ci
        ));
        let ttl = all
            .iter()
            .find(|s| s.expire_after_seconds.is_some())
            .expect("the event history TTL index");
        assert_eq!(ttl.keys, doc! {"timestamp": 1});
        assert!(is_equivalent(
            &doc! {"key": {"timestamp": 1}, "name": "timestamp_1", "expireAfterSeconds": 604_800},
            ttl
        ));
        assert!(!is_equivalent(
            &doc! {"key": {"timestamp": 1}, "expireAfterSeconds": 86_400},
            ttl
        ));
        assert!(!is_equivalent(&doc! {"key": {"timestamp": 1}}, ttl));
    }
}
