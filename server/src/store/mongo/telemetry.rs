//! The telemetry collection of the MongoDB store: `telemetry`, the Python server's, with its
//! documents' shape (every model field, nulls included, `ts` a BSON date) and its indexes
//! (`indexes.rs`), the TTL one included: MongoDB itself deletes events after 14 days.
use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Timestamp};
use mongodb::Collection;
use serde_json::{Map, Value};

use super::convert::{bson_to_json, date, json_to_bson, oid};
use super::{MongoStore, backend, backend_msg, filter};
use crate::store::StoreResult;
use crate::store::telemetry::{TelemetryGroup, TelemetryGrouping, TelemetryStore};
use crate::telemetry::TelemetryEvent;

/// The collection, named as the Python server names it, so a shared database keeps working.
pub(super) const TELEMETRY: &str = "telemetry";

impl MongoStore {
    fn telemetry(&self) -> Collection<Document> {
        self.db.collection(TELEMETRY)
    }
}

fn opt(s: Option<&str>) -> Bson {
    s.map_or(Bson::Null, |s| Bson::String(s.to_owned()))
}

/// The stored document: the Python server's shape, without its redundant `id: null`.
fn to_doc(e: &TelemetryEvent) -> StoreResult<Document> {
    Ok(doc! {
        "_id": oid(&e.id)?,
        "ts": date(e.ts),
        "kind": &e.kind,
        "runtime": &e.runtime,
        "device_type": opt(e.device_type.as_deref()),
        "device_id": opt(e.device_id.as_deref()),
        "job_name": opt(e.job_name.as_deref()),
        "test_name": opt(e.test_name.as_deref()),
        "job_id": opt(e.job_id.as_deref()),
        "node_id": opt(e.node_id.as_deref()),
        "tree": opt(e.tree.as_deref()),
        "branch": opt(e.branch.as_deref()),
        "arch": opt(e.arch.as_deref()),
        "result": opt(e.result.as_deref()),
        "is_infra_error": e.is_infra_error,
        "error_type": opt(e.error_type.as_deref()),
        "error_msg": opt(e.error_msg.as_deref()),
        // As pymongo stores a Python int: 32 bits when it fits.
        "retry": i32::try_from(e.retry).map_or(Bson::Int64(e.retry), Bson::Int32),
        "extra": json_to_bson(Value::Object(e.extra.clone())),
    })
}

/// A string field; null, missing or another type is `None` (documents written by another
/// server are read as leniently as they can be).
fn string(d: &Document, key: &str) -> Option<String> {
    match d.get(key) {
        Some(Bson::String(s)) => Some(s.clone()),
        Some(Bson::Null) | None => None,
        Some(other) => Some(match bson_to_json(other.clone()) {
            Value::String(s) => s,
            v => v.to_string(),
        }),
    }
}

fn from_doc(d: Document) -> StoreResult<TelemetryEvent> {
    let id = d
        .get_object_id("_id")
        .map_err(|e| backend_msg(format!("telemetry document without an ObjectId _id: {e}")))?;
    let ts = match d.get("ts") {
        Some(Bson::DateTime(t)) => Timestamp::from_millis(t.timestamp_millis()),
        _ => None,
    }
    .ok_or_else(|| backend_msg(format!("telemetry document {id} without a date `ts`")))?;
    let retry = match d.get("retry") {
        Some(Bson::Int32(i)) => i64::from(*i),
        Some(Bson::Int64(i)) => *i,
        Some(Bson::Double(f)) if f.is_finite() => f.trunc() as i64,
        _ => 0,
    };
    let extra = match d.get("extra") {
        Some(Bson::Document(x)) => match bson_to_json(Bson::Document(x.clone())) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    let s = |key: &str| string(&d, key);
    Ok(TelemetryEvent {
        id: ObjectIdHex::parse(&id.to_hex()).map_err(backend_msg)?,
        ts,
        kind: s("kind").unwrap_or_default(),
        runtime: s("runtime").unwrap_or_default(),
        device_type: s("device_type"),
        device_id: s("device_id"),
        job_name: s("job_name"),
        test_name: s("test_name"),
        job_id: s("job_id"),
        node_id: s("node_id"),
        tree: s("tree"),
        branch: s("branch"),
        arch: s("arch"),
        result: s("result"),
        is_infra_error: matches!(d.get("is_infra_error"), Some(Bson::Boolean(true))),
        error_type: s("error_type"),
        error_msg: s("error_msg"),
        retry,
        extra,
    })
}

/// `{$sum: {$cond: [<test>, 1, 0]}}`
fn count_if(test: Document) -> Document {
    doc! {"$sum": {"$cond": [test, 1, 0]}}
}

fn result_is(value: &str) -> Document {
    count_if(doc! {"$eq": ["$result", value]})
}

/// The aggregation of `g`: match, (newest first when the newest event is wanted), then one
/// `$group` with the key fields as `k0`, `k1`, ... (missing taken as null, so that an old
/// document without the field joins the null group).
fn pipeline(g: &TelemetryGrouping) -> StoreResult<Vec<Document>> {
    let mut key = Document::new();
    for (i, field) in g.keys.iter().enumerate() {
        key.insert(
            format!("k{i}"),
            doc! {"$ifNull": [format!("${}", field.as_str()), Bson::Null]},
        );
    }
    let mut group = doc! {
        "_id": key,
        "total": {"$sum": 1},
        "pass": result_is("pass"),
        "fail": result_is("fail"),
        "incomplete": result_is("incomplete"),
        "skip": result_is("skip"),
        "infra_error": count_if(doc! {"$eq": ["$is_infra_error", true]}),
    };
    let mut stages = vec![doc! {"$match": filter::to_query(&g.filter)?}];
    if g.latest {
        stages.push(doc! {"$sort": {"ts": -1}});
        group.insert("last_seen", doc! {"$first": "$ts"});
        group.insert("latest_error_type", doc! {"$first": "$error_type"});
        group.insert("latest_error_msg", doc! {"$first": "$error_msg"});
    }
    stages.push(doc! {"$group": group});
    Ok(stages)
}

fn count(d: &Document, key: &str) -> u64 {
    match d.get(key) {
        Some(Bson::Int32(i)) => u64::try_from(*i).unwrap_or(0),
        Some(Bson::Int64(i)) => u64::try_from(*i).unwrap_or(0),
        Some(Bson::Double(f)) if f.is_finite() && *f >= 0.0 => *f as u64,
        _ => 0,
    }
}

fn to_group(d: &Document, keys: usize) -> TelemetryGroup {
    let id = d.get_document("_id").ok();
    TelemetryGroup {
        key: (0..keys)
            .map(|i| id.and_then(|id| string(id, &format!("k{i}"))))
            .collect(),
        total: count(d, "total"),
        pass: count(d, "pass"),
        fail: count(d, "fail"),
        incomplete: count(d, "incomplete"),
        skip: count(d, "skip"),
        infra_error: count(d, "infra_error"),
        last_seen: match d.get("last_seen") {
            Some(Bson::DateTime(t)) => Timestamp::from_millis(t.timestamp_millis()),
            _ => None,
        },
        latest_error_type: string(d, "latest_error_type"),
        latest_error_msg: string(d, "latest_error_msg"),
    }
}

#[async_trait]
impl TelemetryStore for MongoStore {
    async fn insert_telemetry(&self, events: &[TelemetryEvent]) -> StoreResult<()> {
        let docs = events.iter().map(to_doc).collect::<StoreResult<Vec<_>>>()?;
        let ids: Vec<ObjectId> = docs
            .iter()
            .filter_map(|d| d.get_object_id("_id").ok())
            .collect();
        let Err(e) = self.telemetry().insert_many(docs).await else {
            return Ok(());
        };
        // All or nothing: insert_many keeps what it wrote before the failure, so take it
        // back (best effort: the database just failed once).
        if let Err(undo) = self
            .telemetry()
            .delete_many(doc! {"_id": {"$in": ids}})
            .await
        {
            tracing::warn!(error = %undo, "could not undo a partial telemetry insert");
        }
        Err(backend(e))
    }

    async fn find_telemetry(
        &self,
        filter: &Filter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(Vec<TelemetryEvent>, u64)> {
        let query = filter::to_query(filter)?;
        let (docs, total) =
            super::page(&self.telemetry(), query, offset, limit, self.max_time).await?;
        let events = docs.into_iter().map(from_doc).collect::<StoreResult<_>>()?;
        Ok((events, total))
    }

    async fn group_telemetry(
        &self,
        grouping: &TelemetryGrouping,
    ) -> StoreResult<Vec<TelemetryGroup>> {
        let docs: Vec<Document> = self
            .telemetry()
            .aggregate(pipeline(grouping)?)
            .max_time(self.max_time)
            .allow_disk_use(true)
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        Ok(docs
            .iter()
            .map(|d| to_group(d, grouping.keys.len()))
            .collect())
    }

    async fn purge_telemetry(&self, before: Timestamp, limit: u64) -> StoreResult<u64> {
        if limit == 0 {
            return Ok(0);
        }
        // The ids first: `delete_many` takes no limit.
        let old = doc! {"ts": {"$lt": date(before)}};
        let ids: Vec<Bson> = self
            .telemetry()
            .find(old)
            .projection(doc! {"_id": 1})
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(backend)?
            .try_collect::<Vec<Document>>()
            .await
            .map_err(backend)?
            .into_iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = self
            .telemetry()
            .delete_many(doc! {"_id": {"$in": ids}})
            .await
            .map_err(backend)?;
        Ok(deleted.deleted_count)
    }

    fn expires_telemetry_itself(&self) -> bool {
        // The TTL index on `ts`; the Python server may also share the database with its own
        // `TELEMETRY_TTL_SECONDS`, which a second deleter of ours would contradict.
        true
    }
}
