//! The node write paths: create, full replace, partial update, hierarchy and batch flag
//! updates, with the server-set fields and checks of kernelci-api.md sections 4.5 and 5.
use maestro_common::node::ObjectIdHex;
use maestro_common::{Node, NodeResult, NodeState, Timestamp};
use serde_json::{Map, Value};

use super::authz::may_edit;
use super::models::{check_data, model_for_kind, normalise_data};
use super::normal_url;
use crate::error::{ApiError, ApiResult};
use crate::events::NewEvent;
use crate::extract::{from_body_bytes, from_field, json_body};
use crate::store::{NodeWrite, SerialisedWrite, Store, StoreResult, StoredUser};

mod batch;
mod hierarchy;

pub use batch::batch_set;
pub use hierarchy::{HierarchyWritten, put_hierarchy};

/// How many times a node write that lost a race (the node changed between its read and its
/// conditional write) is run again, from a fresh read, before the client gets 409.
const STALE_RETRIES: u32 = 20;

/// Runs `attempt` (a whole read-check-write) until it does not lose a race, at most
/// [`STALE_RETRIES`] more times, pausing a random moment between runs so that contending
/// writers spread out.
pub(super) async fn retry_stale<T, F, Fut>(mut attempt: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    let mut round = 0;
    loop {
        match attempt().await {
            Err(ApiError::Stale(what)) if round < STALE_RETRIES => {
                tracing::debug!(%what, round, "conditional node write lost a race; retrying");
                let cap_ms = (1u64 << round.min(6)).min(64);
                let pause =
                    std::time::Duration::from_micros(rand::random::<u64>() % (cap_ms * 1000));
                tokio::time::sleep(pause).await;
                round += 1;
            }
            other => return other,
        }
    }
}

/// A fresh ObjectId, as MongoDB would assign it.
pub fn new_id() -> ObjectIdHex {
    // bson's ObjectId is always 24 lowercase hex characters.
    ObjectIdHex::parse(&bson::oid::ObjectId::new().to_hex()).unwrap_or_else(|_| unreachable!())
}

/// The event of a node change on channel `node`: owned by the node's owner, so that
/// non-promiscuous subscribers see their own nodes' events.
pub(super) fn node_event(node: &Node, previous: Option<&Node>, is_hierarchy: bool) -> NewEvent {
    let payload = maestro_common::event::NodeEvent::of(node, previous, is_hierarchy);
    NewEvent {
        channel: "node".to_owned(),
        owner: node.owner.clone().filter(|o| !o.is_empty()),
        data: payload.into_value(),
        treeid: node.treeid.clone(),
        attributes: Map::new(),
    }
}

/// The conditional replace of `stored` (the version read and checked) by `node`, with the
/// `updated` event of the change when `publish`: the one write of a single-node update,
/// shared by `PUT`, `PATCH` and the life-cycle rules (`crate::lifecycle`), so that every
/// path publishes the same event. `Stale` when the node changed since it was read. Returns
/// the node's JSON text as stored (the answer of `PUT` and `PATCH`).
pub(crate) async fn write_update(
    store: &dyn Store,
    node: &Node,
    stored: &Node,
    publish: bool,
) -> StoreResult<String> {
    let write = SerialisedWrite::new(NodeWrite::update(node.clone(), stored))?;
    let json = write.json().to_owned();
    store
        .write_serialised_with_event(
            vec![write],
            publish.then(|| node_event(node, Some(stored), false)),
        )
        .await?;
    Ok(json)
}

/// Parses a node id from a path; 400 with the Python server's message when malformed.
pub fn parse_id(raw: &str) -> ApiResult<ObjectIdHex> {
    ObjectIdHex::parse(raw).map_err(ApiError::BadRequest)
}

/// Validates `node.data` against its kind's model (writes that store it as given).
pub(super) fn check_kind_data(node: &Node) -> ApiResult<()> {
    match model_for_kind(&node.kind).map_err(ApiError::BadRequest)? {
        Some(model) => check_data(model, node.data.as_ref()).map_err(ApiError::BadRequest),
        None => Ok(()),
    }
}

/// Validates `node.data` against its kind's model and replaces it by its normalised form
/// (what hierarchy writes store).
pub(super) fn normalise_kind_data(node: &mut Node) -> ApiResult<()> {
    if let Some(model) = model_for_kind(&node.kind).map_err(ApiError::BadRequest)? {
        node.data = Some(normalise_data(model, node.data.take()).map_err(ApiError::BadRequest)?);
    }
    Ok(())
}

/// POST and PUT turn digit strings of `data.kernel_revision.version.*` into integers.
fn coerce_kernel_version(node: &mut Node) -> ApiResult<()> {
    let Some(version) = node
        .data
        .as_mut()
        .and_then(|d| d.get_mut("kernel_revision"))
        .and_then(|r| r.get_mut("version"))
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    for key in ["version", "patchlevel", "sublevel"] {
        if let Some(Value::String(s)) = version.get(key) {
            if s.is_empty() {
                continue;
            }
            let n: i64 = s.trim().parse().map_err(|_| {
                ApiError::BadRequest(format!("invalid literal for int() with base 10: '{s}'"))
            })?;
            version.insert(key.to_owned(), Value::from(n));
        }
    }
    Ok(())
}

/// Checks and normalises the artifact URLs (http or https, as pydantic's `AnyHttpUrl`).
pub(super) fn normalise_artifacts(
    artifacts: &mut Option<Map<String, Value>>,
) -> Result<(), String> {
    let Some(map) = artifacts else { return Ok(()) };
    for (name, value) in map.iter_mut() {
        match value.as_str().and_then(normal_url::normalise) {
            Some(url) if url.http_with_host => {
                if let Some(text) = url.changed {
                    *value = Value::String(text);
                }
            }
            _ => {
                return Err(format!(
                    "artifacts.{name}: Input should be a valid URL with scheme http or https"
                ));
            }
        }
    }
    Ok(())
}

fn check_unique_groups(groups: &[String]) -> ApiResult<()> {
    let mut seen = std::collections::HashSet::new();
    if groups.iter().all(|g| seen.insert(g)) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            &["body", "user_groups"],
            "Value error, Groups must have unique names.",
            "value_error",
            Value::Null,
        ))
    }
}

/// Parses a request body into a node the way the request layer does (422 on failure).
fn node_from_body(body: &[u8], loc: &[&str]) -> ApiResult<Node> {
    let mut node: Node = from_body_bytes(body, loc)?;
    normalise_artifacts(&mut node.artifacts).map_err(|msg| {
        ApiError::unprocessable(
            &[loc, &["artifacts"]].concat(),
            msg,
            "url_parsing",
            Value::Null,
        )
    })?;
    check_unique_groups(&node.user_groups)?;
    Ok(node)
}

/// Loads a node that the user wants to change: 400 bad id, 404 missing, 401 not allowed.
pub async fn load_editable(store: &dyn Store, user: &StoredUser, raw_id: &str) -> ApiResult<Node> {
    let id = parse_id(raw_id)?;
    let node = store
        .get_node(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Node not found with id: {id}")))?;
    if !may_edit(user, &node) {
        return Err(ApiError::not_node_editor());
    }
    Ok(node)
}

/// `POST /node`: creates a node owned by the caller; the answer is its JSON text.
pub async fn create(store: &dyn Store, user: &StoredUser, body: &[u8]) -> ApiResult<String> {
    let mut node = node_from_body(body, &["body"])?;
    coerce_kernel_version(&mut node)?;
    check_kind_data(&node)?;
    if let Some(parent) = &node.parent
        && store.get_node(parent).await?.is_none()
    {
        return Err(ApiError::NotFound(format!(
            "Parent not found with id: {parent}"
        )));
    }
    for group in &node.user_groups {
        if store.find_group_by_name(group).await?.is_none() {
            return Err(ApiError::BadRequest(format!(
                "User group does not exist with name: {group}"
            )));
        }
    }
    if let Some(id) = &node.id {
        return Err(ApiError::BadRequest(format!(
            "Object cannot be created with id: {id}"
        )));
    }
    node.owner = Some(user.username.clone());
    node.id = Some(new_id());
    let event = node_event(&node, None, false);
    // The answer is the node as written, serialised once for the answer and the store.
    let write = SerialisedWrite::new(NodeWrite::Insert(node))?;
    let answer = write.json().to_owned();
    store
        .write_serialised_with_event(vec![write], Some(event))
        .await?;
    Ok(answer)
}

/// The KCIDB flag ends up true only when the state is unchanged, the stored value was
/// false and the request sets true; every other update makes the bridge send it again.
fn kcidb_flag(state_changed: bool, stored: bool, requested: bool) -> bool {
    !state_changed && requested != stored && requested
}

/// A node that names itself as parent is refused (400), as by the Python server.
pub(super) fn check_not_own_parent(node: &Node) -> ApiResult<()> {
    if node.parent.is_some() && node.parent == node.id {
        return Err(ApiError::BadRequest(
            "Parent cannot be the same as the object".into(),
        ));
    }
    Ok(())
}

fn check_transition(from: NodeState, to: NodeState) -> ApiResult<()> {
    if from.may_become(to) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Transition not allowed with state: {}",
            to.as_str()
        )))
    }
}

/// The result of an update: the node as stored, and what it was before.
pub struct Updated {
    /// The node after the update.
    pub node: Node,
    /// Its JSON text, as stored (the answer).
    pub json: String,
    /// The node before the update.
    pub previous: Node,
}

/// `PUT /node/{id}`: replaces every field but `owner`, `submitter` and `user_groups`.
pub async fn replace(
    store: &dyn Store,
    user: &StoredUser,
    raw_id: &str,
    body: &[u8],
    publish: bool,
) -> ApiResult<Updated> {
    retry_stale(|| replace_once(store, user, raw_id, body, publish)).await
}

/// One read-check-write of [`replace`]; `Stale` when the node changed meanwhile.
async fn replace_once(
    store: &dyn Store,
    user: &StoredUser,
    raw_id: &str,
    body: &[u8],
    publish: bool,
) -> ApiResult<Updated> {
    // Rights come before the body, as in the Python server (401/404 before 422).
    let stored = load_editable(store, user, raw_id).await?;
    let mut node = node_from_body(body, &["body"])?;
    coerce_kernel_version(&mut node)?;
    node.id = stored.id.clone();
    node.owner = stored.owner.clone();
    node.submitter = stored.submitter.clone();
    node.user_groups = stored.user_groups.clone();
    check_kind_data(&node)?;
    check_transition(stored.state, node.state)?;
    node.processed_by_kcidb_bridge = kcidb_flag(
        stored.state != node.state,
        stored.processed_by_kcidb_bridge,
        node.processed_by_kcidb_bridge,
    );
    check_not_own_parent(&node)?;
    node.updated = Timestamp::next_after(stored.updated);
    let json = write_update(store, &node, &stored, publish).await?;
    Ok(Updated {
        node,
        json,
        previous: stored,
    })
}

/// `PATCH /node/{id}`: sets the fields present in the body, each replacing the whole value.
pub async fn patch(
    store: &dyn Store,
    user: &StoredUser,
    raw_id: &str,
    body: &[u8],
    publish: bool,
) -> ApiResult<Updated> {
    retry_stale(|| patch_once(store, user, raw_id, body, publish)).await
}

/// One read-check-write of [`patch`]: the fields are applied to, and the transition checked
/// against, the version that the conditional write replaces.
async fn patch_once(
    store: &dyn Store,
    user: &StoredUser,
    raw_id: &str,
    body: &[u8],
    publish: bool,
) -> ApiResult<Updated> {
    // Rights come before the body, as in the Python server (401/404 before 422).
    let stored = load_editable(store, user, raw_id).await?;
    let body = json_body(body)?;
    let Value::Object(fields) = body else {
        return Err(ApiError::unprocessable(
            &["body"],
            "Input should be a valid dictionary",
            "dict_type",
            body,
        ));
    };
    let mut node = stored.clone();
    let mut any = false;
    let mut new_state = None;
    let mut kcidb_given = None;
    for (key, value) in fields {
        let loc = ["body", key.as_str()];
        any |= match key.as_str() {
            "state" => {
                new_state = Some(from_field::<NodeState>(value, &loc)?);
                true
            }
            "result" => {
                node.result = from_field::<Option<NodeResult>>(value, &loc)?;
                true
            }
            "artifacts" => {
                node.artifacts = from_field(value, &loc)?;
                normalise_artifacts(&mut node.artifacts).map_err(ApiError::BadRequest)?;
                true
            }
            "data" => {
                node.data = from_field(value, &loc)?;
                true
            }
            "debug" => {
                node.debug = from_field(value, &loc)?;
                true
            }
            "jobfilter" => {
                node.jobfilter = from_field(value, &loc)?;
                true
            }
            "platform_filter" => {
                node.platform_filter = from_field(value, &loc)?;
                true
            }
            "timeout" => {
                let t: Option<Timestamp> = from_field(value, &loc)?;
                node.timeout = t.ok_or_else(|| {
                    ApiError::BadRequest(
                        "1 validation error for Node\ntimeout\n  Input should be a valid datetime"
                            .into(),
                    )
                })?;
                true
            }
            "holdoff" => {
                node.holdoff = from_field(value, &loc)?;
                true
            }
            "processed_by_kcidb_bridge" => {
                kcidb_given = Some(from_field::<bool>(value, &loc)?);
                true
            }
            _ => false,
        };
    }
    if !any {
        return Err(ApiError::BadRequest("No fields to update".into()));
    }
    check_kind_data(&node)?;
    if let Some(flag) = kcidb_given {
        node.processed_by_kcidb_bridge = flag;
    }
    if let Some(state) = new_state {
        check_transition(stored.state, state)?;
        if state != stored.state {
            node.processed_by_kcidb_bridge = false;
        }
        node.state = state;
    }
    if kcidb_given.is_none() {
        node.processed_by_kcidb_bridge = false;
    }
    node.updated = Timestamp::next_after(stored.updated);
    let json = write_update(store, &node, &stored, publish).await?;
    Ok(Updated {
        node,
        json,
        previous: stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcidb_flag_follows_the_python_rule() {
        assert!(kcidb_flag(false, false, true));
        assert!(!kcidb_flag(true, false, true));
        assert!(!kcidb_flag(false, true, true));
        assert!(!kcidb_flag(false, false, false));
    }

    #[test]
    fn version_digits_are_coerced() {
        let mut n = Node::new("checkout", "c", vec!["c".into()]);
        n.data = Some(
            serde_json::json!({"kernel_revision": {"version": {"version": "6", "patchlevel": "1", "sublevel": ""}}}),
        );
        coerce_kernel_version(&mut n).unwrap();
        let v = &n.data.as_ref().unwrap()["kernel_revision"]["version"];
        assert_eq!(v["version"], 6);
        assert_eq!(v["sublevel"], "");
        n.data = Some(serde_json::json!({"kernel_revision": {"version": {"version": "six"}}}));
        assert!(coerce_kernel_version(&mut n).is_err());
        n.data = Some(serde_json::json!({"kernel_revision": null}));
        assert!(coerce_kernel_version(&mut n).is_ok());
    }
}
