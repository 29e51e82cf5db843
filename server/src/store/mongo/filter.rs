//! Translation of the backend-neutral [`Filter`] into a MongoDB query document.
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use maestro_common::{Filter, FilterValue, Op};

use super::convert::{date, oid};
use crate::store::StoreResult;

/// The query for `filter` on `node`: `{}` when empty, else
/// `{$and: [{field: {$op: value}}, ...]}`.
///
/// Every condition goes through an explicit operator (`$eq` included), so a value is never
/// mistaken for an embedded-document match and MongoDB's own semantics apply: `$eq: null`
/// matches null or missing, `$ne: null` present and non-null, scalars match array elements.
pub(crate) fn to_query(filter: &Filter) -> StoreResult<Document> {
    build(filter, |_, v| value(v))
}

/// The query for `filter` on `eventhistory`: as [`to_query`], and an `id` given as a string
/// is compared as the ObjectId it spells (the SQLite store compares ids as text).
pub(crate) fn to_event_query(filter: &Filter) -> StoreResult<Document> {
    build(filter, |field, v| {
        if field == "_id" {
            id_value(v)
        } else {
            value(v)
        }
    })
}

/// An event id operand: a string spelling an ObjectId becomes that ObjectId.
fn id_value(v: &FilterValue) -> StoreResult<Bson> {
    match v {
        FilterValue::Str(s) => {
            Ok(ObjectId::parse_str(s).map_or_else(|_| Bson::String(s.clone()), Bson::ObjectId))
        }
        FilterValue::List(items) => Ok(Bson::Array(
            items.iter().map(id_value).collect::<StoreResult<_>>()?,
        )),
        other => value(other),
    }
}

/// The conjunction of `filter`'s conditions, each value converted by `convert` (which gets
/// the stored field name).
fn build(
    filter: &Filter,
    convert: impl Fn(&str, &FilterValue) -> StoreResult<Bson>,
) -> StoreResult<Document> {
    if filter.conditions.is_empty() {
        return Ok(Document::new());
    }
    let mut clauses = Vec::with_capacity(filter.conditions.len());
    for c in &filter.conditions {
        // The API calls the id `id`; MongoDB calls it `_id`.
        let field = if c.field == "id" {
            "_id"
        } else {
            c.field.as_str()
        };
        let value = match (c.op, convert(field, &c.value)?) {
            // `$in`/`$nin` need an array even if the parser handed over a single value.
            (Op::In | Op::Nin, Bson::Array(items)) => Bson::Array(items),
            (Op::In | Op::Nin, single) => Bson::Array(vec![single]),
            (_, v) => v,
        };
        clauses.push(Bson::Document(doc! { field: { operator(c.op): value } }));
    }
    Ok(doc! { "$and": clauses })
}

fn operator(op: Op) -> &'static str {
    match op {
        Op::Eq => "$eq",
        Op::Ne => "$ne",
        Op::Lt => "$lt",
        Op::Lte => "$lte",
        Op::Gt => "$gt",
        Op::Gte => "$gte",
        // A plain pattern string: no options, so unanchored and case-sensitive.
        Op::Regex => "$regex",
        Op::In => "$in",
        Op::Nin => "$nin",
    }
}

fn value(v: &FilterValue) -> StoreResult<Bson> {
    Ok(match v {
        FilterValue::Null => Bson::Null,
        FilterValue::Bool(b) => Bson::Boolean(*b),
        FilterValue::Int(i) => Bson::Int64(*i),
        FilterValue::Str(s) => Bson::String(s.clone()),
        FilterValue::Time(t) => date(*t),
        FilterValue::ObjectId(id) => Bson::ObjectId(oid(id)?),
        FilterValue::List(items) => {
            Bson::Array(items.iter().map(value).collect::<StoreResult<_>>()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use maestro_common::Timestamp;

    use super::*;

    fn query(params: &[(&str, &str)]) -> Document {
        to_query(&Filter::from_params(params.iter().copied()).unwrap()).unwrap()
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert_eq!(query(&[]), doc! {});
    }

    #[test]
    fn conditions_are_typed_and_combined() {
        let t = Timestamp::parse_iso("2025-01-01T10:00:00").unwrap();
        let parent = ObjectId::parse_str("65a1b2c3d4e5f60718293a4a").unwrap();
        let q = query(&[
            ("created__gte", "2025-01-01T12:00:00+02:00"),
            ("id", "65A1B2C3D4E5F60718293A4A"),
            ("kind__in", "kbuild,test"),
            ("name__re", "^gcc"),
            ("parent", "null"),
            ("processed_by_kcidb_bridge", "false"),
            ("retry_counter", "3"),
        ]);
        assert_eq!(
            q,
            doc! {"$and": [
                {"created": {"$gte": bson::DateTime::from_millis(t.millis())}},
                {"_id": {"$eq": parent}},
                {"kind": {"$in": ["kbuild", "test"]}},
                {"name": {"$regex": "^gcc"}},
                {"parent": {"$eq": null}},
                {"processed_by_kcidb_bridge": {"$eq": false}},
                {"retry_counter": {"$eq": 3_i64}},
            ]}
        );
    }

    #[test]
    fn in_and_nin_always_get_arrays() {
        let f = Filter {
            conditions: vec![maestro_common::Condition {
                field: "state".into(),
                op: Op::Nin,
                value: FilterValue::Str("done".into()),
            }],
        };
        assert_eq!(
            to_query(&f).unwrap(),
            doc! {"$and": [{"state": {"$nin": ["done"]}}]}
        );
    }

    #[test]
    fn event_queries_take_ids_as_object_ids() {
        let id = ObjectId::parse_str("65a1b2c3d4e5f60718293a4a").unwrap();
        let t = Timestamp::parse_iso("2025-01-01T10:00:00").unwrap();
        let f = Filter {
            conditions: vec![
                maestro_common::Condition {
                    field: "id".into(),
                    op: Op::In,
                    value: FilterValue::List(vec![
                        FilterValue::Str(id.to_hex()),
                        FilterValue::Str("nope".into()),
                    ]),
                },
                maestro_common::Condition {
                    field: "timestamp".into(),
                    op: Op::Gt,
                    value: FilterValue::Time(t),
                },
                maestro_common::Condition {
                    field: "sequence_id".into(),
                    op: Op::Gte,
                    value: FilterValue::Int(3),
                },
            ],
        };
        assert_eq!(
            to_event_query(&f).unwrap(),
            doc! {"$and": [
                {"_id": {"$in": [id, "nope"]}},
                {"timestamp": {"$gt": bson::DateTime::from_millis(t.millis())}},
                {"sequence_id": {"$gte": 3_i64}},
            ]}
        );
    }
}
