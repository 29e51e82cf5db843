//! The KernelCI node: one entry of a revision's tree (checkout, kbuild, job, test, ...).
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::timestamp::Timestamp;

/// Seconds from creation to the default `timeout` (6 hours), as the Python server sets it.
pub const DEFAULT_TIMEOUT_SECS: i64 = 6 * 3600;

/// The node kinds whose `data` the server knows how to check.
pub const NODE_KINDS: [&str; 6] = ["checkout", "kbuild", "test", "job", "process", "regression"];

/// A MongoDB-style ObjectId written as 24 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectIdHex(String);

impl ObjectIdHex {
    /// Parses a 24-character hex string (either case) into its canonical lowercase form.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "'{s}' is not a valid ObjectId, it must be a 12-byte input or a 24-character hex string"
            ))
        }
    }

    /// The 24 lowercase hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectIdHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ObjectIdHex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a node is in its lifecycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Scheduled, no result yet.
    #[default]
    Running,
    /// Succeeded; dependent children may now be created.
    Available,
    /// Holdoff has passed; waiting for children to finish.
    Closing,
    /// Final.
    Done,
}

impl NodeState {
    /// The wire name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Available => "available",
            Self::Closing => "closing",
            Self::Done => "done",
        }
    }

    /// Whether the state machine allows moving from `self` to `next` (same state always is).
    pub fn may_become(self, next: Self) -> bool {
        use NodeState::*;
        self == next
            || matches!(
                (self, next),
                (Running, Available | Closing | Done)
                    | (Available, Closing | Done)
                    | (Closing, Done)
            )
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Available, Self::Closing, Self::Done]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Whether a node passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeResult {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// Skipped.
    Skip,
    /// Did not complete (infrastructure error, timeout, ...).
    Incomplete,
}

impl NodeResult {
    /// The wire name of the result.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Skip => "skip",
            Self::Incomplete => "incomplete",
        }
    }
}

/// A node as the API shows and stores it. Every field is always present in JSON.
// eserde's derive: serde's `Deserialize`, plus a second pass after a failure that reports
// every bad field (the server's 422 lists them all). Fields of types of our own or of
// serde_json are checked by serde (`compat`): one error each, which is what pydantic says.
#[derive(Clone, Debug, PartialEq, Serialize, eserde::Deserialize)]
pub struct Node {
    /// Server-assigned id.
    #[serde(default)]
    #[eserde(compat)]
    pub id: Option<ObjectIdHex>,
    /// `checkout`, `kbuild`, `job`, `test`, `process` or `regression`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Name of the node.
    pub name: String,
    /// Names from the top-level node down to this one.
    pub path: Vec<String>,
    /// Free-form group name.
    #[serde(default)]
    pub group: Option<String>,
    /// Id of the parent node.
    #[serde(default)]
    #[eserde(compat)]
    pub parent: Option<ObjectIdHex>,
    /// Lifecycle state.
    #[serde(default)]
    #[eserde(compat)]
    pub state: NodeState,
    /// Outcome.
    #[serde(default)]
    #[eserde(compat)]
    pub result: Option<NodeResult>,
    /// Artifact name to URL.
    #[serde(default = "empty_string_map")]
    #[eserde(compat)]
    pub artifacts: Option<Map<String, Value>>,
    /// Kind-specific data.
    #[serde(default = "empty_object")]
    #[eserde(compat)]
    pub data: Option<Value>,
    /// Free-form debugging data.
    #[serde(default = "empty_string_map")]
    #[eserde(compat)]
    pub debug: Option<Map<String, Value>>,
    /// Jobs that may be scheduled below this node.
    #[serde(default)]
    pub jobfilter: Option<Vec<String>>,
    /// Platforms that jobs below this node may run on.
    #[serde(default = "empty_list")]
    pub platform_filter: Option<Vec<String>>,
    /// Creation time.
    #[serde(default = "Timestamp::now")]
    #[eserde(compat)]
    pub created: Timestamp,
    /// Time of the last update.
    #[serde(default = "Timestamp::now")]
    #[eserde(compat)]
    pub updated: Timestamp,
    /// Expiry time.
    #[serde(default = "default_timeout")]
    #[eserde(compat)]
    pub timeout: Timestamp,
    /// Earliest time an `available` node may close.
    #[serde(default)]
    #[eserde(compat)]
    pub holdoff: Option<Timestamp>,
    /// Username of the creator.
    #[serde(default)]
    pub owner: Option<String>,
    /// Where the node came from (a token hash).
    #[serde(default)]
    pub submitter: Option<String>,
    /// Unique id of the tree.
    #[serde(default)]
    pub treeid: Option<String>,
    /// Groups whose members may edit the node.
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Whether the KCIDB bridge has sent this node.
    #[serde(default)]
    pub processed_by_kcidb_bridge: bool,
    /// How many times the pipeline retried the node.
    #[serde(default)]
    pub retry_counter: i64,
}

fn default_kind() -> String {
    "node".to_owned()
}

fn empty_object() -> Option<Value> {
    Some(Value::Object(Map::new()))
}

fn empty_string_map() -> Option<Map<String, Value>> {
    Some(Map::new())
}

fn empty_list() -> Option<Vec<String>> {
    Some(Vec::new())
}

/// `now + 6h`, the default expiry.
pub fn default_timeout() -> Timestamp {
    Timestamp::now().plus_seconds(DEFAULT_TIMEOUT_SECS)
}

impl Node {
    /// A node with every field at its default, for builders and tests.
    pub fn new(kind: &str, name: &str, path: Vec<String>) -> Self {
        let now = Timestamp::now();
        Self {
            id: None,
            kind: kind.to_owned(),
            name: name.to_owned(),
            path,
            group: None,
            parent: None,
            state: NodeState::Running,
            result: None,
            artifacts: empty_string_map(),
            data: empty_object(),
            debug: empty_string_map(),
            jobfilter: None,
            platform_filter: empty_list(),
            created: now,
            updated: now,
            timeout: now.plus_seconds(DEFAULT_TIMEOUT_SECS),
            holdoff: None,
            owner: None,
            submitter: None,
            treeid: None,
            user_groups: Vec::new(),
            processed_by_kcidb_bridge: false,
            retry_counter: 0,
        }
    }

    /// The id as a string; empty when the node has none yet.
    pub fn id_str(&self) -> &str {
        self.id.as_ref().map_or("", ObjectIdHex::as_str)
    }

    /// `data.runtime`, which grants editing rights to runtime groups.
    pub fn runtime(&self) -> Option<&str> {
        self.data.as_ref()?.get("runtime")?.as_str()
    }
}

/// A node with the new nodes to add beneath it (`PUT /nodes/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, eserde::Deserialize)]
pub struct Hierarchy {
    /// The node at this level.
    pub node: Node,
    /// Its children, each a hierarchy of its own.
    pub child_nodes: Vec<Hierarchy>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_matches_the_contract() {
        use NodeState::*;
        assert!(Running.may_become(Available));
        assert!(Available.may_become(Closing));
        assert!(Done.may_become(Done));
        assert!(!Done.may_become(Running));
        assert!(!Closing.may_become(Available));
        assert!(!Available.may_become(Running));
    }

    #[test]
    fn defaults_fill_every_field() {
        let n: Node = serde_json::from_str(r#"{"name":"x","path":["x"]}"#).unwrap();
        assert_eq!(n.kind, "node");
        let v = serde_json::to_value(&n).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 23);
        assert_eq!(keys[0], "id");
        assert_eq!(keys[22], "retry_counter");
        assert_eq!(v["artifacts"], serde_json::json!({}));
        assert_eq!(v["jobfilter"], Value::Null);
    }

    #[test]
    fn object_ids_are_checked_and_lowercased() {
        assert_eq!(
            ObjectIdHex::parse("61BDA8F2EB1A63D2B7152418")
                .unwrap()
                .as_str(),
            "61bda8f2eb1a63d2b7152418"
        );
        assert!(ObjectIdHex::parse("xyz").is_err());
    }
}
