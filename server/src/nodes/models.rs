//! The kind-specific `data` models of KernelCI (`CheckoutData`, `KbuildData`, `TestData`,
//! `RegressionData`) as tables, and the checker that validates and normalises `data`.
use serde_json::{Map, Value};

use super::normal_url;

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

/// Where a field is (`data.kernel_revision.url`): a chain of static names, turned into text
/// only when a problem is reported. (Formatting it for every field cost more than the
/// checks themselves: a hierarchy of 1,000 tests checks ~27,000 fields.)
#[derive(Clone, Copy)]
struct Loc<'a> {
    parent: Option<&'a Loc<'a>>,
    name: &'static str,
}

impl Loc<'_> {
    const DATA: Loc<'static> = Loc {
        parent: None,
        name: "data",
    };

    fn child<'b>(&'b self, name: &'static str) -> Loc<'b> {
        Loc {
            parent: Some(self),
            name,
        }
    }

    fn render(&self) -> String {
        match self.parent {
            Some(p) => format!("{}.{}", p.render(), self.name),
            None => self.name.to_owned(),
        }
    }
}

/// Checks `data` against `model` without building anything: the validation of writes that
/// store `data` as given (`POST /node`, `PUT /node/{id}`, `PATCH`), with the same messages
/// as [`normalise_data`].
pub fn check_data(model: &Model, data: Option<&Value>) -> Result<(), String> {
    let mut problems = Vec::new();
    match data {
        Some(Value::Object(obj)) => check_model(model, obj, Loc::DATA, &mut problems),
        other => problems.push(not_a_model(model, Loc::DATA, other)),
    }
    report(model, problems)
}

/// Checks `data` against `model` and returns its normalised form (every field present, in
/// the model's order, unknown keys dropped, URLs normalised) or a pydantic-style message.
/// Takes `data` so that the values move into the result instead of being copied.
pub fn normalise_data(model: &Model, data: Option<Value>) -> Result<Value, String> {
    let mut problems = Vec::new();
    let out = match data {
        Some(Value::Object(obj)) => {
            Value::Object(normalise_model(model, obj, Loc::DATA, &mut problems))
        }
        other => {
            problems.push(not_a_model(model, Loc::DATA, other.as_ref()));
            Value::Null
        }
    };
    report(model, problems).map(|()| out)
}

/// `Ok` without problems, else the pydantic-style message listing them.
fn report(model: &Model, problems: Vec<Problem>) -> Result<(), String> {
    if problems.is_empty() {
        return Ok(());
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

fn not_a_model(model: &Model, loc: Loc<'_>, v: Option<&Value>) -> Problem {
    Problem {
        loc: loc.render(),
        msg: format!(
            "Input should be a valid dictionary or instance of {} [input_value={}]",
            model.name,
            v.map_or("None".to_owned(), Value::to_string)
        ),
    }
}

fn missing(loc: Loc<'_>) -> Problem {
    Problem {
        loc: loc.render(),
        msg: "Field required".into(),
    }
}

fn check_model(model: &Model, obj: &Map<String, Value>, loc: Loc<'_>, out: &mut Vec<Problem>) {
    for &(name, ty, required) in model.fields {
        let here = loc.child(name);
        match obj.get(name) {
            None if required => out.push(missing(here)),
            None => {}
            Some(v) => check_value(ty, v, here, out),
        }
    }
}

fn normalise_model(
    model: &Model,
    mut obj: Map<String, Value>,
    loc: Loc<'_>,
    out: &mut Vec<Problem>,
) -> Map<String, Value> {
    let mut norm = Map::with_capacity(model.fields.len());
    for &(name, ty, required) in model.fields {
        let here = loc.child(name);
        // The input's order does not matter (the result follows the model), so the
        // constant-time swap removal will do; a key given keeps its string.
        let (key, value) = match obj.swap_remove_entry(name) {
            None if required => {
                out.push(missing(here));
                (name.to_owned(), Value::Null)
            }
            None => (name.to_owned(), default_of(ty)),
            Some((key, v)) => (key, normalise_value(ty, v, here, out)),
        };
        norm.insert(key, value);
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

/// Reports `v` if it is not of type `ty` (nested models field by field).
fn check_value(ty: Ty, v: &Value, loc: Loc<'_>, out: &mut Vec<Problem>) {
    match (ty, v) {
        (Ty::Model(m), Value::Object(obj)) => check_model(m, obj, loc, out),
        _ => {
            if let Some(msg) = type_problem(ty, v) {
                out.push(Problem {
                    loc: loc.render(),
                    msg: format!("{msg} [input_value={v}]"),
                });
            }
        }
    }
}

/// `v` as stored when it is of type `ty` (URLs normalised, ObjectIds lower-cased), else
/// null and a problem.
fn normalise_value(ty: Ty, v: Value, loc: Loc<'_>, out: &mut Vec<Problem>) -> Value {
    match (ty, v) {
        (Ty::Model(m), Value::Object(obj)) => Value::Object(normalise_model(m, obj, loc, out)),
        // Parsed once: to check and to normalise.
        (Ty::AnyUrl, Value::String(s)) => match normal_url::normalise(&s) {
            Some(url) => Value::String(url.changed.unwrap_or(s)),
            None => {
                let v = Value::String(s);
                check_value(ty, &v, loc, out);
                Value::Null
            }
        },
        (_, v) => {
            if type_problem(ty, &v).is_some() {
                check_value(ty, &v, loc, out);
                return Value::Null;
            }
            match (ty, v) {
                (Ty::ObjectId, Value::String(s)) if s.bytes().any(|b| b.is_ascii_uppercase()) => {
                    Value::String(s.to_ascii_lowercase())
                }
                (_, v) => v,
            }
        }
    }
}

/// What is wrong with `v` as a `ty`, or `None`. Null passes: every field is Optional in
/// the models but the required Revision/KernelVersion ones.
fn type_problem(ty: Ty, v: &Value) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let fine = match ty {
        Ty::Str => v.is_string(),
        Ty::StrList | Ty::StrListDefault => v
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        Ty::Bool => v.is_boolean(),
        Ty::StrictInt => v.is_i64() || v.is_u64(),
        Ty::AnyUrl => v.as_str().and_then(normal_url::normalise).is_some(),
        Ty::ErrorCode => v.as_str().is_some_and(|s| ERROR_CODES.contains(&s)),
        Ty::ObjectId => v.as_str().is_some_and(is_object_id),
        Ty::ObjectIdListDefault => v
            .as_array()
            .is_some_and(|items| items.iter().all(|i| i.as_str().is_some_and(is_object_id))),
        Ty::ObjectDefault => v.is_object(),
        Ty::Model(_) => false,
    };
    if fine {
        return None;
    }
    Some(match ty {
        Ty::Str => "Input should be a valid string".into(),
        Ty::StrList | Ty::StrListDefault => "Input should be a valid list of strings".into(),
        Ty::Bool => "Input should be a valid boolean".into(),
        Ty::StrictInt => "Input should be a valid integer".into(),
        Ty::AnyUrl => "Input should be a valid URL".into(),
        Ty::ErrorCode => format!("Input should be {}", quoted_list(&ERROR_CODES)),
        Ty::ObjectId => "Input should be a valid ObjectId".into(),
        Ty::ObjectIdListDefault => "Input should be a valid list of ObjectIds".into(),
        Ty::ObjectDefault => "Input should be a valid dictionary".into(),
        Ty::Model(m) => format!(
            "Input should be a valid dictionary or instance of {}",
            m.name
        ),
    })
}

fn is_object_id(s: &str) -> bool {
    maestro_common::node::ObjectIdHex::parse(s).is_ok()
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
        let out = normalise_data(&CHECKOUT, Some(data)).unwrap();
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
    fn checking_and_normalising_report_the_same_problems() {
        let cases = [
            json!({"kernel_revision": {"tree": 1, "url": "not a url", "branch": "b",
                "version": {"version": "6"}}, "error_code": "nope", "fragments": [1]}),
            json!({"kernel_revision": [], "regression": "xyz"}),
            json!({"misc": 3, "test_source": 7}),
        ];
        for data in cases {
            let mut refused = 0;
            for model in [&CHECKOUT, &KBUILD, &TEST] {
                let checked = check_data(model, Some(&data)).err();
                let normalised = normalise_data(model, Some(data.clone())).err();
                assert_eq!(checked, normalised);
                refused += usize::from(checked.is_some());
            }
            assert!(refused > 0, "{data}");
        }
        assert!(check_data(&TEST, Some(&json!({"kernel_revision": null}))).is_ok());
    }

    #[test]
    fn normalising_follows_the_model_and_fixes_urls_and_object_ids() {
        let data = json!({"misc": {"a": 1}, "regression": "65A1B2C3D4E5F60718293A4B",
            "kernel_revision": {"commit": "c", "branch": "b", "url": "HTTPS://Git.Kernel.org",
                "tree": "t"}, "test_source": "https://example.org/x"});
        let out = normalise_data(&TEST, Some(data)).unwrap();
        let keys: Vec<&str> = out
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let model: Vec<&str> = TEST.fields.iter().map(|f| f.0).collect();
        assert_eq!(keys, model);
        assert_eq!(out["regression"], "65a1b2c3d4e5f60718293a4b");
        assert_eq!(out["kernel_revision"]["url"], "https://git.kernel.org/");
        assert_eq!(out["kernel_revision"]["tree"], "t");
        assert_eq!(out["test_source"], "https://example.org/x");
        assert_eq!(out["misc"], json!({"a": 1}));
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
