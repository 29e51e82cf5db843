//! Query operator cases on strings, dotted `data` paths, ObjectIds and `retry_counter`.

use maestro_common::{NodeResult, NodeState};
use maestro_server::store::Store;
use serde_json::json;

use crate::support::{assert_finds, id_of, insert, new_id, node, node_with_data};

pub async fn string_operators(store: &dyn Store) {
    let mut gcc = node("kbuild-gcc-12-x86");
    gcc.kind = "kbuild".to_owned();
    gcc.state = NodeState::Available;
    let mut clang = node("kbuild-clang-17-arm64");
    clang.kind = "kbuild".to_owned();
    clang.result = Some(NodeResult::Fail);
    let mut baseline = node("baseline-x86");
    baseline.result = Some(NodeResult::Pass);
    baseline.owner = Some("alice".to_owned());
    let upper = node("Baseline-arm64");
    let mut checkout = node("checkout");
    checkout.kind = "checkout".to_owned();
    checkout.state = NodeState::Done;
    insert(store, &[gcc, clang, baseline, upper, checkout]).await;

    let all = [
        "kbuild-gcc-12-x86",
        "kbuild-clang-17-arm64",
        "baseline-x86",
        "Baseline-arm64",
        "checkout",
    ];
    assert_finds(store, &[], &all).await;
    assert_finds(store, &[("name", "baseline-x86")], &["baseline-x86"]).await;
    assert_finds(store, &[("name", "baseline")], &[]).await;
    assert_finds(store, &[("name", "")], &[]).await;
    assert_finds(
        store,
        &[("kind", "kbuild")],
        &["kbuild-gcc-12-x86", "kbuild-clang-17-arm64"],
    )
    .await;
    assert_finds(
        store,
        &[("kind__ne", "kbuild")],
        &["baseline-x86", "Baseline-arm64", "checkout"],
    )
    .await;
    // Strings compare by code point: upper case sorts before lower case.
    assert_finds(
        store,
        &[("name__lt", "c")],
        &["baseline-x86", "Baseline-arm64"],
    )
    .await;
    assert_finds(store, &[("name__lt", "b")], &["Baseline-arm64"]).await;
    assert_finds(
        store,
        &[("name__lte", "checkout")],
        &["baseline-x86", "Baseline-arm64", "checkout"],
    )
    .await;
    assert_finds(store, &[("name__gt", "kbuild-d")], &["kbuild-gcc-12-x86"]).await;
    assert_finds(
        store,
        &[("name__gte", "kbuild-clang-17-arm64")],
        &["kbuild-gcc-12-x86", "kbuild-clang-17-arm64"],
    )
    .await;
    // Regular expressions are unanchored and case-sensitive.
    assert_finds(
        store,
        &[("name__re", "x86")],
        &["kbuild-gcc-12-x86", "baseline-x86"],
    )
    .await;
    assert_finds(store, &[("name__re", "^baseline")], &["baseline-x86"]).await;
    assert_finds(store, &[("name__re", "BASELINE")], &[]).await;
    assert_finds(
        store,
        &[("name__re", "arm64$")],
        &["kbuild-clang-17-arm64", "Baseline-arm64"],
    )
    .await;
    assert_finds(store, &[("name__re", r"gcc-\d+-x")], &["kbuild-gcc-12-x86"]).await;
    assert_finds(
        store,
        &[("name__re", "^(checkout|baseline-x86)$")],
        &["baseline-x86", "checkout"],
    )
    .await;
    assert_finds(
        store,
        &[("kind__in", "checkout,test")],
        &["baseline-x86", "Baseline-arm64", "checkout"],
    )
    .await;
    assert_finds(store, &[("name__in", "checkout,nothing")], &["checkout"]).await;
    assert_finds(
        store,
        &[("kind__nin", "kbuild,checkout")],
        &["baseline-x86", "Baseline-arm64"],
    )
    .await;
    assert_finds(store, &[("state", "available")], &["kbuild-gcc-12-x86"]).await;
    assert_finds(
        store,
        &[("state__in", "available,done")],
        &["kbuild-gcc-12-x86", "checkout"],
    )
    .await;
    assert_finds(store, &[("result", "fail")], &["kbuild-clang-17-arm64"]).await;
    assert_finds(store, &[("owner", "alice")], &["baseline-x86"]).await;
    assert_finds(
        store,
        &[("kind", "kbuild"), ("name__re", "gcc")],
        &["kbuild-gcc-12-x86"],
    )
    .await;
}

pub async fn dotted_data_paths(store: &dyn Store) {
    let revision =
        |tree: &str, commit: &str| json!({"tree": tree, "branch": "master", "commit": commit});
    insert(
        store,
        &[
            node_with_data(
                "main-x86",
                json!({"kernel_revision": revision("mainline", "abc123"), "arch": "x86_64"}),
            ),
            node_with_data(
                "main-arm",
                json!({"arch": "arm64", "kernel_revision": revision("mainline", "abd456")}),
            ),
            node_with_data(
                "next-arm",
                json!({"kernel_revision": revision("next", "fff000"), "arch": "arm"}),
            ),
            node_with_data("no-revision", json!({"arch": "riscv"})),
        ],
    )
    .await;

    assert_finds(
        store,
        &[("data.kernel_revision.tree", "mainline")],
        &["main-x86", "main-arm"],
    )
    .await;
    assert_finds(
        store,
        &[("data.kernel_revision.tree__ne", "mainline")],
        &["next-arm", "no-revision"],
    )
    .await;
    assert_finds(
        store,
        &[("data.kernel_revision.commit__re", "^ab")],
        &["main-x86", "main-arm"],
    )
    .await;
    assert_finds(
        store,
        &[("data.kernel_revision.commit__re", "0{3}$")],
        &["next-arm"],
    )
    .await;
    assert_finds(
        store,
        &[("data.kernel_revision.tree__in", "next,stable")],
        &["next-arm"],
    )
    .await;
    assert_finds(
        store,
        &[("data.kernel_revision.tree__nin", "mainline")],
        &["next-arm", "no-revision"],
    )
    .await;
    assert_finds(
        store,
        &[("data.arch__gt", "arm")],
        &["main-x86", "main-arm", "no-revision"],
    )
    .await;
    assert_finds(
        store,
        &[("data.arch__lte", "arm64")],
        &["main-arm", "next-arm"],
    )
    .await;
    assert_finds(
        store,
        &[
            ("data.kernel_revision.branch", "master"),
            ("data.arch", "arm64"),
        ],
        &["main-arm"],
    )
    .await;
    // A path to an object never equals a string, and a path below a string does not exist.
    assert_finds(store, &[("data.kernel_revision", "mainline")], &[]).await;
    assert_finds(store, &[("data.arch.bits", "64")], &[]).await;
    assert_finds(store, &[("data.kernel_revision.tree.x", "mainline")], &[]).await;
}

pub async fn parent_queries(store: &dyn Store) {
    let root1 = node("root1");
    let root2 = node("root2");
    let child = |name: &str, parent: &maestro_common::Node| {
        let mut n = node(name);
        n.parent = Some(id_of(parent));
        n
    };
    let child1a = child("child1a", &root1);
    let child1b = child("child1b", &root1);
    let grandchild = child("grandchild", &child1a);
    let child2 = child("child2", &root2);
    let (r1, r2, c1a) = (id_of(&root1), id_of(&root2), id_of(&child1a));
    insert(store, &[root1, root2, child1a, child1b, grandchild, child2]).await;
    let (r1, r2, c1a) = (r1.as_str(), r2.as_str(), c1a.as_str());

    assert_finds(store, &[("parent", r1)], &["child1a", "child1b"]).await;
    assert_finds(
        store,
        &[("parent", &r1.to_ascii_uppercase())],
        &["child1a", "child1b"],
    )
    .await;
    assert_finds(store, &[("parent", c1a)], &["grandchild"]).await;
    assert_finds(store, &[("parent", new_id().as_str())], &[]).await;
    assert_finds(store, &[("parent", "null")], &["root1", "root2"]).await;
    assert_finds(
        store,
        &[("parent__ne", "null")],
        &["child1a", "child1b", "grandchild", "child2"],
    )
    .await;
    assert_finds(
        store,
        &[("parent__ne", r1)],
        &["root1", "root2", "grandchild", "child2"],
    )
    .await;
    assert_finds(
        store,
        &[("parent__in", &format!("{r1},{r2}"))],
        &["child1a", "child1b", "child2"],
    )
    .await;
    assert_finds(
        store,
        &[("parent__in", &format!("null,{r2}"))],
        &["root1", "root2", "child2"],
    )
    .await;
    assert_finds(
        store,
        &[("parent__nin", r1)],
        &["root1", "root2", "grandchild", "child2"],
    )
    .await;
    // ObjectIds order like their hex form; later ids are greater.
    assert_finds(store, &[("parent__gt", r1)], &["grandchild", "child2"]).await;
    assert_finds(
        store,
        &[("parent__lte", r2)],
        &["child1a", "child1b", "child2"],
    )
    .await;
}

pub async fn id_queries(store: &dyn Store) {
    let nodes = [node("a"), node("b"), node("c"), node("d")];
    let ids: Vec<String> = nodes.iter().map(|n| id_of(n).as_str().to_owned()).collect();
    insert(store, &nodes).await;
    let [a, b, c, _] = [&ids[0], &ids[1], &ids[2], &ids[3]];

    assert_finds(store, &[("id", b)], &["b"]).await;
    assert_finds(store, &[("_id", b)], &["b"]).await;
    assert_finds(store, &[("id", &b.to_ascii_uppercase())], &["b"]).await;
    assert_finds(store, &[("id", new_id().as_str())], &[]).await;
    assert_finds(store, &[("id__ne", b)], &["a", "c", "d"]).await;
    assert_finds(store, &[("id__gt", b)], &["c", "d"]).await;
    assert_finds(store, &[("id__gte", b), ("id__lt", c)], &["b"]).await;
    assert_finds(store, &[("id__lte", b)], &["a", "b"]).await;
    assert_finds(store, &[("id__in", &format!("{a},{c}"))], &["a", "c"]).await;
    assert_finds(store, &[("id__nin", &format!("{a},{c}"))], &["b", "d"]).await;
}

pub async fn retry_counter_comparisons(store: &dyn Store) {
    let nodes: Vec<_> = [0, 1, 2, 5]
        .into_iter()
        .map(|r| {
            let mut n = node(&format!("r{r}"));
            n.retry_counter = r;
            n
        })
        .collect();
    insert(store, &nodes).await;

    assert_finds(store, &[("retry_counter", "2")], &["r2"]).await;
    assert_finds(store, &[("retry_counter", "3")], &[]).await;
    assert_finds(store, &[("retry_counter__gt", "1")], &["r2", "r5"]).await;
    assert_finds(store, &[("retry_counter__gte", "1")], &["r1", "r2", "r5"]).await;
    assert_finds(store, &[("retry_counter__lt", "2")], &["r0", "r1"]).await;
    assert_finds(store, &[("retry_counter__lte", "0")], &["r0"]).await;
    assert_finds(store, &[("retry_counter__ne", "0")], &["r1", "r2", "r5"]).await;
    assert_finds(store, &[("retry_counter__in", "0,5")], &["r0", "r5"]).await;
    assert_finds(store, &[("retry_counter__nin", "0,5")], &["r1", "r2"]).await;
    assert_finds(
        store,
        &[("retry_counter__gt", "-1")],
        &["r0", "r1", "r2", "r5"],
    )
    .await;
}
