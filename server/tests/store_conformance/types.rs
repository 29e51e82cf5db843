//! Value typing cases: null versus missing, array fields, booleans, integers and type brackets.

use maestro_server::store::Store;
use serde_json::json;

use crate::support::{assert_finds, insert, node, node_with_data};

pub async fn null_versus_missing(store: &dyn Store) {
    let mut no_data = node("no-data");
    no_data.data = None;
    let mut grouped = node_with_data("value", json!({"x": "a"}));
    grouped.group = Some("g".to_owned());
    grouped.owner = Some("alice".to_owned());
    insert(
        store,
        &[
            node_with_data("missing", json!({"y": 1})),
            node_with_data("null", json!({"x": null})),
            grouped,
            node_with_data("other", json!({"x": "b"})),
            node_with_data("empty", json!({"x": ""})),
            node_with_data("zero", json!({"x": 0})),
            node_with_data("false", json!({"x": false})),
            no_data,
        ],
    )
    .await;

    let absent = ["missing", "null", "no-data"];
    let present = ["value", "other", "empty", "zero", "false"];
    assert_finds(store, &[("data.x", "null")], &absent).await;
    assert_finds(store, &[("data.x__ne", "null")], &present).await;
    assert_finds(
        store,
        &[("data.x__ne", "a")],
        &[
            "missing", "null", "no-data", "other", "empty", "zero", "false",
        ],
    )
    .await;
    assert_finds(
        store,
        &[("data.x__nin", "a,b")],
        &["missing", "null", "no-data", "empty", "zero", "false"],
    )
    .await;
    assert_finds(store, &[("data.x__in", "a,b")], &["value", "other"]).await;
    assert_finds(
        store,
        &[("data.x__in", "a,null")],
        &["missing", "null", "no-data", "value"],
    )
    .await;
    assert_finds(
        store,
        &[("data.x__nin", "a,null")],
        &["other", "empty", "zero", "false"],
    )
    .await;
    assert_finds(store, &[("data.x", "")], &["empty"]).await;
    // Ordering comparisons never match null or a missing field.
    assert_finds(store, &[("data.x__lt", "z")], &["value", "other", "empty"]).await;
    assert_finds(store, &[("data.x__gte", "0")], &["zero"]).await;
    assert_finds(store, &[("data.x", "false")], &["false"]).await;
    // Top-level optional fields stored as null.
    assert_finds(
        store,
        &[("group", "null")],
        &[
            "missing", "null", "no-data", "other", "empty", "zero", "false",
        ],
    )
    .await;
    assert_finds(store, &[("group__ne", "null")], &["value"]).await;
    assert_finds(
        store,
        &[("owner__ne", "alice")],
        &[
            "missing", "null", "no-data", "other", "empty", "zero", "false",
        ],
    )
    .await;
    assert_finds(store, &[("result", "null"), ("data", "null")], &["no-data"]).await;
}

pub async fn null_through_nested_paths(store: &dyn Store) {
    insert(
        store,
        &[
            node_with_data("no-a", json!({})),
            node_with_data("empty-a", json!({"a": {}})),
            node_with_data("null-b", json!({"a": {"b": null}})),
            node_with_data("string-a", json!({"a": "text"})),
            node_with_data("null-a", json!({"a": null})),
            node_with_data("set-b", json!({"a": {"b": "v"}})),
        ],
    )
    .await;

    let unset = ["no-a", "empty-a", "null-b", "string-a", "null-a"];
    assert_finds(store, &[("data.a.b", "null")], &unset).await;
    assert_finds(store, &[("data.a.b__ne", "null")], &["set-b"]).await;
    assert_finds(store, &[("data.a.b__ne", "v")], &unset).await;
    assert_finds(store, &[("data.a", "null")], &["no-a", "null-a"]).await;
}

pub async fn array_fields_match_any_element(store: &dyn Store) {
    let mut gcc = node("gcc");
    gcc.path = vec!["checkout".into(), "kbuild-gcc".into(), "baseline".into()];
    gcc.user_groups = vec!["team-a".into(), "team-b".into()];
    gcc.jobfilter = Some(vec!["kunit".into(), "baseline+".into()]);
    let mut clang = node("clang");
    clang.path = vec!["checkout".into(), "kbuild-clang".into()];
    clang.user_groups = vec!["team-b".into()];
    clang.platform_filter = Some(vec!["qemu-x86".into()]);
    let mut root = node("root");
    root.path = vec!["checkout".into()];
    insert(store, &[gcc, clang, root]).await;

    assert_finds(store, &[("path", "checkout")], &["gcc", "clang", "root"]).await;
    assert_finds(store, &[("path", "kbuild-gcc")], &["gcc"]).await;
    assert_finds(store, &[("path", "kbuild")], &[]).await;
    assert_finds(store, &[("path__re", "^kbuild-")], &["gcc", "clang"]).await;
    assert_finds(store, &[("path__re", "clang$")], &["clang"]).await;
    assert_finds(
        store,
        &[("path__in", "baseline,kbuild-clang")],
        &["gcc", "clang"],
    )
    .await;
    assert_finds(store, &[("user_groups", "team-b")], &["gcc", "clang"]).await;
    assert_finds(store, &[("user_groups", "team-a")], &["gcc"]).await;
    assert_finds(store, &[("user_groups__in", "team-a,team-x")], &["gcc"]).await;
    assert_finds(store, &[("user_groups__re", "-a$")], &["gcc"]).await;
    assert_finds(store, &[("jobfilter", "kunit")], &["gcc"]).await;
    assert_finds(store, &[("platform_filter__re", "^qemu")], &["clang"]).await;
    assert_finds(
        store,
        &[("path", "checkout"), ("user_groups", "team-b")],
        &["gcc", "clang"],
    )
    .await;
}

pub async fn array_field_negations(store: &dyn Store) {
    let mut both = node("both");
    both.user_groups = vec!["team-a".into(), "team-b".into()];
    both.path = vec!["checkout".into(), "kbuild".into()];
    let mut b_only = node("b-only");
    b_only.user_groups = vec!["team-b".into()];
    b_only.path = vec!["checkout".into()];
    let none = node("none");
    insert(store, &[both, b_only, none]).await;

    // A negation holds when no element matches; an empty array has no element to match.
    assert_finds(store, &[("user_groups__ne", "team-a")], &["b-only", "none"]).await;
    assert_finds(store, &[("user_groups__ne", "team-b")], &["none"]).await;
    assert_finds(
        store,
        &[("user_groups__nin", "team-a,team-x")],
        &["b-only", "none"],
    )
    .await;
    assert_finds(store, &[("path__ne", "kbuild")], &["b-only", "none"]).await;
}

pub async fn data_arrays_match_any_element(store: &dyn Store) {
    insert(
        store,
        &[
            node_with_data("tagged", json!({"tags": ["fast", "x86"], "nums": [1, 3]})),
            node_with_data("other", json!({"tags": ["slow"], "nums": [2]})),
            node_with_data("scalar", json!({"tags": "fast", "nums": 3})),
        ],
    )
    .await;

    assert_finds(store, &[("data.tags", "fast")], &["tagged", "scalar"]).await;
    assert_finds(store, &[("data.tags__re", "^x8")], &["tagged"]).await;
    assert_finds(store, &[("data.tags__in", "slow,none")], &["other"]).await;
    assert_finds(store, &[("data.nums__int", "3")], &["tagged", "scalar"]).await;
    assert_finds(store, &[("data.nums__gt", "2")], &["tagged", "scalar"]).await;
}

pub async fn paths_through_arrays_of_objects(store: &dyn Store) {
    insert(
        store,
        &[
            node_with_data(
                "two-runs",
                json!({"runs": [{"arch": "x86"}, {"arch": "arm"}]}),
            ),
            node_with_data("one-run", json!({"runs": [{"arch": "riscv", "ok": true}]})),
            node_with_data("object", json!({"runs": {"arch": "arm"}})),
        ],
    )
    .await;

    // As in MongoDB, a dotted path continues into every object of an array.
    assert_finds(store, &[("data.runs.arch", "arm")], &["two-runs", "object"]).await;
    assert_finds(store, &[("data.runs.arch__re", "^ri")], &["one-run"]).await;
    assert_finds(
        store,
        &[("data.runs.arch__ne", "x86")],
        &["one-run", "object"],
    )
    .await;
    assert_finds(store, &[("data.runs.ok", "true")], &["one-run"]).await;
}

pub async fn bool_filter(store: &dyn Store) {
    let mut sent = node_with_data("sent", json!({"flag": true}));
    sent.processed_by_kcidb_bridge = true;
    insert(
        store,
        &[
            sent,
            node_with_data("unsent", json!({"flag": false})),
            node_with_data("int-flag", json!({"flag": 1})),
            node_with_data("string-flag", json!({"flag": "true"})),
        ],
    )
    .await;

    let all = ["sent", "unsent", "int-flag", "string-flag"];
    assert_finds(store, &[("processed_by_kcidb_bridge", "true")], &["sent"]).await;
    assert_finds(
        store,
        &[("processed_by_kcidb_bridge", "false")],
        &["unsent", "int-flag", "string-flag"],
    )
    .await;
    assert_finds(
        store,
        &[("processed_by_kcidb_bridge", "False")],
        &["unsent", "int-flag", "string-flag"],
    )
    .await;
    // Inside operators `true` stays a string, which no boolean equals.
    assert_finds(store, &[("processed_by_kcidb_bridge__ne", "true")], &all).await;
    assert_finds(store, &[("processed_by_kcidb_bridge__in", "true")], &[]).await;
    // Booleans, integers and strings are different types.
    assert_finds(store, &[("data.flag", "true")], &["sent"]).await;
    assert_finds(store, &[("data.flag", "false")], &["unsent"]).await;
    assert_finds(store, &[("data.flag__int", "1")], &["int-flag"]).await;
    assert_finds(store, &[("data.flag__int", "0")], &[]).await;
    assert_finds(store, &[("data.flag__in", "true")], &["string-flag"]).await;
    assert_finds(store, &[("name", "true")], &[]).await;
}

pub async fn int_equality_is_typed(store: &dyn Store) {
    let version = |v: serde_json::Value| json!({"kernel_revision": {"version": {"version": v}}});
    insert(
        store,
        &[
            node_with_data("int-6", version(json!(6))),
            node_with_data("string-6", version(json!("6"))),
            node_with_data("int-7", version(json!(7))),
            node_with_data("no-version", json!({})),
        ],
    )
    .await;

    let field = "data.kernel_revision.version.version";
    assert_finds(store, &[(&format!("{field}__int"), "6")], &["int-6"]).await;
    assert_finds(store, &[(&format!("{field}__int"), "06")], &["int-6"]).await;
    assert_finds(store, &[(field, "6")], &["string-6"]).await;
    assert_finds(store, &[(&format!("{field}__in"), "6,7")], &["string-6"]).await;
    assert_finds(
        store,
        &[(&format!("{field}__gt"), "5")],
        &["int-6", "int-7"],
    )
    .await;
    assert_finds(
        store,
        &[(&format!("{field}__ne"), "6")],
        &["string-6", "int-7", "no-version"],
    )
    .await;
    assert_finds(store, &[(&format!("{field}__int"), "-6")], &[]).await;
}

pub async fn type_brackets(store: &dyn Store) {
    insert(
        store,
        &[
            node_with_data("int-10", json!({"n": 10})),
            node_with_data("string-10", json!({"n": "10"})),
            node_with_data("string-50", json!({"n": "50"})),
            node_with_data("object", json!({"n": {"v": 10}})),
        ],
    )
    .await;

    let all = ["int-10", "string-10", "string-50", "object"];
    // An integer comparison never matches a string, and the reverse.
    assert_finds(store, &[("name__gt", "5")], &[]).await;
    assert_finds(store, &[("name__lt", "5")], &[]).await;
    assert_finds(store, &[("name__gte", "0")], &[]).await;
    assert_finds(store, &[("name__ne", "5")], &all).await;
    assert_finds(store, &[("data.n__gt", "5")], &["int-10"]).await;
    assert_finds(store, &[("data.n__lte", "100")], &["int-10"]).await;
    assert_finds(store, &[("data.n__lt", "a")], &["string-10", "string-50"]).await;
    assert_finds(store, &[("data.n__gt", "1a")], &["string-50"]).await;
    assert_finds(store, &[("data.n", "10")], &["string-10"]).await;
    assert_finds(store, &[("data.n__int", "10")], &["int-10"]).await;
    // Regular expressions only match strings.
    assert_finds(store, &[("data.n__re", "^1")], &["string-10"]).await;
    assert_finds(
        store,
        &[("data.n__ne", "10")],
        &["string-10", "string-50", "object"],
    )
    .await;
}

pub async fn numbers_compare_numerically(store: &dyn Store) {
    insert(
        store,
        &[
            node_with_data("n9", json!({"n": 9})),
            node_with_data("n9.5", json!({"n": 9.5})),
            node_with_data("n10", json!({"n": 10})),
            node_with_data("n100", json!({"n": 100})),
            node_with_data("n-3", json!({"n": -3})),
            node_with_data("big", json!({"n": 9_007_199_254_740_993_i64})),
        ],
    )
    .await;

    assert_finds(
        store,
        &[("data.n__gt", "9")],
        &["n9.5", "n10", "n100", "big"],
    )
    .await;
    assert_finds(store, &[("data.n__lt", "10")], &["n9", "n9.5", "n-3"]).await;
    assert_finds(
        store,
        &[("data.n__gte", "10"), ("data.n__lte", "100")],
        &["n10", "n100"],
    )
    .await;
    assert_finds(store, &[("data.n__gt", "9007199254740992")], &["big"]).await;
    assert_finds(store, &[("data.n__int", "9007199254740993")], &["big"]).await;
    assert_finds(store, &[("data.n__int", "9")], &["n9"]).await;
    assert_finds(
        store,
        &[("data.n__ne", "9")],
        &["n9.5", "n10", "n100", "n-3", "big"],
    )
    .await;
}
