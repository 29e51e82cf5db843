//! Datetime query cases: ranges and exact matches on `created`, `updated`, `timeout`, `holdoff`.

use maestro_common::NodeState;
use maestro_server::store::Store;

use crate::support::{assert_finds, insert, node, ts};

pub async fn datetime_operators(store: &dyn Store) {
    let at = |name: &str, created: &str, timeout: &str| {
        let mut n = node(name);
        n.created = ts(created);
        n.updated = ts(created).plus_seconds(60);
        n.timeout = ts(timeout);
        n
    };
    insert(
        store,
        &[
            at("a", "2025-01-01T00:00:00", "2025-01-01T06:00:00"),
            at("b", "2025-01-01T12:00:00.5", "2025-01-02T00:00:00"),
            at("c", "2025-01-02T00:00:00", "2025-01-01T12:00:00"),
            at("d", "2024-12-31T23:59:59.999", "2025-01-01T12:00:00.001"),
        ],
    )
    .await;

    let day = [
        ("created__gte", "2025-01-01T00:00:00"),
        ("created__lt", "2025-01-02T00:00:00"),
    ];
    assert_finds(store, &day, &["a", "b"]).await;
    assert_finds(store, &[("created", "2025-01-01T12:00:00.500")], &["b"]).await;
    assert_finds(store, &[("created", "2025-01-01T14:00:00.5+02:00")], &["b"]).await;
    assert_finds(store, &[("created", "2025-01-01T12:00:00")], &[]).await;
    assert_finds(
        store,
        &[("created__gt", "2025-01-01T12:00:00.499")],
        &["b", "c"],
    )
    .await;
    assert_finds(store, &[("created__gt", "2025-01-01T12:00:00.500")], &["c"]).await;
    assert_finds(store, &[("created__lte", "2025-01-01")], &["a", "d"]).await;
    assert_finds(store, &[("created__lt", "2025-01-01T00:00:00Z")], &["d"]).await;
    assert_finds(
        store,
        &[("created__gte", "2025-01-01T02:00:00+02:00")],
        &["a", "b", "c"],
    )
    .await;
    assert_finds(
        store,
        &[("created__ne", "2025-01-01T00:00:00")],
        &["b", "c", "d"],
    )
    .await;
    assert_finds(
        store,
        &[("created__in", "2025-01-01T00:00:00,2025-01-02T00:00:00")],
        &["a", "c"],
    )
    .await;
    assert_finds(
        store,
        &[("created__nin", "2025-01-01T00:00:00,2025-01-02T00:00:00")],
        &["b", "d"],
    )
    .await;
    assert_finds(
        store,
        &[("updated__gt", "2025-01-01T12:01:00")],
        &["b", "c"],
    )
    .await;
    // The timeout service's query.
    assert_finds(
        store,
        &[("timeout__lt", "2025-01-01T12:00:00.001")],
        &["a", "c"],
    )
    .await;
    assert_finds(
        store,
        &[("timeout__lte", "2025-01-01T12:00:00.001")],
        &["a", "c", "d"],
    )
    .await;
    assert_finds(
        store,
        &[
            ("timeout__gt", "2025-01-01T12:00:00"),
            ("created__lt", "2025-01-01T12:00"),
        ],
        &["d"],
    )
    .await;
}

pub async fn holdoff_null_and_ranges(store: &dyn Store) {
    let mut early = node("early");
    early.state = NodeState::Available;
    early.holdoff = Some(ts("2025-01-01T01:00:00"));
    let mut late = node("late");
    late.state = NodeState::Available;
    late.holdoff = Some(ts("2025-01-01T03:00:00.250"));
    let mut unset = node("unset");
    unset.state = NodeState::Available;
    insert(store, &[early, late, unset, node("running")]).await;

    // The holdoff service's query: a null holdoff is never "before" a time.
    let due = [
        ("state", "available"),
        ("holdoff__lt", "2025-01-01T02:00:00"),
    ];
    assert_finds(store, &due, &["early"]).await;
    assert_finds(store, &[("holdoff__gte", "2000-01-01")], &["early", "late"]).await;
    assert_finds(store, &[("holdoff", "2025-01-01T03:00:00.25")], &["late"]).await;
    assert_finds(store, &[("holdoff", "null")], &["unset", "running"]).await;
    assert_finds(store, &[("holdoff__ne", "null")], &["early", "late"]).await;
    assert_finds(
        store,
        &[("holdoff__ne", "2025-01-01T01:00:00")],
        &["late", "unset", "running"],
    )
    .await;
}
