//! A damaged SQLite database: the server refuses to start on it with a clear message, and
//! the full check lists what is wrong, instead of 500s on the queries that touch it.
#![allow(clippy::unwrap_used)]

use std::io::{Seek, SeekFrom, Write};

use maestro_common::Node;
use maestro_common::node::ObjectIdHex;
use maestro_server::store::sqlite::{DB_FILE, SqliteStore};
use maestro_server::store::{NodeWrite, Store};

fn id(n: u32) -> ObjectIdHex {
    ObjectIdHex::parse(&format!("6b0e{n:020x}")).unwrap()
}

#[tokio::test]
async fn a_damaged_database_is_refused_at_start_and_reported_by_the_check() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let writes = (0..3_000)
            .map(|i| {
                let mut n = Node::new("test", &format!("test-{i}"), vec!["checkout".into()]);
                n.id = Some(id(i));
                n.data = Some(serde_json::json!({"padding": "x".repeat(300)}));
                NodeWrite::Insert(n)
            })
            .collect();
        store.write_nodes(writes).await.unwrap();
        assert!(SqliteStore::integrity_check(dir.path()).unwrap().is_empty());
    }
    // Dropped: the last connection checkpointed the WAL into the file. Damage pages in
    // the middle of it.
    let path = dir.path().join(DB_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(len / 2 / 4096 * 4096)).unwrap();
    f.write_all(&vec![0xA5; 3 * 4096]).unwrap();
    f.sync_all().unwrap();
    drop(f);

    let err = SqliteStore::open(dir.path())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("is damaged") && err.contains("maestro-server check"),
        "{err}"
    );
    let problems = SqliteStore::integrity_check(dir.path()).unwrap();
    assert!(!problems.is_empty());
}
