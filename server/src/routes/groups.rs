//! User groups (superusers only): `GET/POST /user-groups`, `GET/DELETE /user-groups/{id}`.
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use maestro_common::UserGroupRef;
use serde::Serialize;

use super::nodes::page_param;
use crate::auth::SuperUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{from_body, json_body, query_pairs};
use crate::nodes::ops::{new_id, parse_id};
use crate::state::AppState;
use crate::store::{GroupDeletion, StoreError, UserGroup};

/// Default page size of `/user-groups`, as `/nodes`.
const DEFAULT_LIMIT: u64 = 50;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/user-groups", get(list_groups).post(create_group))
        .route("/user-groups/{id}", get(get_group).delete(delete_group))
}

/// One page of `GET /user-groups`.
#[derive(Serialize)]
struct GroupPage {
    items: Vec<UserGroupRef>,
    total: u64,
    limit: u64,
    offset: u64,
}

/// The body of `POST /user-groups`.
#[derive(eserde::Deserialize)]
struct NewGroup {
    name: String,
}

fn group_out(g: UserGroup) -> UserGroupRef {
    UserGroupRef {
        id: g.id.to_string(),
        name: g.name,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("User group not found with id: {id}"))
}

fn name_taken(name: &str) -> ApiError {
    ApiError::BadRequest(format!("User group already exists with name: {name}"))
}

async fn list_groups(
    State(state): State<AppState>,
    _: SuperUser,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<GroupPage>> {
    // Repeated keys: the last one counts, as in Starlette's `dict(request.query_params)`.
    let (mut limit, mut offset, mut name) = (None, None, None);
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "limit" => limit = Some(v),
            "offset" => offset = Some(v),
            "name" => name = Some(v),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unsupported filter for user groups: {other} (only name)"
                )));
            }
        }
    }
    let limit = page_param("limit", limit.as_deref(), 1, DEFAULT_LIMIT)?;
    let offset = page_param("offset", offset.as_deref(), 0, 0)?;
    let (groups, total) = state
        .store
        .list_groups(name.as_deref(), offset, limit)
        .await?;
    Ok(Json(GroupPage {
        items: groups.into_iter().map(group_out).collect(),
        total,
        limit,
        offset,
    }))
}

async fn get_group(
    State(state): State<AppState>,
    _: SuperUser,
    Path(id): Path<String>,
) -> ApiResult<Json<UserGroupRef>> {
    let oid = parse_id(&id)?;
    let group = state
        .store
        .find_group_by_id(&oid)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(group_out(group)))
}

async fn create_group(
    State(state): State<AppState>,
    _: SuperUser,
    body: Bytes,
) -> ApiResult<Json<UserGroupRef>> {
    let NewGroup { name } = from_body(json_body(&body)?, &["body"])?;
    if state.store.find_group_by_name(&name).await?.is_some() {
        return Err(name_taken(&name));
    }
    let group = UserGroup { id: new_id(), name };
    match state.store.insert_group(&group).await {
        Ok(()) => Ok(Json(group_out(group))),
        // Created by a concurrent request since the check above.
        Err(StoreError::Conflict(_)) => Err(name_taken(&group.name)),
        Err(e) => Err(e.into()),
    }
}

async fn delete_group(
    State(state): State<AppState>,
    _: SuperUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let oid = parse_id(&id)?;
    match state.store.delete_group_if_unused(&oid).await? {
        GroupDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        GroupDeletion::NotFound => Err(not_found(&id)),
        GroupDeletion::InUse => Err(ApiError::Conflict(
            "User group is assigned to users and cannot be deleted. Remove it from users first."
                .into(),
        )),
        // Its name would be free again, and a new group of that name would give its
        // members edit rights on these nodes.
        GroupDeletion::NamedByNodes => Err(ApiError::Conflict(
            "User group is named in the user_groups of nodes and cannot be deleted.".into(),
        )),
    }
}
