//! Tests of the MongoDB store against a real MongoDB-wire server (`MAESTRO_TEST_MONGODB_URI`).
use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document, doc};
use maestro_common::node::ObjectIdHex;
use maestro_common::{Filter, Node, NodeState, Timestamp, UserGroupRef};
use mongodb::IndexModel;
use mongodb::options::IndexOptions;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::MongoStore;
use crate::store::{NodeWrite, Store, StoreError, StoredUser, UserGroup};

mod events;
mod scale;

fn uri() -> Option<String> {
    match std::env::var("MAESTRO_TEST_MONGODB_URI") {
        Ok(uri) => Some(uri),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("MAESTRO_TEST_MONGODB_URI must be set when CI=true")
        }
        Err(_) => None,
    }
}

/// A database name of its own for each test, so tests run in parallel.
fn db_name(test: &str) -> String {
    format!("mt_{test}_{}", ObjectId::new().to_hex())
}

async fn store(test: &str) -> Option<MongoStore> {
    let Some(uri) = uri() else {
        eprintln!("skipping {test}: MAESTRO_TEST_MONGODB_URI is not set");
        return None;
    };
    Some(
        MongoStore::connect(&uri, &db_name(test))
            .await
            .expect("connect"),
    )
}

fn new_id() -> ObjectIdHex {
    ObjectIdHex::parse(&ObjectId::new().to_hex()).unwrap()
}

fn node(kind: &str, name: &str, parent: Option<&Node>) -> Node {
    let mut path = parent.map(|p| p.path.clone()).unwrap_or_default();
    path.push(name.to_owned());
    let mut n = Node::new(kind, name, path);
    n.id = Some(new_id());
    n.parent = parent.and_then(|p| p.id.clone());
    n
}

fn filter(params: &[(&str, &str)]) -> Filter {
    Filter::from_params(params.iter().copied()).unwrap()
}

async fn names(s: &MongoStore, params: &[(&str, &str)]) -> Vec<String> {
    let found = s.find_nodes(&filter(params), 0, None).await.unwrap();
    let count = s.count_nodes(&filter(params)).await.unwrap();
    assert_eq!(count, found.len() as u64, "count of {params:?}");
    found.into_iter().map(|n| n.name).collect()
}

#[tokio::test]
async fn nodes_round_trip_and_filter_with_mongo_semantics() {
    let Some(s) = store("filters").await else {
        return;
    };
    let mut checkout = node("checkout", "checkout", None);
    checkout.data = Some(json!({
        "kernel_revision": {"tree": "mainline", "branch": "master", "commit": "abc",
                            "version": {"version": 6}},
        "zeta": 1, "alpha": 2,
    }));
    checkout.created = Timestamp::parse_iso("2025-01-01T10:00:00").unwrap();
    let mut kbuild = node("kbuild", "gcc-12", Some(&checkout));
    kbuild.state = NodeState::Done;
    kbuild.holdoff = Some(Timestamp::parse_iso("2025-01-01T11:00:00").unwrap());
    kbuild.retry_counter = 2;
    kbuild.processed_by_kcidb_bridge = true;
    let mut test = node("test", "baseline", Some(&kbuild));
    test.user_groups = vec!["team-a".into()];
    let writes = [&checkout, &kbuild, &test].map(|n| NodeWrite::Insert(n.clone()));
    s.write_nodes(writes.to_vec()).await.unwrap();

    let back = s
        .get_node(checkout.id.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, checkout);
    let keys: Vec<_> = back
        .data
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["kernel_revision", "zeta", "alpha"]);
    assert_eq!(s.get_node(&new_id()).await.unwrap(), None);

    // Ids are ascending in creation order, so results come back in insertion order.
    assert_eq!(names(&s, &[]).await, ["checkout", "gcc-12", "baseline"]);
    assert_eq!(names(&s, &[("parent", "null")]).await, ["checkout"]);
    assert_eq!(
        names(&s, &[("parent__ne", "null")]).await,
        ["gcc-12", "baseline"]
    );
    assert_eq!(
        names(&s, &[("parent", checkout.id_str())]).await,
        ["gcc-12"]
    );
    assert_eq!(names(&s, &[("id", kbuild.id_str())]).await, ["gcc-12"]);
    assert_eq!(
        names(&s, &[("holdoff", "null")]).await,
        ["checkout", "baseline"]
    );
    assert_eq!(
        names(&s, &[("holdoff__lt", "2025-01-01T11:00:01")]).await,
        ["gcc-12"]
    );
    assert_eq!(
        names(&s, &[("created__lt", "2025-01-02")]).await,
        ["checkout"]
    );
    assert_eq!(
        names(&s, &[("created__gte", "2025-01-02")]).await,
        ["gcc-12", "baseline"]
    );
    assert_eq!(
        names(&s, &[("kind__in", "kbuild,test")]).await,
        ["gcc-12", "baseline"]
    );
    assert_eq!(
        names(&s, &[("kind__nin", "kbuild,test")]).await,
        ["checkout"]
    );
    assert_eq!(names(&s, &[("state__ne", "running")]).await, ["gcc-12"]);
    assert_eq!(
        names(&s, &[("name__re", "c")]).await,
        ["checkout", "gcc-12"]
    );
    assert_eq!(names(&s, &[("name__re", "^C")]).await, Vec::<String>::new());
    assert_eq!(
        names(&s, &[("path", "gcc-12")]).await,
        ["gcc-12", "baseline"]
    );
    assert_eq!(names(&s, &[("path__re", "^base")]).await, ["baseline"]);
    assert_eq!(names(&s, &[("user_groups", "team-a")]).await, ["baseline"]);
    assert_eq!(names(&s, &[("retry_counter", "2")]).await, ["gcc-12"]);
    assert_eq!(names(&s, &[("retry_counter__gt", "1")]).await, ["gcc-12"]);
    assert_eq!(
        names(&s, &[("processed_by_kcidb_bridge", "false")]).await,
        ["checkout", "baseline"]
    );
    assert_eq!(
        names(&s, &[("data.kernel_revision.tree", "mainline")]).await,
        ["checkout"]
    );
    assert_eq!(
        names(&s, &[("data.kernel_revision.version.version", "6")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(&s, &[("data.kernel_revision.version.version__int", "6")]).await,
        ["checkout"]
    );
    assert_eq!(names(&s, &[("data.zeta__gt", "0")]).await, ["checkout"]);
    assert_eq!(
        names(&s, &[("data.kernel_revision.commit__ne", "abc")]).await,
        ["gcc-12", "baseline"]
    );
    assert_eq!(names(&s, &[("data.nothing", "null")]).await.len(), 3);
    assert_eq!(names(&s, &[("data.nothing__ne", "null")]).await.len(), 0);
    assert_eq!(
        names(&s, &[("kind", "test"), ("name", "baseline")]).await,
        ["baseline"]
    );

    let page = s.find_nodes(&Filter::default(), 1, Some(1)).await.unwrap();
    assert_eq!(
        page.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["gcc-12"]
    );
    assert!(
        s.find_nodes(&Filter::default(), 0, Some(0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.find_nodes(&Filter::default(), 2, None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.find_nodes(&Filter::default(), 5, Some(10))
            .await
            .unwrap()
            .is_empty()
    );
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn null_filters_match_missing_fields() {
    let Some(s) = store("missing").await else {
        return;
    };
    let n = node("test", "with-holdoff", None);
    s.write_nodes(vec![NodeWrite::Insert(n)]).await.unwrap();
    // A Python-era document without `holdoff` and `treeid` at all.
    let mut raw = super::convert::node_to_doc(&node("test", "bare", None)).unwrap();
    raw.remove("holdoff");
    raw.remove("treeid");
    s.nodes.insert_one(raw).await.unwrap();
    assert_eq!(
        names(&s, &[("holdoff", "null")]).await,
        ["with-holdoff", "bare"]
    );
    assert_eq!(
        names(&s, &[("treeid__ne", "null")]).await,
        Vec::<String>::new()
    );
    assert_eq!(names(&s, &[("treeid__ne", "x")]).await.len(), 2);
    assert_eq!(names(&s, &[("treeid__nin", "x,y")]).await.len(), 2);
    assert_eq!(names(&s, &[("treeid__in", "x,null")]).await.len(), 2);
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn python_written_documents_load() {
    let Some(s) = store("python").await else {
        return;
    };
    let id = ObjectId::new();
    let other = ObjectId::new();
    let now = DateTime::now();
    s.nodes
        .insert_one(doc! {
            "_id": id, "id": id, "kind": "regression", "name": "r", "path": ["r"],
            "group": null, "parent": null, "state": "done", "result": "fail",
            "artifacts": {}, "data": {"fail_node": other, "pass_node": other, "when": now},
            "debug": {}, "jobfilter": null, "platform_filter": [], "created": now,
            "updated": now, "timeout": now, "holdoff": null, "owner": "admin",
            "submitter": null, "treeid": null, "user_groups": [],
            "processed_by_kcidb_bridge": false, "retry_counter": Bson::Int32(1),
        })
        .await
        .unwrap();
    let found = s
        .find_nodes(&filter(&[("kind", "regression")]), 0, None)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let n = &found[0];
    assert_eq!(n.id_str(), id.to_hex());
    assert_eq!(n.retry_counter, 1);
    assert_eq!(n.data.as_ref().unwrap()["fail_node"], json!(other.to_hex()));
    // Replacing it drops the redundant top-level `id`.
    s.write_nodes(vec![NodeWrite::Replace(n.clone())])
        .await
        .unwrap();
    let stored = s.nodes.find_one(doc! {"_id": id}).await.unwrap().unwrap();
    assert!(!stored.contains_key("id"));
    s.drop_database().await.unwrap();
}

async fn atomic_batches(s: &MongoStore) {
    let a = node("checkout", "a", None);
    let b = node("kbuild", "b", Some(&a));
    s.write_nodes(vec![
        NodeWrite::Insert(a.clone()),
        NodeWrite::Insert(b.clone()),
    ])
    .await
    .unwrap();

    let c = node("kbuild", "c", Some(&a));
    let err = s
        .write_nodes(vec![
            NodeWrite::Insert(c.clone()),
            NodeWrite::Insert(a.clone()),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.get_node(c.id.as_ref().unwrap()).await.unwrap(), None);

    let mut a2 = a.clone();
    a2.state = NodeState::Done;
    let ghost = node("test", "ghost", None);
    let err = s
        .write_nodes(vec![
            NodeWrite::Replace(a2.clone()),
            NodeWrite::Replace(ghost.clone()),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(
        s.get_node(a.id.as_ref().unwrap()).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(s.get_node(ghost.id.as_ref().unwrap()).await.unwrap(), None);

    let err = s
        .write_nodes(vec![
            NodeWrite::Insert(c.clone()),
            NodeWrite::Insert(c.clone()),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.get_node(c.id.as_ref().unwrap()).await.unwrap(), None);

    let mut c2 = c.clone();
    c2.state = NodeState::Available;
    s.write_nodes(vec![
        NodeWrite::Insert(c.clone()),
        NodeWrite::Replace(c2.clone()),
        NodeWrite::Replace(a2.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(s.get_node(c.id.as_ref().unwrap()).await.unwrap(), Some(c2));
    assert_eq!(s.get_node(a.id.as_ref().unwrap()).await.unwrap(), Some(a2));
    assert_eq!(s.count_nodes(&Filter::default()).await.unwrap(), 3);
    s.write_nodes(Vec::new()).await.unwrap();
}

#[tokio::test]
async fn node_batches_are_all_or_nothing_in_transactions() {
    let Some(s) = store("txn").await else { return };
    atomic_batches(&s).await;
    assert!(
        !s.no_transactions.load(Ordering::Relaxed),
        "fell back to undo"
    );
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn node_batches_are_all_or_nothing_without_transactions() {
    let Some(s) = store("undo").await else { return };
    s.disable_transactions();
    atomic_batches(&s).await;
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn concurrent_batches_on_one_node_all_land() {
    let Some(s) = store("conflicts").await else {
        return;
    };
    let s = Arc::new(s);
    let base = node("checkout", "shared", None);
    s.write_nodes(vec![NodeWrite::Insert(base.clone())])
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8_i64)
        .map(|task| {
            let (s, base) = (Arc::clone(&s), base.clone());
            tokio::spawn(async move {
                for round in 0..10 {
                    let mut n = base.clone();
                    n.retry_counter = task * 100 + round;
                    let child = node("kbuild", &format!("k{task}-{round}"), Some(&base));
                    s.write_nodes(vec![NodeWrite::Replace(n), NodeWrite::Insert(child)])
                        .await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        s.count_nodes(&filter(&[("kind", "kbuild")])).await.unwrap(),
        80
    );
    s.drop_database().await.unwrap();
}

fn user(name: &str, email: &str) -> StoredUser {
    StoredUser {
        id: new_id(),
        email: email.into(),
        hashed_password: "$argon2id$v=19$x".into(),
        is_active: true,
        is_superuser: false,
        is_verified: false,
        username: name.into(),
        groups: Vec::new(),
    }
}

#[tokio::test]
async fn users_and_groups() {
    let Some(s) = store("users").await else {
        return;
    };
    let group = UserGroup {
        id: new_id(),
        name: "team-a".into(),
    };
    s.insert_group(&group).await.unwrap();
    let dup = UserGroup {
        id: new_id(),
        name: "team-a".into(),
    };
    assert!(matches!(
        s.insert_group(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.find_group_by_name("team-a").await.unwrap(),
        Some(group.clone())
    );
    assert_eq!(s.find_group_by_name("team-b").await.unwrap(), None);

    let mut alice = user("alice", "Alice@Example.org");
    s.insert_user(&alice).await.unwrap();
    assert_eq!(
        s.find_user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        s.find_user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.find_user_by_username("Alice").await.unwrap(), None);
    for (taken, key) in [
        (user("alice", "username@example.org"), "username"),
        (user("alice2", "alice@example.ORG"), "email"),
    ] {
        match s.insert_user(&taken).await {
            Err(StoreError::Conflict(msg)) => assert!(msg.starts_with(key), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    alice.groups = vec![UserGroupRef {
        id: group.id.to_string(),
        name: group.name.clone(),
    }];
    alice.is_verified = true;
    s.update_user(
        &alice,
        &s.find_user_by_id(&alice.id).await.unwrap().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.find_user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert!(matches!(
        s.update_user(&user("ghost", "g@x.org"), &user("ghost", "g@x.org"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let mut bob = user("bob", "bob@example.org");
    s.insert_user(&bob).await.unwrap();
    bob.username = "alice".into();
    assert!(matches!(
        s.update_user(&bob, &s.find_user_by_id(&bob.id).await.unwrap().unwrap())
            .await,
        Err(StoreError::Conflict(_))
    ));
    bob.username = "bob".into();
    bob.email = "ALICE@example.org".into();
    assert!(matches!(
        s.update_user(&bob, &s.find_user_by_id(&bob.id).await.unwrap().unwrap())
            .await,
        Err(StoreError::Conflict(_))
    ));

    // A user as Beanie stores it: `_id` inside group entries, Beanie's `revision_id`.
    let id = ObjectId::new();
    let gid = ObjectId::parse_str(group.id.as_str()).unwrap();
    s.users
        .insert_one(doc! {
            "_id": id, "revision_id": null, "email": "carol@example.org",
            "hashed_password": "h", "is_active": true, "is_superuser": true,
            "is_verified": true, "username": "carol", "groups": [{"_id": gid, "name": "team-a"}],
        })
        .await
        .unwrap();
    let carol = s.find_user_by_username("carol").await.unwrap().unwrap();
    assert_eq!(carol.id.as_str(), id.to_hex());
    assert_eq!(carol.groups, alice.groups);
    s.drop_database().await.unwrap();
}

#[tokio::test]
async fn indexes_are_idempotent_and_accept_equivalents_under_other_names() {
    let Some(uri) = uri() else {
        eprintln!("skipping index test: MAESTRO_TEST_MONGODB_URI is not set");
        return;
    };
    let name = db_name("indexes");
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let node = client.database(&name).collection::<Document>("node");
    for (keys, index_name) in [
        (doc! {"parent": 1}, "by_parent"),
        (doc! {"kind": 1, "created": 1}, "kind_created"),
    ] {
        let options = IndexOptions::builder().name(index_name.to_owned()).build();
        node.create_index(IndexModel::builder().keys(keys).options(options).build())
            .await
            .unwrap();
    }
    let user = client.database(&name).collection::<Document>("user");
    let options = IndexOptions::builder()
        .name("uname".to_owned())
        .unique(true)
        .build();
    user.create_index(
        IndexModel::builder()
            .keys(doc! {"username": 1})
            .options(options)
            .build(),
    )
    .await
    .unwrap();

    let first = MongoStore::connect(&uri, &name).await.unwrap();
    let second = MongoStore::connect(&uri, &name).await.unwrap();
    let indexes = node.list_index_names().await.unwrap();
    assert!(indexes.contains(&"by_parent".to_owned()), "{indexes:?}");
    assert!(!indexes.contains(&"parent_1".to_owned()), "{indexes:?}");
    assert!(
        indexes.contains(&"state_1_timeout_1__id_1".to_owned()),
        "{indexes:?}"
    );
    drop(first);
    second.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_conflicting_unique_index_fails_startup() {
    let Some(uri) = uri() else {
        eprintln!("skipping index conflict test: MAESTRO_TEST_MONGODB_URI is not set");
        return;
    };
    let name = db_name("uconflict");
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let group = client.database(&name).collection::<Document>("usergroup");
    // Same name as the one we want, but not unique: the constraint would be missing.
    let options = IndexOptions::builder().name("name_1".to_owned()).build();
    group
        .create_index(
            IndexModel::builder()
                .keys(doc! {"name": 1})
                .options(options)
                .build(),
        )
        .await
        .unwrap();
    let err = MongoStore::connect(&uri, &name).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    client.database(&name).drop().await.unwrap();
}
