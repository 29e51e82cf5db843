//! Two servers on one database sweeping at once: each node moves exactly once (the loser
//! of a race sees its conditional write fail, reads the node again and finds the rule no
//! longer applies), and every write and its event is kept.
use std::collections::HashMap;
use std::sync::Arc;

use maestro_common::{Node, NodeState};
use maestro_server::lifecycle::{SweepReport, sweep};
use maestro_server::store::Store;
use maestro_server::store::mongo::MongoStore;
use maestro_server::store::sqlite::SqliteStore;

use crate::common::{PAST, child, get, held, job, node_events, now, put};

/// What the nodes of [`tree`] end as, and how many of them move.
struct Expected {
    nodes: Vec<(Node, NodeState)>,
    moving: usize,
}

/// Dozens of nodes for every rule: timed out, past holdoff with and without a pending
/// child, closing with only finished children, and the children themselves (which stay).
fn tree() -> Expected {
    let mut nodes = Vec::new();
    for i in 0..20 {
        nodes.push((
            job(&format!("t{i}"), NodeState::Running, PAST),
            NodeState::Done,
        ));
    }
    for i in 0..10 {
        nodes.push((held(&format!("h{i}"), Some(PAST)), NodeState::Done));
        let busy = held(&format!("hb{i}"), Some(PAST));
        let kid = child(&format!("hb{i}-kid"), &busy, NodeState::Running);
        nodes.push((busy, NodeState::Closing));
        nodes.push((kid, NodeState::Running));
        let mut closing = held(&format!("c{i}"), None);
        closing.state = NodeState::Closing;
        let kid = child(&format!("c{i}-kid"), &closing, NodeState::Done);
        nodes.push((closing, NodeState::Done));
        nodes.push((kid, NodeState::Done));
    }
    Expected {
        nodes,
        moving: 20 + 10 + 10 + 10,
    }
}

async fn two_servers_move_every_node_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let expected = tree();
    let nodes: Vec<Node> = expected.nodes.iter().map(|(n, _)| n.clone()).collect();
    put(&*a, &nodes).await;
    let mut total = SweepReport::default();
    for _ in 0..4 {
        let (ra, rb) = tokio::join!(sweep(&*a, now()), sweep(&*b, now()));
        for r in [ra.unwrap(), rb.unwrap()] {
            total.timed_out += r.timed_out;
            total.closing += r.closing;
            total.done += r.done;
            total.failed += r.failed;
        }
    }
    assert_eq!(
        (total.timed_out, total.closing, total.done, total.failed),
        (20, 10, 20, 0),
        "the two servers' moves add up to one per node: {total:?}"
    );
    for (n, state) in &expected.nodes {
        for store in [&a, &b] {
            assert_eq!(get(&**store, n).await.state, *state, "{}", n.name);
        }
    }
    // Exactly one event per moved node in the shared history, whichever server wrote it.
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for (e, _) in node_events(&*a).await {
        *per_node.entry(e.id).or_default() += 1;
    }
    assert_eq!(per_node.len(), expected.moving, "{per_node:?}");
    assert!(per_node.values().all(|&n| n == 1), "{per_node:?}");
}

pub async fn sqlite() {
    let dir = tempfile::TempDir::new().unwrap();
    let a = SqliteStore::open(&dir.path().join("data")).unwrap();
    let b = SqliteStore::open(&dir.path().join("data")).unwrap();
    two_servers_move_every_node_once(Arc::new(a), Arc::new(b)).await;
}

pub async fn mongodb() {
    let Some(a) = crate::two_stores::mongodb_store("two_servers").await else {
        return;
    };
    let uri = std::env::var("MAESTRO_TEST_MONGODB_URI").unwrap();
    let b = MongoStore::connect(&uri, a.database_name()).await.unwrap();
    let a = Arc::new(a);
    let outcome = {
        use futures::FutureExt as _;
        std::panic::AssertUnwindSafe(two_servers_move_every_node_once(a.clone(), Arc::new(b)))
            .catch_unwind()
            .await
    };
    crate::two_stores::finish_mongodb(&a, outcome).await;
}
