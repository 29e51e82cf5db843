//! Events: the history record of `GET /events` and the node event payload of channel `node`.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::node::Node;
use crate::timestamp::Timestamp;

/// One stored event, as `GET /events` lists it (`node` only with `recursive`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventRecord {
    /// When the event was stored (UTC).
    pub timestamp: Timestamp,
    /// Position in the history: strictly increasing across all channels.
    pub sequence_id: u64,
    /// Channel it was published on (`node` for node changes).
    pub channel: String,
    /// The publisher (for node events, the node's owner).
    pub owner: Option<String>,
    /// The payload.
    pub data: Value,
    /// Id of the history record.
    pub id: String,
    /// The node named by `data.id`, when asked for with `recursive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Box<Node>>,
}

/// What a node change publishes on channel `node` (kernelci-api.md section 8.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeEvent {
    /// `created` or `updated`.
    pub op: String,
    /// The node's id.
    pub id: String,
    /// The node's kind.
    pub kind: String,
    /// The node's name.
    pub name: String,
    /// The node's path.
    pub path: Vec<String>,
    /// The node's group.
    pub group: Option<String>,
    /// The node's state after the change.
    pub state: String,
    /// The node's result after the change.
    pub result: Option<String>,
    /// The node's owner.
    pub owner: Option<String>,
    /// The node's whole `data`.
    pub data: Value,
    /// Whether the change was a hierarchy write (`PUT /nodes/{id}`).
    pub is_hierarchy: bool,
    /// The state before an update (absent on `created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<String>,
    /// The result before an update (absent on `created`; may be null on `updated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_result: Option<Option<String>>,
}

impl NodeEvent {
    /// The payload of a node change; `previous` is the node before an update.
    pub fn of(node: &Node, previous: Option<&Node>, is_hierarchy: bool) -> Self {
        Self {
            op: if previous.is_some() {
                "updated"
            } else {
                "created"
            }
            .to_owned(),
            id: node.id_str().to_owned(),
            kind: node.kind.clone(),
            name: node.name.clone(),
            path: node.path.clone(),
            group: node.group.clone(),
            state: node.state.as_str().to_owned(),
            result: node.result.map(|r| r.as_str().to_owned()),
            owner: node.owner.clone(),
            data: node.data.clone().unwrap_or(Value::Null),
            is_hierarchy,
            previous_state: previous.map(|p| p.state.as_str().to_owned()),
            previous_result: previous.map(|p| p.result.map(|r| r.as_str().to_owned())),
        }
    }

    /// The payload as JSON, as `serde_json::to_value` gives it, with `data` moved in
    /// instead of rebuilt by the serialiser (a deep copy, ~2% of a `POST /node`'s
    /// instructions): the rest is serialised with a null `data`, whose slot keeps its place.
    pub fn into_value(mut self) -> Value {
        let data = std::mem::take(&mut self.data);
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(slot) = value.get_mut("data") {
            *slot = data;
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-built JSON is the derived serialisation, key order included.
    #[test]
    fn into_value_is_the_serialised_payload() {
        let mut n = Node::new("test", "t", vec!["c".into(), "t".into()]);
        n.id = crate::node::ObjectIdHex::parse("61bda8f2eb1a63d2b7152418").ok();
        n.data = Some(serde_json::json!({"arch": "x86_64", "kernel_revision": {"tree": "m"}}));
        n.owner = Some("alice".into());
        let mut after = n.clone();
        after.state = crate::node::NodeState::Done;
        after.result = Some(crate::node::NodeResult::Pass);
        for event in [
            NodeEvent::of(&n, None, false),
            NodeEvent::of(&after, Some(&n), true),
            NodeEvent::of(&n, Some(&after), false),
        ] {
            let derived = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::to_string(&event.into_value()).unwrap(), derived);
        }
    }

    #[test]
    fn created_events_have_the_eleven_keys_and_updates_the_previous_values() {
        let mut n = Node::new("checkout", "c", vec!["c".into()]);
        n.id = crate::node::ObjectIdHex::parse("61bda8f2eb1a63d2b7152418").ok();
        let created = serde_json::to_value(NodeEvent::of(&n, None, false)).unwrap();
        let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "op",
                "id",
                "kind",
                "name",
                "path",
                "group",
                "state",
                "result",
                "owner",
                "data",
                "is_hierarchy"
            ]
        );
        let mut after = n.clone();
        after.state = crate::NodeState::Done;
        let updated = serde_json::to_value(NodeEvent::of(&after, Some(&n), true)).unwrap();
        assert_eq!(updated["op"], "updated");
        assert_eq!(updated["previous_state"], "running");
        assert_eq!(updated["previous_result"], Value::Null);
        assert!(updated.as_object().unwrap().contains_key("previous_result"));
    }
}
