//! The SQLite store's users and groups: the row format of a user record and the writes and
//! queries of users and groups that are more than a lookup by key.
use maestro_common::UserGroupRef;
use maestro_common::node::ObjectIdHex;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{backend, is_unique_violation, node_write};
use crate::store::{GroupDeletion, StoreError, StoreResult, StoredUser, UserFilter, UserGroup};

/// The user record as kept in the `doc` column.
#[derive(Serialize, Deserialize)]
struct UserDoc {
    email: String,
    hashed_password: String,
    is_active: bool,
    is_superuser: bool,
    is_verified: bool,
    username: String,
    groups: Vec<UserGroupRef>,
}

pub(super) fn user_from_row(id: &str, doc: &str) -> StoreResult<StoredUser> {
    let d: UserDoc = serde_json::from_str(doc).map_err(backend)?;
    Ok(StoredUser {
        id: ObjectIdHex::parse(id).map_err(|e| StoreError::Backend(e.into()))?,
        email: d.email,
        hashed_password: d.hashed_password,
        is_active: d.is_active,
        is_superuser: d.is_superuser,
        is_verified: d.is_verified,
        username: d.username,
        groups: d.groups,
    })
}

pub(super) fn group_from_row(id: &str, name: String) -> StoreResult<UserGroup> {
    Ok(UserGroup {
        id: ObjectIdHex::parse(id).map_err(|e| StoreError::Backend(e.into()))?,
        name,
    })
}

fn user_doc(u: &StoredUser) -> StoreResult<String> {
    serde_json::to_string(&UserDoc {
        email: u.email.clone(),
        hashed_password: u.hashed_password.clone(),
        is_active: u.is_active,
        is_superuser: u.is_superuser,
        is_verified: u.is_verified,
        username: u.username.clone(),
        groups: u.groups.clone(),
    })
    .map_err(backend)
}

fn user_conflict(e: rusqlite::Error, u: &StoredUser) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(format!(
            "username '{}' or email '{}' is taken",
            u.username, u.email
        ))
    } else {
        backend(e)
    }
}

pub(super) fn insert_user(tx: &Connection, u: &StoredUser) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO user (id, username, email, doc) VALUES (?, ?, ?, ?)",
        params![u.id.as_str(), u.username, u.email, user_doc(u)?],
    )
    .map_err(|e| user_conflict(e, u))?;
    Ok(())
}

/// Replaces the user `expected` by `u`, only while the stored record is `expected`; a rename
/// moves the ownership of the user's nodes with it.
pub(super) fn update_user(
    tx: &Connection,
    u: &StoredUser,
    expected: &StoredUser,
) -> StoreResult<()> {
    // Compare-and-set on the whole record, in the writer's transaction.
    let stored: Option<String> = tx
        .query_row("SELECT doc FROM user WHERE id = ?", [u.id.as_str()], |r| {
            r.get(0)
        })
        .optional()
        .map_err(backend)?;
    let Some(stored) = stored else {
        return Err(StoreError::NotFound(format!("user {}", u.id)));
    };
    if user_from_row(u.id.as_str(), &stored)? != *expected {
        return Err(StoreError::Stale(format!("user {}", u.id)));
    }
    tx.execute(
        "UPDATE user SET username = ?, email = ?, doc = ? WHERE id = ?",
        params![u.username, u.email, user_doc(u)?, u.id.as_str()],
    )
    .map_err(|e| user_conflict(e, u))?;
    if u.username != expected.username {
        node_write::transfer_ownership(tx, &expected.username, &u.username)?;
    }
    Ok(())
}

/// A page of users matching every filter, and how many match in all.
pub(super) struct ListQuery {
    count_sql: String,
    page_sql: String,
    args: Vec<rusqlite::types::Value>,
    page_args: Vec<rusqlite::types::Value>,
}

impl ListQuery {
    pub(super) fn new(filters: &[UserFilter], offset: u64, limit: u64) -> Self {
        use rusqlite::types::Value as V;
        let mut clauses = vec!["1".to_owned()];
        let mut args: Vec<V> = Vec::new();
        for f in filters {
            let (clause, arg) = match f {
                UserFilter::Username(u) => ("username = ?", V::Text(u.clone())),
                UserFilter::Email(e) => ("email = ? COLLATE BINARY", V::Text(e.clone())),
                UserFilter::IsActive(b) => (
                    "json_extract(doc, '$.is_active') = ?",
                    V::Integer(i64::from(*b)),
                ),
                UserFilter::IsSuperuser(b) => (
                    "json_extract(doc, '$.is_superuser') = ?",
                    V::Integer(i64::from(*b)),
                ),
                UserFilter::IsVerified(b) => (
                    "json_extract(doc, '$.is_verified') = ?",
                    V::Integer(i64::from(*b)),
                ),
                UserFilter::Group(g) => (
                    "EXISTS (SELECT 1 FROM json_each(doc, '$.groups') g WHERE json_extract(g.value, '$.name') = ?)",
                    V::Text(g.clone()),
                ),
            };
            clauses.push(clause.to_owned());
            args.push(arg);
        }
        let clause = clauses.join(" AND ");
        let page_sql =
            format!("SELECT id, doc FROM user WHERE {clause} ORDER BY id LIMIT ? OFFSET ?");
        let count_sql = format!("SELECT count(*) FROM user WHERE {clause}");
        let mut page_args = args.clone();
        page_args.push(V::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        page_args.push(V::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        Self {
            count_sql,
            page_sql,
            args,
            page_args,
        }
    }

    pub(super) fn run(self, c: &Connection) -> StoreResult<(Vec<StoredUser>, u64)> {
        let Self {
            count_sql,
            page_sql,
            args,
            page_args,
        } = self;
        let total: i64 = c
            .prepare_cached(&count_sql)
            .and_then(|mut s| s.query_row(rusqlite::params_from_iter(args), |r| r.get(0)))
            .map_err(backend)?;
        let mut stmt = c.prepare_cached(&page_sql).map_err(backend)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(page_args), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(backend)?;
        let users = rows
            .map(|row| {
                let (id, doc) = row.map_err(backend)?;
                user_from_row(&id, &doc)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((users, u64::try_from(total).unwrap_or(0)))
    }
}

/// Deletes the group `id` unless a user is in it or a node still names it.
pub(super) fn delete_group_if_unused(tx: &Connection, id: &str) -> StoreResult<GroupDeletion> {
    let name: Option<String> = tx
        .query_row("SELECT name FROM usergroup WHERE id = ?", [&id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(backend)?;
    let Some(name) = name else {
        return Ok(GroupDeletion::NotFound);
    };
    let in_use: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM user, json_each(user.doc, '$.groups') g \
             WHERE json_extract(g.value, '$.name') = ?)",
            [&name],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if in_use {
        return Ok(GroupDeletion::InUse);
    }
    // A scan of every node's `user_groups`: group deletion is rare, and a group
    // name that nodes still carry must not be freed for a new group (its members
    // would gain edit rights on those nodes).
    // `instr` skips, without parsing, the documents that do not mention the name.
    let quoted = serde_json::to_string(&name).map_err(backend)?;
    let named: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM node WHERE instr(doc, ?2) > 0 AND EXISTS \
             (SELECT 1 FROM json_each(node.doc, '$.user_groups') g WHERE g.value = ?1))",
            params![name, quoted],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if named {
        return Ok(GroupDeletion::NamedByNodes);
    }
    tx.execute("DELETE FROM usergroup WHERE id = ?", [&id])
        .map_err(backend)?;
    Ok(GroupDeletion::Deleted)
}
