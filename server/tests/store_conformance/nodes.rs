//! Node storage cases: round trips, insert/replace errors, atomic batches, ordering and paging.

use maestro_common::{Filter, Node, NodeResult, NodeState};
use maestro_server::store::{GET_NODES_CHUNK, NodeWrite, Store};
use serde_json::json;

use crate::support::{
    assert_conflict, assert_not_found, filter, get, id_of, insert, insert_one, map, new_id, node,
    ts,
};

/// A node with every field set to something unusual.
fn full_node() -> Node {
    let mut n = node("baseline-x86");
    n.kind = "job".to_owned();
    n.path = vec![
        "checkout".into(),
        "kbuild-gcc-12-x86".into(),
        "baseline-x86".into(),
    ];
    n.group = Some("baseline-x86".to_owned());
    n.parent = Some(new_id());
    n.state = NodeState::Available;
    n.result = Some(NodeResult::Pass);
    n.artifacts = Some(map(json!({
        "zimage": "https://storage.example.org/a/zImage",
        "config": "https://storage.example.org/a/.config",
        "log": "https://storage.example.org/a/log.txt?x=1&y=2",
    })));
    n.data = Some(json!({
        "kernel_revision": {
            "tree": "mainline",
            "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
            "commit": "7c0b1e4b2b8f1d0e1e3cbd9c0a5a9e1b8e7c2d41",
            "version": {"version": 6, "patchlevel": 13, "extra": "-rc1"},
        },
        "zeta": 1,
        "alpha": [1, 2.5, "three", null, true, {"b": 1, "a": 2}, [[]]],
        "empty_object": {},
        "empty_array": [],
        "negative": -42,
        "beyond_f64": 9_007_199_254_740_993_i64,
        "whole_float": 1.0,
        "small_float": 0.1,
        "unicode": "ünïcødé ☃ 😀 \"quoted\" \\ back",
        "null_value": null,
        "false_value": false,
    }));
    n.debug = Some(map(
        json!({"retry_by": new_id().as_str(), "attempts": [1, 2]}),
    ));
    n.jobfilter = Some(vec!["baseline-x86+".into(), "kunit".into()]);
    n.platform_filter = Some(vec!["qemu-x86".into(), "bcm2711-rpi-4-b".into()]);
    n.created = ts("2025-03-04T05:06:07.891");
    n.updated = ts("2025-03-04T05:07:08.001");
    n.timeout = ts("2025-03-04T11:06:07.999");
    n.holdoff = Some(ts("2025-03-04T05:36:07.5"));
    n.owner = Some("alice".to_owned());
    n.submitter = Some("service:pipeline".to_owned());
    n.treeid = Some("a5f0e1d2c3b4".to_owned());
    n.user_groups = vec!["team-b".into(), "team-a".into()];
    n.processed_by_kcidb_bridge = true;
    n.retry_counter = 3;
    n
}

/// A node whose optional fields are all null or empty.
fn sparse_node() -> Node {
    let mut n = node("sparse");
    n.path = Vec::new();
    n.artifacts = None;
    n.data = None;
    n.debug = None;
    n.platform_filter = None;
    n.created = ts("1999-12-31T23:59:59.999");
    n.timeout = ts("2100-01-01T00:00:00");
    n
}

/// Asserts equality and, through JSON text, the key order of every object.
fn assert_same(got: Option<Node>, want: &Node, via: &str) {
    let got = got.unwrap_or_else(|| panic!("{via}: node {} is missing", want.id_str()));
    assert_eq!(&got, want, "{via}");
    let got_json = serde_json::to_string(&got).expect("serialise");
    let want_json = serde_json::to_string(want).expect("serialise");
    assert_eq!(got_json, want_json, "{via}: key order differs");
}

pub async fn round_trip_preserves_every_field(store: &dyn Store) {
    let nodes = [full_node(), sparse_node(), node("defaults")];
    insert(store, &nodes).await;
    for n in &nodes {
        let id = id_of(n);
        assert_same(get(store, &id).await, n, "get_node");
        let found = store
            .find_nodes(&filter(&[("id", id.as_str())]), 0, None)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "find_nodes by id {id}");
        assert_same(found.into_iter().next(), n, "find_nodes");
    }
}

pub async fn get_nodes_reads_many_and_skips_missing(store: &dyn Store) {
    // More than one query's worth of ids on MongoDB, with missing ones among them.
    let mut nodes: Vec<Node> = (0..GET_NODES_CHUNK + 5)
        .map(|i| node(&format!("n{i}")))
        .collect();
    nodes.push(full_node());
    nodes.push(sparse_node());
    insert(store, &nodes).await;
    let missing = [new_id(), new_id()];
    let mut ids: Vec<_> = nodes.iter().map(id_of).collect();
    ids.insert(7, missing[0].clone());
    ids.push(missing[1].clone());
    let found = store.get_nodes(&ids).await.unwrap();
    assert_eq!(found.len(), nodes.len());
    for n in &nodes {
        assert_same(found.get(&id_of(n)).cloned(), n, "get_nodes");
    }
    assert!(missing.iter().all(|id| !found.contains_key(id)));
    assert!(store.get_nodes(&[]).await.unwrap().is_empty());
}

pub async fn get_missing_id_is_none(store: &dyn Store) {
    insert(store, &[node("present")]).await;
    assert_eq!(get(store, &new_id()).await, None);
}

pub async fn insert_existing_id_conflicts(store: &dyn Store) {
    let original = full_node();
    insert_one(store, &original).await;
    let mut clash = node("clash");
    clash.id = original.id.clone();
    let result = store.write_nodes(vec![NodeWrite::Insert(clash)]).await;
    assert_conflict(result, "insert of an existing id");
    assert_same(
        get(store, &id_of(&original)).await,
        &original,
        "after the failed insert",
    );
    assert_eq!(store.count_nodes(&Filter::default()).await.unwrap(), 1);
}

pub async fn replace_missing_id_is_not_found(store: &dyn Store) {
    let existing = node("existing");
    insert_one(store, &existing).await;
    let missing = node("missing");
    let result = store
        .write_nodes(vec![NodeWrite::Replace(missing.clone())])
        .await;
    assert_not_found(result, "replace of a missing id");
    assert_eq!(get(store, &id_of(&missing)).await, None);
    assert_eq!(store.count_nodes(&Filter::default()).await.unwrap(), 1);
}

pub async fn replace_overwrites_the_whole_node(store: &dyn Store) {
    let original = full_node();
    insert_one(store, &original).await;
    let mut replacement = node("renamed");
    replacement.id = original.id.clone();
    replacement.data = Some(json!({"only": "this"}));
    replacement.state = NodeState::Done;
    replacement.updated = ts("2025-03-05T00:00:00.002");
    store
        .write_nodes(vec![NodeWrite::Replace(replacement.clone())])
        .await
        .unwrap();
    assert_same(
        get(store, &id_of(&original)).await,
        &replacement,
        "after replace",
    );
    let old_keys = filter(&[("data.kernel_revision.tree", "mainline")]);
    assert_eq!(
        store.count_nodes(&old_keys).await.unwrap(),
        0,
        "old data keys must be gone"
    );
}

pub async fn write_nodes_is_atomic(store: &dyn Store) {
    let existing = node("existing");
    insert_one(store, &existing).await;
    let mut changed = existing.clone();
    changed.name = "changed".to_owned();
    let fresh = node("fresh");

    let result = store
        .write_nodes(vec![
            NodeWrite::Insert(fresh.clone()),
            NodeWrite::Replace(changed.clone()),
            NodeWrite::Replace(node("missing")),
        ])
        .await;
    assert_not_found(result, "batch ending in a replace of a missing id");
    assert_eq!(
        get(store, &id_of(&fresh)).await,
        None,
        "the insert must be rolled back"
    );
    assert_same(
        get(store, &id_of(&existing)).await,
        &existing,
        "the replace must be rolled back",
    );

    let mut duplicate = node("duplicate");
    duplicate.id = existing.id.clone();
    let result = store
        .write_nodes(vec![
            NodeWrite::Replace(changed.clone()),
            NodeWrite::Insert(fresh.clone()),
            NodeWrite::Insert(duplicate),
        ])
        .await;
    assert_conflict(result, "batch ending in an insert of an existing id");
    assert_eq!(
        get(store, &id_of(&fresh)).await,
        None,
        "the insert must be rolled back"
    );
    assert_same(
        get(store, &id_of(&existing)).await,
        &existing,
        "the replace must be rolled back",
    );
    assert_eq!(store.count_nodes(&Filter::default()).await.unwrap(), 1);

    store
        .write_nodes(Vec::new())
        .await
        .expect("an empty batch is fine");
    store
        .write_nodes(vec![
            NodeWrite::Insert(fresh.clone()),
            NodeWrite::Replace(changed.clone()),
        ])
        .await
        .expect("a valid batch");
    assert_same(
        get(store, &id_of(&fresh)).await,
        &fresh,
        "after the valid batch",
    );
    assert_same(
        get(store, &id_of(&existing)).await,
        &changed,
        "after the valid batch",
    );
}

pub async fn batch_writes_apply_in_order(store: &dyn Store) {
    let first = node("first");
    let mut second = first.clone();
    second.name = "second".to_owned();
    second.state = NodeState::Available;
    store
        .write_nodes(vec![
            NodeWrite::Insert(first.clone()),
            NodeWrite::Replace(second.clone()),
        ])
        .await
        .expect("insert then replace the same node in one batch");
    assert_same(
        get(store, &id_of(&first)).await,
        &second,
        "the later write wins",
    );

    let twin = node("twin");
    let other = node("other");
    let result = store
        .write_nodes(vec![
            NodeWrite::Insert(other.clone()),
            NodeWrite::Insert(twin.clone()),
            NodeWrite::Insert(twin.clone()),
        ])
        .await;
    assert_conflict(result, "the same id inserted twice in one batch");
    assert_eq!(get(store, &id_of(&twin)).await, None);
    assert_eq!(get(store, &id_of(&other)).await, None);
}

pub async fn find_orders_by_id_with_offset_and_limit(store: &dyn Store) {
    let nodes: Vec<Node> = (0..7)
        .map(|i| {
            let mut n = node(&format!("n{i}"));
            n.kind = if i % 2 == 0 { "kbuild" } else { "test" }.to_owned();
            // Creation times run against id order, so sorting by anything else shows.
            n.created = ts("2025-01-01T00:00:00").plus_seconds(100 - i);
            n
        })
        .collect();
    // Insertion order differs from id order, so natural order differs from id order too.
    for i in [3, 6, 0, 5, 1, 4, 2] {
        insert_one(store, &nodes[i]).await;
    }
    let page = |f: Filter, offset: u64, limit: Option<u64>| async move {
        let found = store.find_nodes(&f, offset, limit).await.unwrap();
        found.into_iter().map(|n| n.name).collect::<Vec<_>>()
    };
    let all = Filter::default();
    assert_eq!(
        page(all.clone(), 0, None).await,
        ["n0", "n1", "n2", "n3", "n4", "n5", "n6"]
    );
    assert_eq!(page(all.clone(), 2, Some(3)).await, ["n2", "n3", "n4"]);
    assert_eq!(page(all.clone(), 5, Some(10)).await, ["n5", "n6"]);
    assert_eq!(page(all.clone(), 0, Some(1)).await, ["n0"]);
    assert_eq!(page(all.clone(), 6, None).await, ["n6"]);
    assert!(page(all.clone(), 7, None).await.is_empty());
    assert!(page(all, 100, Some(5)).await.is_empty());
    let kbuilds = filter(&[("kind", "kbuild")]);
    assert_eq!(
        page(kbuilds.clone(), 0, None).await,
        ["n0", "n2", "n4", "n6"]
    );
    assert_eq!(page(kbuilds.clone(), 1, Some(2)).await, ["n2", "n4"]);
    assert_eq!(page(kbuilds, 3, Some(2)).await, ["n6"]);
}

pub async fn count_nodes_counts_matches(store: &dyn Store) {
    let all = Filter::default();
    assert_eq!(store.count_nodes(&all).await.unwrap(), 0, "empty store");
    let nodes: Vec<Node> = (0..5)
        .map(|i| {
            let mut n = node(&format!("n{i}"));
            n.state = if i < 2 {
                NodeState::Done
            } else {
                NodeState::Running
            };
            n
        })
        .collect();
    insert(store, &nodes).await;
    assert_eq!(store.count_nodes(&all).await.unwrap(), 5);
    assert_eq!(
        store
            .count_nodes(&filter(&[("state", "done")]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_nodes(&filter(&[("state", "closing")]))
            .await
            .unwrap(),
        0
    );
    let both = filter(&[("state", "running"), ("name__in", "n1,n2,n3")]);
    assert_eq!(
        store.count_nodes(&both).await.unwrap(),
        2,
        "conditions are a conjunction"
    );
}
