//! User and user-group cases: lookups, unique usernames, case-insensitive unique emails.

use maestro_common::UserGroupRef;
use maestro_server::store::{Store, StoredUser, UserGroup};

use crate::support::{assert_conflict, assert_not_found, new_id};

fn user(username: &str, email: &str) -> StoredUser {
    StoredUser {
        id: new_id(),
        email: email.to_owned(),
        hashed_password: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${username}"),
        is_active: true,
        is_superuser: false,
        is_verified: false,
        username: username.to_owned(),
        groups: Vec::new(),
    }
}

async fn by_name(store: &dyn Store, username: &str) -> Option<StoredUser> {
    store
        .find_user_by_username(username)
        .await
        .expect("find_user_by_username")
}

pub async fn users_insert_and_find(store: &dyn Store) {
    let mut alice = user("alice", "Alice@Example.org");
    alice.is_superuser = true;
    alice.is_verified = true;
    alice.groups = vec![
        UserGroupRef {
            id: new_id().to_string(),
            name: "team-b".into(),
        },
        UserGroupRef {
            id: new_id().to_string(),
            name: "node:edit:any".into(),
        },
    ];
    let mut bob = user("bob", "bob@example.org");
    bob.is_active = false;
    store.insert_user(&alice).await.expect("insert alice");
    store.insert_user(&bob).await.expect("insert bob");

    assert_eq!(
        store.find_user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.find_user_by_id(&bob.id).await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(by_name(store, "alice").await, Some(alice));
    assert_eq!(by_name(store, "bob").await, Some(bob));
    assert_eq!(store.find_user_by_id(&new_id()).await.unwrap(), None);
    assert_eq!(by_name(store, "nobody").await, None);
    assert_eq!(
        by_name(store, "Alice").await,
        None,
        "usernames match exactly"
    );
    assert_eq!(
        by_name(store, "alice@example.org").await,
        None,
        "not a lookup by email"
    );
}

pub async fn users_unique_username_and_email(store: &dyn Store) {
    let alice = user("alice", "alice@example.org");
    store.insert_user(&alice).await.expect("insert alice");

    let same_name = user("alice", "other@example.org");
    assert_conflict(store.insert_user(&same_name).await, "duplicate username");
    let same_email = user("carol", "ALICE@Example.ORG");
    assert_conflict(
        store.insert_user(&same_email).await,
        "duplicate email in another case",
    );
    assert_eq!(store.find_user_by_id(&same_name.id).await.unwrap(), None);
    assert_eq!(by_name(store, "carol").await, None);
    assert_eq!(by_name(store, "alice").await, Some(alice));

    let dave = user("dave", "dave@example.org");
    store
        .insert_user(&dave)
        .await
        .expect("distinct username and email");
    let upper = user("Dave", "dave2@example.org");
    store
        .insert_user(&upper)
        .await
        .expect("usernames are case-sensitive");
    assert_eq!(by_name(store, "Dave").await, Some(upper));
}

pub async fn update_user(store: &dyn Store) {
    let alice = user("alice", "alice@example.org");
    let bob = user("bob", "bob@example.org");
    store.insert_user(&alice).await.unwrap();
    store.insert_user(&bob).await.unwrap();

    let mut changed = alice.clone();
    changed.email = "alice@kernelci.org".to_owned();
    changed.hashed_password = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$new".to_owned();
    changed.is_superuser = true;
    changed.is_verified = true;
    changed.groups = vec![UserGroupRef {
        id: new_id().to_string(),
        name: "team-a".into(),
    }];
    store
        .update_user(
            &changed,
            &store.find_user_by_id(&changed.id).await.unwrap().unwrap(),
        )
        .await
        .expect("update alice");
    assert_eq!(
        store.find_user_by_id(&alice.id).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(by_name(store, "alice").await, Some(changed.clone()));

    let mut recased = changed.clone();
    recased.email = "Alice@KernelCI.org".to_owned();
    store
        .update_user(&recased, &changed)
        .await
        .expect("a user does not conflict with itself");
    assert_eq!(by_name(store, "alice").await, Some(recased.clone()));

    let mut renamed = recased.clone();
    renamed.username = "alice2".to_owned();
    store
        .update_user(
            &renamed,
            &store.find_user_by_id(&renamed.id).await.unwrap().unwrap(),
        )
        .await
        .expect("rename alice");
    assert_eq!(by_name(store, "alice").await, None);
    assert_eq!(by_name(store, "alice2").await, Some(renamed.clone()));

    let mut taken_name = renamed.clone();
    taken_name.username = "bob".to_owned();
    assert_conflict(
        store
            .update_user(
                &taken_name,
                &store
                    .find_user_by_id(&taken_name.id)
                    .await
                    .unwrap()
                    .unwrap(),
            )
            .await,
        "update to a taken username",
    );
    let mut taken_email = renamed.clone();
    taken_email.email = "BOB@example.org".to_owned();
    assert_conflict(
        store
            .update_user(
                &taken_email,
                &store
                    .find_user_by_id(&taken_email.id)
                    .await
                    .unwrap()
                    .unwrap(),
            )
            .await,
        "update to a taken email",
    );
    assert_eq!(
        store.find_user_by_id(&alice.id).await.unwrap(),
        Some(renamed)
    );
    assert_eq!(by_name(store, "bob").await, Some(bob));

    let ghost = user("ghost", "ghost@example.org");
    assert_not_found(
        store.update_user(&ghost, &ghost).await,
        "update of a missing user",
    );
    assert_eq!(by_name(store, "ghost").await, None);
}

pub async fn groups_insert_and_find(store: &dyn Store) {
    let team = UserGroup {
        id: new_id(),
        name: "team-a".to_owned(),
    };
    let admins = UserGroup {
        id: new_id(),
        name: "runtime:lava-collabora:node-admin".to_owned(),
    };
    store.insert_group(&team).await.expect("insert team-a");
    store
        .insert_group(&admins)
        .await
        .expect("insert a runtime group");

    let found = store.find_group_by_name("team-a").await.unwrap();
    assert_eq!(found, Some(team.clone()));
    let found = store.find_group_by_name(&admins.name).await.unwrap();
    assert_eq!(found, Some(admins));
    assert_eq!(store.find_group_by_name("team-b").await.unwrap(), None);

    let duplicate = UserGroup {
        id: new_id(),
        name: "team-a".to_owned(),
    };
    assert_conflict(store.insert_group(&duplicate).await, "duplicate group name");
    assert_eq!(
        store.find_group_by_name("team-a").await.unwrap(),
        Some(team)
    );

    let upper = UserGroup {
        id: new_id(),
        name: "Team-A".to_owned(),
    };
    store
        .insert_group(&upper)
        .await
        .expect("group names are case-sensitive");
    assert_eq!(
        store.find_group_by_name("Team-A").await.unwrap(),
        Some(upper)
    );
}

fn group_ref(g: &UserGroup) -> UserGroupRef {
    UserGroupRef {
        id: g.id.to_string(),
        name: g.name.clone(),
    }
}

pub async fn users_listing_filters_and_deletion(store: &dyn Store) {
    use maestro_server::store::UserFilter;
    let team = UserGroup {
        id: new_id(),
        name: "team-a".into(),
    };
    store.insert_group(&team).await.unwrap();
    let mut alice = user("alice", "Alice@Example.org");
    alice.is_superuser = true;
    alice.is_verified = true;
    alice.groups = vec![group_ref(&team)];
    let mut bob = user("bob", "bob@example.org");
    bob.is_active = false;
    let carol = user("carol", "carol@example.org");
    for u in [&alice, &bob, &carol] {
        store.insert_user(u).await.unwrap();
    }
    let names = |users: Vec<StoredUser>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();

    let (all, total) = store.list_users(&[], 0, 50).await.unwrap();
    assert_eq!(
        (names(all), total),
        (vec!["alice".to_owned(), "bob".into(), "carol".into()], 3)
    );
    let (page, total) = store.list_users(&[], 1, 1).await.unwrap();
    assert_eq!((names(page), total), (vec!["bob".to_owned()], 3));
    let cases: Vec<(Vec<UserFilter>, Vec<&str>)> = vec![
        (vec![UserFilter::Username("carol".into())], vec!["carol"]),
        (vec![UserFilter::IsActive(false)], vec!["bob"]),
        (vec![UserFilter::IsSuperuser(true)], vec!["alice"]),
        (vec![UserFilter::IsVerified(false)], vec!["bob", "carol"]),
        (vec![UserFilter::Group("team-a".into())], vec!["alice"]),
        (
            vec![UserFilter::Email("bob@example.org".into())],
            vec!["bob"],
        ),
        // Filters are exact, as in the Python server; only lookups ignore the email's case.
        (vec![UserFilter::Email("alice@example.org".into())], vec![]),
        (
            vec![UserFilter::IsActive(true), UserFilter::IsSuperuser(false)],
            vec!["carol"],
        ),
    ];
    for (filters, want) in cases {
        let (users, total) = store.list_users(&filters, 0, 50).await.unwrap();
        assert_eq!(names(users), want, "{filters:?}");
        assert_eq!(total, want.len() as u64, "{filters:?}");
    }

    let found = store.find_user_by_email("ALICE@example.ORG").await.unwrap();
    assert_eq!(found.map(|u| u.username), Some("alice".to_owned()));
    assert_eq!(
        store
            .find_user_by_email("nobody@example.org")
            .await
            .unwrap(),
        None
    );

    assert!(store.delete_user(&bob.id).await.unwrap());
    assert!(!store.delete_user(&bob.id).await.unwrap());
    assert_eq!(store.find_user_by_id(&bob.id).await.unwrap(), None);
    assert_eq!(store.list_users(&[], 0, 50).await.unwrap().1, 2);
}

pub async fn groups_listing_and_deletion_when_unused(store: &dyn Store) {
    use maestro_server::store::GroupDeletion;
    let groups: Vec<UserGroup> = ["a", "b", "c"]
        .iter()
        .map(|n| UserGroup {
            id: new_id(),
            name: (*n).to_owned(),
        })
        .collect();
    for g in &groups {
        store.insert_group(g).await.unwrap();
    }
    let (all, total) = store.list_groups(None, 0, 50).await.unwrap();
    assert_eq!((all.clone(), total), (groups.clone(), 3));
    assert_eq!(
        store.list_groups(None, 2, 5).await.unwrap(),
        (vec![groups[2].clone()], 3)
    );
    assert_eq!(
        store.list_groups(Some("b"), 0, 5).await.unwrap(),
        (vec![groups[1].clone()], 1)
    );
    assert_eq!(
        store.find_group_by_id(&groups[0].id).await.unwrap(),
        Some(groups[0].clone())
    );
    assert_eq!(store.find_group_by_id(&new_id()).await.unwrap(), None);

    let mut member = user("member", "member@example.org");
    member.groups = vec![group_ref(&groups[1])];
    store.insert_user(&member).await.unwrap();
    assert_eq!(
        store.delete_group_if_unused(&groups[1].id).await.unwrap(),
        GroupDeletion::InUse
    );
    assert_eq!(
        store.delete_group_if_unused(&groups[0].id).await.unwrap(),
        GroupDeletion::Deleted
    );
    assert_eq!(
        store.delete_group_if_unused(&groups[0].id).await.unwrap(),
        GroupDeletion::NotFound
    );
    member.groups.clear();
    store
        .update_user(
            &member,
            &store.find_user_by_id(&member.id).await.unwrap().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.delete_group_if_unused(&groups[1].id).await.unwrap(),
        GroupDeletion::Deleted
    );
    assert_eq!(store.list_groups(None, 0, 50).await.unwrap().1, 1);
}
