//! The kind-specific `data` models of KernelCI (`CheckoutData`, `KbuildData`, `TestData`,
//! `RegressionData`) as tables, and the checker that validates and normalises `data`.
use serde_json::{Map, Value};

/// The error codes a node's `data.error_code` may hold (exact strings).
pub const ERROR_CODES: [&str; 15] = [
    "invalid_job_params",
    "submit_error",
    "node_timeout",
    "Infrastructure",
    "Canceled",
    "Job",
    "Bug",
    "Test",
    "Configuration",
    "LAVATimeout",
    "MultinodeTimeout",
    "ObjectNotPersisted",
    "Unexisting permission codename.",
    "job_generation_error",
    "kbuild_internal_error",
];

/// The type of one model field.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    StrList,
    /// A list of strings that defaults to `[]` instead of null.
    StrListDefault,
    Bool,
    StrictInt,
    AnyUrl,
    ErrorCode,
    ObjectId,
    ObjectIdListDefault,
    /// A free-form object that defaults to `{}`.
    ObjectDefault,
    Model(&'static Model),
}

/// A pydantic-like model: named fields, some required.
pub struct Model {
    name: &'static str,
    fields: &'static [(&'static str, Ty, bool)],
}

const KERNEL_VERSION: Model = Model {
    name: "KernelVersion",
    fields: &[
        ("version", Ty::StrictInt, true),
        ("patchlevel", Ty::StrictInt, true),
        ("sublevel", Ty::StrictInt, false),
        ("extra", Ty::Str, false),
        ("name", Ty::Str, false),
    ],
};

const REVISION: Model = Model {
    name: "Revision",
    fields: &[
        ("tree", Ty::Str, true),
        ("url", Ty::AnyUrl, true),
        ("branch", Ty::Str, true),
        ("commit", Ty::Str, true),
        ("describe", Ty::Str, false),
        ("version", Ty::Model(&KERNEL_VERSION), false),
        ("patchset", Ty::Str, false),
        ("commit_tags", Ty::StrListDefault, false),
        ("commit_message", Ty::Str, false),
        ("tip_of_branch", Ty::Bool, false),
    ],
};

const CHECKOUT: Model = Model {
    name: "CheckoutData",
    fields: &[
        ("kernel_revision", Ty::Model(&REVISION), false),
        ("error_code", Ty::ErrorCode, false),
        ("error_msg", Ty::Str, false),
        ("architecture_filter", Ty::StrList, false),
    ],
};

const KBUILD: Model = Model {
    name: "KbuildData",
    fields: &[
        ("kernel_revision", Ty::Model(&REVISION), false),
        ("arch", Ty::Str, false),
        ("defconfig", Ty::Str, false),
        ("compiler", Ty::Str, false),
        ("error_code", Ty::ErrorCode, false),
        ("error_msg", Ty::Str, false),
        ("fragments", Ty::StrList, false),
        ("config_full", Ty::Str, false),
        ("platform", Ty::Str, false),
        ("runtime", Ty::Str, false),
        ("job_id", Ty::Str, false),
        ("job_context", Ty::Str, false),
        ("kernel_type", Ty::Str, false),
        ("regression", Ty::ObjectId, false),
    ],
};

const TEST: Model = Model {
    name: "TestData",
    fields: &[
        ("error_code", Ty::ErrorCode, false),
        ("error_msg", Ty::Str, false),
        ("test_source", Ty::AnyUrl, false),
        ("test_revision", Ty::Model(&REVISION), false),
        ("platform", Ty::Str, false),
        ("device", Ty::Str, false),
        ("runtime", Ty::Str, false),
        ("job_id", Ty::Str, false),
        ("job_context", Ty::Str, false),
        ("regression", Ty::ObjectId, false),
        ("kernel_revision", Ty::Model(&REVISION), false),
        ("arch", Ty::Str, false),
        ("defconfig", Ty::Str, false),
        ("config_full", Ty::Str, false),
        ("compiler", Ty::Str, false),
        ("kernel_type", Ty::Str, false),
        ("misc", Ty::ObjectDefault, false),
    ],
};

const REGRESSION: Model = Model {
    name: "RegressionData",
    fields: &[
        ("fail_node", Ty::ObjectId, false),
        ("pass_node", Ty::ObjectId, false),
        ("node_sequence", Ty::ObjectIdListDefault, false),
        ("error_code", Ty::ErrorCode, false),
        ("error_msg", Ty::Str, false),
        ("failed_kernel_revision", Ty::Model(&REVISION), false),
        ("arch", Ty::Str, false),
        ("defconfig", Ty::Str, false),
        ("config_full", Ty::Str, false),
        ("compiler", Ty::Str, false),
        ("platform", Ty::Str, false),
        ("device", Ty::Str, false),
    ],
};

/// The `data` model of a kind: `Ok(None)` for free-form `process` data, `Err` for an
/// unknown kind.
pub fn model_for_kind(kind: &str) -> Result<Option<&'static Model>, String> {
    Ok(Some(match kind {
        "checkout" => &CHECKOUT,
        "kbuild" => &KBUILD,
        "test" | "job" => &TEST,
        "regression" => &REGRESSION,
        "process" => return Ok(None),
        _ => return Err(format!("Unsupported node kind: {kind}")),
    }))
}

/// One problem found in `data`, pydantic style.
struct Problem {
    loc: String,
    msg: String,
}

/// Checks `data` against `model` and returns its normalised form (every field present,
/// unknown keys dropped, URLs normalised) or a pydantic-style message.
pub fn check_data(model: &Model, data: Option<&Value>) -> Result<Value, String> {
    let mut problems = Vec::new();
    let out = match data {
        Some(Value::Object(obj)) => Value::Object(check_model(model, obj, "data", &mut problems)),
        other => {
            problems.push(Problem {
                loc: "data".into(),
                msg: format!(
                    "Input should be a valid dictionary or instance of {} [input_value={}]",
                    model.name,
                    other.map_or("None".to_owned(), Value::to_string)
                ),
            });
            Value::Null
        }
    };
    if problems.is_empty() {
        return Ok(out);
    }
    let mut msg = format!(
        "{} validation error{} for {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        model.name
    );
    for p in problems {
        msg.push_str(&format!("\n{}\n  {}", p.loc, p.msg));
    }
    Err(msg)
}

fn check_model(
    model: &Model,
    obj: &Map<String, Value>,
    loc: &str,
    out: &mut Vec<Problem>,
) -> Map<String, Value> {
    let mut norm = Map::new();
    for &(name, ty, required) in model.fields {
        let here = format!("{loc}.{name}");
        let value = match obj.get(name) {
            None if required => {
                out.push(Problem {
                    loc: here,
                    msg: "Field required".into(),
                });
                Value::Null
            }
            None => default_of(ty),
            Some(v) => check_value(ty, v, &here, out),
        };
        norm.insert(name.to_owned(), value);
    }
    norm
}

fn default_of(ty: Ty) -> Value {
    match ty {
        Ty::StrListDefault | Ty::ObjectIdListDefault => Value::Array(Vec::new()),
        Ty::ObjectDefault => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

fn check_value(ty: Ty, v: &Value, loc: &str, out: &mut Vec<Problem>) -> Value {
    let bad = |out: &mut Vec<Problem>, msg: &str| {
        out.push(Problem {
            loc: loc.to_owned(),
            msg: format!("{msg} [input_value={v}]"),
        });
        Value::Null
    };
    // Every field is Optional in the models except the required Revision/KernelVersion ones,
    // and pydantic rejects null only for those.
    if v.is_null() {
        return v.clone();
    }
    match ty {
        Ty::Str => match v {
            Value::String(_) => v.clone(),
            _ => bad(out, "Input should be a valid string"),
        },
        Ty::StrList | Ty::StrListDefault => match v {
            Value::Array(items) if items.iter().all(Value::is_string) => v.clone(),
            _ => bad(out, "Input should be a valid list of strings"),
        },
        Ty::Bool => match v {
            Value::Bool(_) => v.clone(),
            _ => bad(out, "Input should be a valid boolean"),
        },
        Ty::StrictInt => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => v.clone(),
            _ => bad(out, "Input should be a valid integer"),
        },
        Ty::AnyUrl => match v.as_str().map(url::Url::parse) {
            Some(Ok(u)) => Value::String(u.to_string()),
            _ => bad(out, "Input should be a valid URL"),
        },
        Ty::ErrorCode => match v.as_str() {
            Some(s) if ERROR_CODES.contains(&s) => v.clone(),
            _ => bad(
                out,
                &format!("Input should be {}", quoted_list(&ERROR_CODES)),
            ),
        },
        Ty::ObjectId => match v.as_str() {
            Some(s) if maestro_common::node::ObjectIdHex::parse(s).is_ok() => {
                Value::String(s.to_ascii_lowercase())
            }
            _ => bad(out, "Input should be a valid ObjectId"),
        },
        Ty::ObjectIdListDefault => match v {
            Value::Array(items)
                if items.iter().all(|i| {
                    i.as_str()
                        .is_some_and(|s| maestro_common::node::ObjectIdHex::parse(s).is_ok())
                }) =>
            {
                v.clone()
            }
            _ => bad(out, "Input should be a valid list of ObjectIds"),
        },
        Ty::ObjectDefault => match v {
            Value::Object(_) => v.clone(),
            _ => bad(out, "Input should be a valid dictionary"),
        },
        Ty::Model(m) => match v {
            Value::Object(obj) => Value::Object(check_model(m, obj, loc, out)),
            _ => bad(
                out,
                &format!(
                    "Input should be a valid dictionary or instance of {}",
                    m.name
                ),
            ),
        },
    }
}

fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checkout_with_revision_is_normalised() {
        let data = json!({"kernel_revision": {"tree": "mainline", "url": "https://git.kernel.org",
            "branch": "master", "commit": "abc"}, "extra": 1});
        let out = check_data(&CHECKOUT, Some(&data)).unwrap();
        assert_eq!(out["kernel_revision"]["url"], "https://git.kernel.org/");
        assert_eq!(out["kernel_revision"]["commit_tags"], json!([]));
        assert!(out.get("extra").is_none());
        assert_eq!(out["error_code"], Value::Null);
    }

    #[test]
    fn problems_are_reported_pydantic_style() {
        let err =
            check_data(&CHECKOUT, Some(&json!({"kernel_revision": {"tree": "t"}}))).unwrap_err();
        assert!(
            err.starts_with(
                "3 validation errors for CheckoutData\ndata.kernel_revision.url\n  Field required"
            ),
            "{err}"
        );
        let err = check_data(&CHECKOUT, None).unwrap_err();
        assert!(
            err.contains("Input should be a valid dictionary or instance of CheckoutData"),
            "{err}"
        );
        let err = check_data(&KBUILD, Some(&json!({"error_code": "nope"}))).unwrap_err();
        assert!(err.contains("data.error_code"), "{err}");
        let bad_version = json!({"kernel_revision": {"tree": "t", "url": "https://x", "branch": "b",
            "commit": "c", "version": {"version": "6", "patchlevel": 1}}});
        assert!(check_data(&CHECKOUT, Some(&bad_version)).is_err());
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        assert_eq!(
            model_for_kind("node").err().unwrap(),
            "Unsupported node kind: node"
        );
        assert!(model_for_kind("process").unwrap().is_none());
    }
}
