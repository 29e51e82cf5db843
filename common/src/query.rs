//! The node query language of `/nodes`, `/nodes/fast` and `/count`: `field[__op]=value`
//! parameters turned into a typed, backend-neutral [`Filter`].
use std::collections::BTreeMap;
use std::fmt;

use crate::node::ObjectIdHex;
use crate::timestamp::Timestamp;

/// A comparison operator of the query language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `field=value` (and `field__int=value`).
    Eq,
    /// `__ne`: not equal; also matches a missing field.
    Ne,
    /// `__lt`.
    Lt,
    /// `__lte`.
    Lte,
    /// `__gt`.
    Gt,
    /// `__gte`.
    Gte,
    /// `__re`: unanchored, case-sensitive regular expression on strings.
    Regex,
    /// `__in`: equal to one of a comma-separated list.
    In,
    /// `__nin`: equal to none of a comma-separated list; also matches a missing field.
    Nin,
}

impl Op {
    fn from_suffix(s: &str) -> Option<Self> {
        Some(match s {
            "ne" => Self::Ne,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "re" => Self::Regex,
            "in" => Self::In,
            "nin" => Self::Nin,
            _ => return None,
        })
    }
}

/// A typed value to compare with.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterValue {
    /// JSON null: matches null or a missing field.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string (or a regular expression pattern for [`Op::Regex`]).
    Str(String),
    /// A datetime (fields `created`, `updated`, `timeout`, `holdoff`).
    Time(Timestamp),
    /// An ObjectId (fields `id` and `parent`).
    ObjectId(ObjectIdHex),
    /// The operand of [`Op::In`] and [`Op::Nin`].
    List(Vec<FilterValue>),
}

/// One `field op value` test; a [`Filter`] is the conjunction of its conditions.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Dotted path of the field, as the API names it (`id`, `kind`, `data.kernel_revision.tree`).
    pub field: String,
    /// How to compare.
    pub op: Op,
    /// What to compare with.
    pub value: FilterValue,
}

/// A conjunction of conditions; the empty filter matches every node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// The conditions, all of which must hold.
    pub conditions: Vec<Condition>,
}

/// A query parameter the language cannot take; shown to clients as a 400 `detail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

/// How a field's values are typed before comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldType {
    ObjectId,
    Time,
    Int,
    Generic,
}

fn field_type(field: &str) -> FieldType {
    match field {
        "id" | "parent" => FieldType::ObjectId,
        "created" | "updated" | "timeout" | "holdoff" => FieldType::Time,
        "retry_counter" => FieldType::Int,
        _ => FieldType::Generic,
    }
}

impl Filter {
    /// Builds a filter from query parameters (the last of repeated keys wins). Paging
    /// parameters must have been taken out by the caller.
    pub fn from_params<I, K, V>(params: I) -> Result<Self, QueryError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let last_wins: BTreeMap<String, String> = params
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut conditions = Vec::with_capacity(last_wins.len());
        for (key, raw) in &last_wins {
            conditions.push(parse_param(key, raw)?);
        }
        Ok(Self { conditions })
    }

    /// A filter of one equality condition.
    pub fn eq(field: &str, value: FilterValue) -> Self {
        Self {
            conditions: vec![Condition {
                field: field.to_owned(),
                op: Op::Eq,
                value,
            }],
        }
    }
}

fn parse_param(key: &str, raw: &str) -> Result<Condition, QueryError> {
    let parts: Vec<&str> = key.split("__").collect();
    let (field, op_name) = match parts.as_slice() {
        [field, op] => (*field, Some(*op)),
        _ => (key, None),
    };
    let field = if field == "_id" { "id" } else { field };
    check_field_name(field)?;
    let (op, int_cast) = match op_name {
        None => (Op::Eq, false),
        Some("int") => (Op::Eq, true),
        Some(s) => (
            Op::from_suffix(s).ok_or_else(|| {
                QueryError(format!(
                    "Unsupported operator '__{s}' in '{key}'; use one of __gt, __gte, __lt, \
                     __lte, __ne, __re, __in, __nin, __int"
                ))
            })?,
            false,
        ),
    };
    let value = if int_cast {
        FilterValue::Int(parse_int(raw)?)
    } else {
        typed_value(field, op, raw)?
    };
    if let (Op::Regex, FilterValue::Str(pattern)) = (op, &value) {
        regex::Regex::new(pattern)
            .map_err(|e| QueryError(format!("Invalid regular expression in '{key}': {e}")))?;
        crate::pattern::check_pcre_compatible(pattern)
            .map_err(|e| QueryError(format!("Invalid regular expression in '{key}': {e}")))?;
    }
    Ok(Condition {
        field: field.to_owned(),
        op,
        value,
    })
}

fn check_field_name(field: &str) -> Result<(), QueryError> {
    let bad = field.is_empty()
        || field
            .split('.')
            .any(|seg| seg.is_empty() || seg.starts_with('$'))
        || field.contains(['\0', '"']);
    if bad {
        return Err(QueryError(format!("Invalid field name: '{field}'")));
    }
    Ok(())
}

fn parse_int(raw: &str) -> Result<i64, QueryError> {
    raw.trim()
        .parse()
        .map_err(|_| QueryError(format!("invalid literal for int() with base 10: '{raw}'")))
}

fn typed_value(field: &str, op: Op, raw: &str) -> Result<FilterValue, QueryError> {
    let ty = field_type(field);
    if op == Op::Regex {
        return match ty {
            FieldType::Generic => Ok(FilterValue::Str(raw.to_owned())),
            _ => Err(QueryError(format!(
                "Operator '__re' is not supported on field '{field}'"
            ))),
        };
    }
    if matches!(op, Op::In | Op::Nin) {
        let items = raw
            .split(',')
            .map(|item| match ty {
                FieldType::Generic if item == "null" => Ok(FilterValue::Null),
                FieldType::Generic => Ok(FilterValue::Str(item.to_owned())),
                _ => scalar(ty, op, item),
            })
            .collect::<Result<_, _>>()?;
        return Ok(FilterValue::List(items));
    }
    scalar(ty, op, raw)
}

fn scalar(ty: FieldType, op: Op, raw: &str) -> Result<FilterValue, QueryError> {
    if raw == "null" {
        return Ok(FilterValue::Null);
    }
    Ok(match ty {
        FieldType::ObjectId => FilterValue::ObjectId(ObjectIdHex::parse(raw).map_err(QueryError)?),
        FieldType::Time => FilterValue::Time(
            Timestamp::parse_iso(raw)
                .ok_or_else(|| QueryError(format!("Invalid isoformat string: '{raw}'")))?,
        ),
        FieldType::Int => FilterValue::Int(parse_int(raw)?),
        FieldType::Generic => match op {
            Op::Eq if raw.eq_ignore_ascii_case("true") => FilterValue::Bool(true),
            Op::Eq if raw.eq_ignore_ascii_case("false") => FilterValue::Bool(false),
            Op::Lt | Op::Lte | Op::Gt | Op::Gte | Op::Ne
                if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) =>
            {
                raw.parse()
                    .map_or_else(|_| FilterValue::Str(raw.to_owned()), FilterValue::Int)
            }
            _ => FilterValue::Str(raw.to_owned()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> Result<Condition, QueryError> {
        Filter::from_params([(k, v)]).map(|mut f| f.conditions.remove(0))
    }

    #[test]
    fn operators_and_typing() {
        let c = one("data.kernel_revision.tree", "mainline").unwrap();
        assert_eq!(
            (c.op, c.value),
            (Op::Eq, FilterValue::Str("mainline".into()))
        );
        assert_eq!(
            one("processed_by_kcidb_bridge", "False").unwrap().value,
            FilterValue::Bool(false)
        );
        assert_eq!(
            one("retry_counter__gt", "2").unwrap().value,
            FilterValue::Int(2)
        );
        assert_eq!(one("data.x__gt", "12").unwrap().value, FilterValue::Int(12));
        assert_eq!(
            one("data.x__gt", "-1").unwrap().value,
            FilterValue::Str("-1".into())
        );
        assert_eq!(one("parent", "null").unwrap().value, FilterValue::Null);
        assert_eq!(one("holdoff", "null").unwrap().value, FilterValue::Null);
        assert_eq!(
            one("data.version__int", "6").unwrap().value,
            FilterValue::Int(6)
        );
        assert_eq!(
            one("kind__in", "kbuild,test").unwrap().value,
            FilterValue::List(vec![
                FilterValue::Str("kbuild".into()),
                FilterValue::Str("test".into())
            ])
        );
        let c = one("created__gte", "2025-01-01T12:00:00+02:00").unwrap();
        assert_eq!(
            c.value,
            FilterValue::Time(Timestamp::parse_iso("2025-01-01T10:00:00").unwrap())
        );
        assert_eq!(one("a__b__c", "x").unwrap().field, "a__b__c");
        assert_eq!(one("_id", "61bda8f2eb1a63d2b7152418").unwrap().field, "id");
    }

    #[test]
    fn rejects_what_it_cannot_answer() {
        for (k, v) in [
            ("name__eq", "x"),
            ("parent", "xyz"),
            ("created__gt", "yesterday"),
            ("retry_counter", "many"),
            ("name__re", "("),
            ("parent__re", "abc"),
            ("$where", "1"),
            ("data..x", "1"),
            ("x__int", "1.5"),
        ] {
            assert!(one(k, v).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        let f = Filter::from_params([("name", "a"), ("name", "b")]).unwrap();
        assert_eq!(f.conditions.len(), 1);
        assert_eq!(f.conditions[0].value, FilterValue::Str("b".into()));
    }
}
