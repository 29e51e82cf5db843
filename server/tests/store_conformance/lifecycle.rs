//! The queries of the life-cycle rules: pages of due nodes in (key, id) order through a
//! cursor, and the pending-descendant walk.

use maestro_common::node::ObjectIdHex;
use maestro_common::{Node, NodeState};
use maestro_server::store::{DueCursor, DueNodes, Store};

use crate::support::{id_of, insert, node, ts};

fn in_state(name: &str, state: NodeState, timeout: &str) -> Node {
    let mut n = node(name);
    n.state = state;
    n.timeout = ts(timeout);
    n
}

fn names(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().map(|n| n.name.as_str()).collect()
}

/// Every node of `due`, read `page` at a time through the cursor, as the sweep reads them.
async fn all_pages(store: &dyn Store, due: DueNodes, page: u64) -> Vec<String> {
    let mut after: Option<DueCursor> = None;
    let mut seen = Vec::new();
    loop {
        let got = store.due_nodes(due, after.as_ref(), page).await.unwrap();
        assert!(got.len() as u64 <= page, "a page is at most its limit");
        seen.extend(got.iter().map(|n| n.name.clone()));
        let Some(last) = got.last() else { break };
        after = Some((due.key(last).unwrap(), id_of(last)));
        if (got.len() as u64) < page {
            break;
        }
    }
    seen
}

pub async fn due_nodes_are_paged_by_key_then_id(store: &dyn Store) {
    // Ids grow with creation order (support::new_id), so within a tie the earlier is first.
    let nodes = vec![
        in_state("r-late", NodeState::Running, "2025-01-01T10:00:00"),
        in_state("r-early", NodeState::Running, "2025-01-01T08:00:00"),
        in_state("r-tie-1", NodeState::Running, "2025-01-01T09:00:00"),
        in_state("r-tie-2", NodeState::Running, "2025-01-01T09:00:00"),
        in_state("r-tie-3", NodeState::Running, "2025-01-01T09:00:00"),
        in_state("r-future", NodeState::Running, "2025-01-01T12:00:00"),
        in_state("r-at-now", NodeState::Running, "2025-01-01T11:00:00"),
        in_state("a-past", NodeState::Available, "2025-01-01T08:00:00"),
        in_state("d-past", NodeState::Done, "2025-01-01T08:00:00"),
        in_state("c-past", NodeState::Closing, "2025-01-01T07:00:00"),
        in_state("c-future", NodeState::Closing, "2025-01-02T00:00:00"),
    ];
    insert(store, &nodes).await;
    let now = ts("2025-01-01T11:00:00");
    let running = DueNodes::TimedOut(NodeState::Running, now);
    let want = ["r-early", "r-tie-1", "r-tie-2", "r-tie-3", "r-late"];
    let first = store.due_nodes(running, None, 100).await.unwrap();
    assert_eq!(
        names(&first),
        want,
        "timeout strictly before now, by (timeout, id)"
    );
    // Page sizes that cut the tie group in every place give the same nodes, once each.
    for page in 1..=5 {
        assert_eq!(
            all_pages(store, running, page).await,
            want,
            "pages of {page}"
        );
    }
    let available = DueNodes::TimedOut(NodeState::Available, now);
    assert_eq!(all_pages(store, available, 2).await, ["a-past"]);
    let done = DueNodes::TimedOut(NodeState::Done, now);
    assert_eq!(
        all_pages(store, done, 2).await,
        ["d-past"],
        "any state can be asked"
    );
    // The closing set has no time bound; its order is by timeout too.
    assert_eq!(
        all_pages(store, DueNodes::Closing, 1).await,
        ["c-past", "c-future"]
    );
    assert!(store.due_nodes(running, None, 0).await.unwrap().is_empty());
}

pub async fn due_holdoffs_skip_null_and_future_ones(store: &dyn Store) {
    let holdoff = |name: &str, state: NodeState, at: Option<&str>| {
        let mut n = in_state(name, state, "2025-01-02T00:00:00");
        n.holdoff = at.map(ts);
        n
    };
    insert(
        store,
        &[
            holdoff("late", NodeState::Available, Some("2025-01-01T10:00:00")),
            holdoff("early", NodeState::Available, Some("2025-01-01T08:00:00")),
            holdoff("tie-a", NodeState::Available, Some("2025-01-01T09:00:00")),
            holdoff("tie-b", NodeState::Available, Some("2025-01-01T09:00:00")),
            holdoff("null", NodeState::Available, None),
            holdoff("future", NodeState::Available, Some("2025-01-01T12:00:00")),
            holdoff("running", NodeState::Running, Some("2025-01-01T08:00:00")),
            holdoff("closing", NodeState::Closing, Some("2025-01-01T08:00:00")),
        ],
    )
    .await;
    let due = DueNodes::HoldoffPassed(ts("2025-01-01T11:00:00"));
    let want = ["early", "tie-a", "tie-b", "late"];
    for page in [1, 2, 3, 100] {
        assert_eq!(all_pages(store, due, page).await, want, "pages of {page}");
    }
}

fn child(name: &str, parent: &Node, state: NodeState) -> Node {
    let mut n = node(name);
    n.parent = Some(id_of(parent));
    n.state = state;
    n
}

async fn pending(store: &dyn Store, n: &Node) -> bool {
    store.has_pending_descendant(&id_of(n)).await.unwrap()
}

pub async fn pending_descendants_are_found_at_any_depth(store: &dyn Store) {
    // root -> a (done) -> a1 (done) -> a1x (running); root -> b (done)
    let root = in_state("root", NodeState::Closing, "2025-01-01T00:00:00");
    let leaf = in_state("leaf", NodeState::Running, "2025-01-01T00:00:00");
    let a = child("a", &root, NodeState::Done);
    let b = child("b", &root, NodeState::Done);
    let a1 = child("a1", &a, NodeState::Done);
    let a1x = child("a1x", &a1, NodeState::Running);
    insert(
        store,
        &[
            root.clone(),
            leaf.clone(),
            a.clone(),
            b.clone(),
            a1.clone(),
            a1x.clone(),
        ],
    )
    .await;
    assert!(!pending(store, &leaf).await, "no children: nothing pending");
    assert!(
        pending(store, &root).await,
        "a pending great-grandchild counts"
    );
    assert!(pending(store, &a).await);
    assert!(!pending(store, &b).await);
    assert!(
        !pending(store, &a1x).await,
        "the node itself does not count"
    );
    let missing = ObjectIdHex::parse("0123456789abcdef01234567").unwrap();
    assert!(!store.has_pending_descendant(&missing).await.unwrap());

    // Every state but done is pending.
    for state in [NodeState::Available, NodeState::Closing] {
        let mut moved = a1x.clone();
        moved.state = state;
        store
            .write_nodes(vec![maestro_server::store::NodeWrite::Replace(moved)])
            .await
            .unwrap();
        assert!(pending(store, &root).await, "{state:?} is pending");
    }
    let mut finished = a1x.clone();
    finished.state = NodeState::Done;
    store
        .write_nodes(vec![maestro_server::store::NodeWrite::Replace(finished)])
        .await
        .unwrap();
    assert!(!pending(store, &root).await, "all descendants done");
}

pub async fn a_cycle_of_parents_ends_the_walk(store: &dyn Store) {
    // x -> y -> z -> x (PUT /node does not check that a parent chain ends), all but x done.
    let mut x = in_state("x", NodeState::Closing, "2025-01-01T00:00:00");
    let y = child("y", &x, NodeState::Done);
    let z = child("z", &y, NodeState::Done);
    x.parent = Some(id_of(&z));
    insert(store, &[x.clone(), y.clone(), z.clone()]).await;
    assert!(
        !pending(store, &x).await,
        "x is its own descendant but never counts"
    );
    // From y, x (closing) is a pending descendant; the walk still ends.
    assert!(pending(store, &y).await);
}

pub async fn a_wide_finished_tree_has_nothing_pending(store: &dyn Store) {
    // More children than one `$in` query of the MongoDB walk takes.
    let root = in_state("root", NodeState::Closing, "2025-01-01T00:00:00");
    let kids: Vec<Node> = (0..1_200)
        .map(|i| child(&format!("k{i}"), &root, NodeState::Done))
        .collect();
    let grandkids: Vec<Node> = kids
        .iter()
        .step_by(100)
        .map(|k| child(&format!("{}-g", k.name), k, NodeState::Done))
        .collect();
    insert(store, std::slice::from_ref(&root)).await;
    insert(store, &kids).await;
    insert(store, &grandkids).await;
    assert!(!pending(store, &root).await);
    let last = kids.last().unwrap();
    insert(store, &[child("late", last, NodeState::Running)]).await;
    assert!(
        pending(store, &root).await,
        "a pending node under the last child"
    );
}
