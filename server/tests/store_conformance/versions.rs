//! Conditional writes: a node or user record is replaced only while it is the version the
//! caller read; a rename carries the account's nodes; a group that nodes name stays.

use maestro_common::{Filter, FilterValue, NodeState, Timestamp, UserGroupRef};
use maestro_server::store::{GroupDeletion, NodeWrite, Store, StoreError, StoredUser, UserGroup};

use crate::support::{assert_not_found, get, id_of, insert, insert_one, new_id, node};

fn assert_stale<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Stale(_))),
        "{what}: expected Stale, got {result:?}"
    );
}

fn account(username: &str) -> StoredUser {
    StoredUser {
        id: new_id(),
        email: format!("{username}@example.org"),
        hashed_password: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${username}"),
        is_active: true,
        is_superuser: false,
        is_verified: true,
        username: username.to_owned(),
        groups: Vec::new(),
    }
}

async fn owned_by(store: &dyn Store, owner: &str) -> Vec<String> {
    let f = Filter::eq("owner", FilterValue::Str(owner.to_owned()));
    let mut names: Vec<String> = store
        .find_nodes(&f, 0, None)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    names.sort();
    names
}

pub async fn conditional_update_applies_only_to_the_version_read(store: &dyn Store) {
    let mut original = node("job");
    original.owner = Some("alice".into());
    insert_one(store, &original).await;
    let read = get(store, &id_of(&original)).await.expect("stored");

    let mut first = read.clone();
    first.state = NodeState::Done;
    first.updated = Timestamp::next_after(read.updated);
    store
        .write_nodes(vec![NodeWrite::update(first.clone(), &read)])
        .await
        .expect("the first writer of a version wins");

    // A second writer that read the same version loses, and writes nothing: neither its
    // node nor the other writes of its batch.
    let mut second = read.clone();
    second.result = Some(maestro_common::NodeResult::Fail);
    second.updated = Timestamp::next_after(read.updated);
    let bystander = node("new-in-the-same-batch");
    assert_stale(
        store
            .write_nodes(vec![
                NodeWrite::Insert(bystander.clone()),
                NodeWrite::update(second, &read),
            ])
            .await,
        "an update of a version that was replaced",
    );
    assert_eq!(get(store, &id_of(&original)).await, Some(first.clone()));
    assert_eq!(get(store, &id_of(&bystander)).await, None);

    // Built on the current version, it goes through.
    let mut third = first.clone();
    third.result = Some(maestro_common::NodeResult::Pass);
    third.updated = Timestamp::next_after(first.updated);
    store
        .write_nodes(vec![NodeWrite::update(third.clone(), &first)])
        .await
        .expect("an update of the current version");
    assert_eq!(get(store, &id_of(&original)).await, Some(third));

    let ghost = node("ghost");
    assert_not_found(
        store
            .write_nodes(vec![NodeWrite::update(ghost.clone(), &ghost)])
            .await,
        "a conditional update of a missing node",
    );
}

pub async fn a_rename_carries_the_accounts_nodes(store: &dyn Store) {
    let alice = account("alice");
    store.insert_user(&alice).await.unwrap();
    let mut nodes = Vec::new();
    for (name, owner) in [("a1", "alice"), ("a2", "alice"), ("b1", "bob")] {
        let mut n = node(name);
        n.owner = Some(owner.into());
        nodes.push(n);
    }
    insert(store, &nodes).await;
    // Read before the rename: its conditional write must not bring the old owner back.
    let before_rename = get(store, &id_of(&nodes[0])).await.unwrap();

    let mut renamed = alice.clone();
    renamed.username = "carol".into();
    store.update_user(&renamed, &alice).await.expect("rename");
    assert_eq!(owned_by(store, "carol").await, ["a1", "a2"]);
    assert!(owned_by(store, "alice").await.is_empty());
    assert_eq!(owned_by(store, "bob").await, ["b1"]);
    let moved = get(store, &id_of(&nodes[0])).await.unwrap();
    assert_eq!(moved.owner.as_deref(), Some("carol"));
    assert_eq!(moved.updated, before_rename.updated);

    let mut late = before_rename.clone();
    late.state = NodeState::Done;
    late.updated = Timestamp::next_after(before_rename.updated);
    assert_stale(
        store
            .write_nodes(vec![NodeWrite::update(late, &before_rename)])
            .await,
        "an update read before the owner changed",
    );
    assert_eq!(get(store, &id_of(&nodes[0])).await, Some(moved));
}

pub async fn a_user_update_applies_only_to_the_record_read(store: &dyn Store) {
    let team = UserGroup {
        id: new_id(),
        name: "team".into(),
    };
    store.insert_group(&team).await.unwrap();
    let mut read = account("dave");
    read.groups = vec![
        UserGroupRef {
            id: team.id.to_string(),
            name: team.name.clone(),
        },
        UserGroupRef {
            id: new_id().to_string(),
            name: "other".into(),
        },
    ];
    store.insert_user(&read).await.unwrap();

    let mut first = read.clone();
    first.email = "dave@kernelci.org".into();
    store.update_user(&first, &read).await.expect("first");

    let mut second = read.clone();
    second.is_active = false;
    assert_stale(
        store.update_user(&second, &read).await,
        "an update of a replaced record",
    );
    // A record that differs only in its groups is another version too.
    let mut fewer_groups = first.clone();
    fewer_groups.groups.clear();
    let mut third = first.clone();
    third.is_active = false;
    assert_stale(
        store.update_user(&third, &fewer_groups).await,
        "an update expecting other groups",
    );
    assert_eq!(store.find_user_by_id(&read.id).await.unwrap(), Some(first));
}

pub async fn a_group_that_nodes_name_is_not_deleted(store: &dyn Store) {
    let group = UserGroup {
        id: new_id(),
        name: "lab-x".into(),
    };
    store.insert_group(&group).await.unwrap();
    let mut n = node("job");
    n.user_groups = vec!["lab-x".into()];
    // A name that merely contains the group's name does not count.
    let mut near = node("near");
    near.user_groups = vec!["lab-x2".into()];
    insert(store, &[n, near]).await;
    assert_eq!(
        store.delete_group_if_unused(&group.id).await.unwrap(),
        GroupDeletion::NamedByNodes
    );
    assert!(store.find_group_by_name("lab-x").await.unwrap().is_some());

    let other = UserGroup {
        id: new_id(),
        name: "lab".into(),
    };
    store.insert_group(&other).await.unwrap();
    assert_eq!(
        store.delete_group_if_unused(&other.id).await.unwrap(),
        GroupDeletion::Deleted
    );
}
