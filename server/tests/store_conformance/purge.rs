//! The node purge's batches: old nodes deleted oldest first, checkouts and recent nodes
//! kept, a batch at most its limit and continued from its cursor, and the whole purge (as
//! the server runs it) counted in the metrics.

use std::time::Duration;

use maestro_common::{Node, Timestamp};
use maestro_server::metrics::Metrics;
use maestro_server::nodes::purge::{PurgeBatches, purge_before};
use maestro_server::store::Store;
use maestro_server::store::purge::{PurgeRange, PurgedBatch};

use crate::support::{assert_finds, get, id_of, insert, node, ts};

/// A node of `kind` called `name`, created at `created`.
fn made(kind: &str, name: &str, created: Timestamp) -> Node {
    let mut n = node(name);
    n.kind = kind.to_owned();
    n.created = created;
    n.updated = created;
    n.timeout = created.plus_seconds(3_600);
    n
}

/// `day` days after 2024-01-01 (at `hour`).
fn day(day: i64, hour: i64) -> Timestamp {
    ts("2024-01-01T00:00:00").plus_seconds(day * 86_400 + hour * 3_600)
}

pub async fn old_nodes_go_and_checkouts_and_recent_ones_stay(store: &dyn Store) {
    let cut = day(200, 0);
    let nodes = vec![
        made("checkout", "old-checkout", day(1, 0)),
        made("kbuild", "old-kbuild", day(2, 0)),
        made("test", "old-test", day(3, 0)),
        made("job", "old-job", day(199, 23)),
        made("test", "at-cutoff", cut),
        made("test", "recent", day(300, 0)),
        made("checkout", "recent-checkout", day(300, 1)),
    ];
    insert(store, &nodes).await;
    let batch = store
        .purge_nodes(
            PurgeRange {
                before: cut,
                from: None,
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        batch,
        PurgedBatch {
            matched: 3,
            deleted: 3,
            last_created: Some(day(199, 23)),
        }
    );
    for n in &nodes[1..4] {
        assert!(
            get(store, &id_of(n)).await.is_none(),
            "{} is deleted",
            n.name
        );
    }
    let kept = ["old-checkout", "at-cutoff", "recent", "recent-checkout"];
    assert_finds(store, &[], &kept).await;
    // The indexes the filters use agree with the table.
    assert_finds(store, &[("kind", "test")], &["at-cutoff", "recent"]).await;
    assert_finds(store, &[("created__lt", "2024-07-01")], &["old-checkout"]).await;
    assert_finds(store, &[("kind", "kbuild")], &[]).await;
    let again = PurgeRange {
        before: cut,
        from: None,
    };
    assert_eq!(
        store.purge_nodes(again, 100).await.unwrap(),
        PurgedBatch::default(),
        "nothing is left to purge"
    );
}

pub async fn batches_go_oldest_first_and_continue_from_their_cursor(store: &dyn Store) {
    // 25 old tests an hour apart, inserted newest first (so id order is not created order),
    // with a checkout among them every 5 hours, and recent nodes after.
    let mut nodes: Vec<Node> = (0..25)
        .rev()
        .map(|h| made("test", &format!("old-{h:02}"), day(10, h)))
        .collect();
    nodes.extend((0..5).map(|h| made("checkout", &format!("co-{h}"), day(10, h * 5))));
    nodes.extend((0..3).map(|h| made("test", &format!("new-{h}"), day(400, h))));
    insert(store, &nodes).await;
    let before = day(100, 0);
    let mut range = PurgeRange { before, from: None };
    let mut sizes = Vec::new();
    loop {
        let batch = store.purge_nodes(range, 10).await.unwrap();
        assert_eq!(
            batch.matched, batch.deleted,
            "one store, no concurrent purge"
        );
        sizes.push(batch.deleted);
        if batch.matched < 10 {
            break;
        }
        // The oldest first: after k batches of 10, the k*10 oldest are gone.
        let k = sizes.len() as i64;
        assert_eq!(batch.last_created, Some(day(10, k * 10 - 1)));
        let first_left = format!("old-{:02}", k * 10);
        let left = store
            .find_nodes(&crate::support::filter(&[("name", &first_left)]), 0, None)
            .await
            .unwrap();
        assert_eq!(
            left.len(),
            1,
            "{first_left} is still there after {k} batches"
        );
        range.from = batch.last_created;
    }
    assert_eq!(sizes, [10, 10, 5]);
    let mut kept: Vec<String> = (0..5).map(|h| format!("co-{h}")).collect();
    kept.extend((0..3).map(|h| format!("new-{h}")));
    let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
    assert_finds(store, &[], &kept).await;
    assert_eq!(
        store.purge_nodes(range, 0).await.unwrap(),
        PurgedBatch::default(),
        "a limit of 0 deletes nothing"
    );
}

pub async fn a_purge_deletes_every_old_node_in_batches_and_counts_them(store: &dyn Store) {
    let nodes: Vec<Node> = (0..11)
        .map(|i| made("test", &format!("old-{i}"), day(i, 0)))
        .chain([made("checkout", "co", day(0, 0))])
        .chain([made("test", "new", day(500, 0))])
        .collect();
    insert(store, &nodes).await;
    let metrics = Metrics::new();
    let batches = PurgeBatches {
        size: 4,
        pause: Duration::from_millis(1),
    };
    let mut progress = 0;
    let report = purge_before(store, day(100, 0), batches, Some(&metrics), |_| {
        progress += 1;
    })
    .await
    .unwrap();
    // 4 + 4 + 3: the third batch, short, ends the purge.
    assert_eq!((report.deleted, report.batches), (11, 3));
    assert_eq!(progress, 0, "progress is reported every 30 s only");
    assert_finds(store, &[], &["co", "new"]).await;
    let log = maestro_server::events::EventLog::new(0, 16);
    let text = metrics
        .render(&maestro_server::pubsub::PubSub::default(), &log)
        .unwrap();
    assert!(text.contains("nodes_purged{instance=\"api\"} 11"), "{text}");
    assert!(text.contains("maestro_nodes_purged_total 11"), "{text}");
    assert_eq!(
        store.event_log().head(),
        0,
        "no event is sent for purged nodes"
    );
}
