//! The three rules on one node: whether a rule applies to a version of the node, the
//! version it makes, and the compare-and-set write of it (re-read and re-decided when the
//! node changed meanwhile).
use maestro_common::{Node, NodeResult, NodeState, Timestamp};
use serde_json::{Map, Value};

use crate::nodes::ops::write_update;
use crate::store::{DueNodes, Store, StoreError, StoreResult};

/// How many times a rule re-reads and re-decides a node that keeps changing under it
/// before giving up on it for this round.
const STALE_RETRIES: u32 = 5;

/// One life-cycle rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A pending node past its `timeout` becomes `done` (and `incomplete` without result).
    Timeout,
    /// An `available` node past its `holdoff` becomes `closing`, or `done` when no
    /// descendant is pending.
    Holdoff,
    /// A `closing` node becomes `done` once no descendant is pending.
    Closing,
}

/// What a rule did to one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The node was written; it is now in this state.
    Moved(NodeState),
    /// The rule does not apply to the node. `raced`: it did when read, but the node changed
    /// before the write (another server or a client wrote it), and no longer does.
    Untouched {
        /// Whether a concurrent write made the rule stop applying.
        raced: bool,
    },
    /// The node was deleted before the write.
    Gone,
}

impl Rule {
    /// Every rule, in the order a sweep applies them.
    pub const ALL: [Self; 3] = [Self::Timeout, Self::Holdoff, Self::Closing];

    /// The rule's name in logs and options.
    pub fn name(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Holdoff => "holdoff",
            Self::Closing => "closing",
        }
    }

    /// The sets of nodes the rule looks at, at `now`.
    pub(super) fn due(self, now: Timestamp) -> Vec<DueNodes> {
        match self {
            Self::Timeout => [NodeState::Running, NodeState::Available, NodeState::Closing]
                .into_iter()
                .map(|state| DueNodes::TimedOut(state, now))
                .collect(),
            Self::Holdoff => vec![DueNodes::HoldoffPassed(now)],
            Self::Closing => vec![DueNodes::Closing],
        }
    }

    /// The state the rule moves this version of the node to at `now`, if it applies.
    async fn target(
        self,
        store: &dyn Store,
        node: &Node,
        now: Timestamp,
    ) -> StoreResult<Option<NodeState>> {
        let Some(id) = &node.id else {
            return Ok(None);
        };
        Ok(match self {
            Self::Timeout => {
                let pending = matches!(
                    node.state,
                    NodeState::Running | NodeState::Available | NodeState::Closing
                );
                (pending && node.timeout < now).then_some(NodeState::Done)
            }
            Self::Holdoff => {
                let passed = node.holdoff.is_some_and(|h| h < now);
                if node.state != NodeState::Available || !passed {
                    None
                } else if store.has_pending_descendant(id).await? {
                    Some(NodeState::Closing)
                } else {
                    Some(NodeState::Done)
                }
            }
            Self::Closing => {
                let closable =
                    node.state == NodeState::Closing && !store.has_pending_descendant(id).await?;
                closable.then_some(NodeState::Done)
            }
        })
    }
}

/// The version of `read` that a rule writes: in `state`, with what the timeout rule adds,
/// and the fields every update sets.
pub(super) fn moved(rule: Rule, read: &Node, state: NodeState) -> Node {
    let mut node = read.clone();
    node.state = state;
    if rule == Rule::Timeout && node.result.is_none() {
        node.result = Some(NodeResult::Incomplete);
        let error = [
            ("error_code", "node_timeout"),
            ("error_msg", "Node timed-out"),
        ];
        match &mut node.data {
            Some(Value::Object(data)) => {
                for (key, value) in error {
                    data.insert(key.to_owned(), Value::from(value));
                }
            }
            data @ (None | Some(Value::Null)) => {
                let fields: Map<String, Value> = error
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), Value::from(v)))
                    .collect();
                *data = Some(Value::Object(fields));
            }
            // Free-form `process` data that is not an object has nowhere to put the keys;
            // the result still says what happened.
            Some(_) => {}
        }
    }
    // As a PUT that changes the state (what the timeout service sends): the KCIDB bridge
    // must send the node again, with its final state.
    node.processed_by_kcidb_bridge = false;
    node.updated = Timestamp::next_after(read.updated);
    node
}

/// Applies `rule` at `now` to `read`, the node as it was read: decides, then writes the
/// new version only while the stored node is still `read`. When it changed meanwhile, the
/// node is read again and the rule decided afresh on that version (so a client's edit is
/// kept, and a node another server already moved is left alone).
pub async fn apply(
    store: &dyn Store,
    rule: Rule,
    read: Node,
    now: Timestamp,
) -> StoreResult<Outcome> {
    let mut read = read;
    let mut raced = false;
    let mut round = 0;
    loop {
        let Some(state) = rule.target(store, &read, now).await? else {
            return Ok(Outcome::Untouched { raced });
        };
        let node = moved(rule, &read, state);
        match write_update(store, &node, &read, true).await {
            Ok(_) => {
                tracing::debug!(node = %node.id_str(), rule = rule.name(),
                    from = read.state.as_str(), to = state.as_str(), "life-cycle transition");
                return Ok(Outcome::Moved(state));
            }
            Err(StoreError::Stale(what)) if round < STALE_RETRIES => {
                tracing::debug!(%what, rule = rule.name(), "node changed before the life-cycle write; deciding again");
                round += 1;
                raced = true;
                let Some(id) = &read.id else {
                    return Ok(Outcome::Gone);
                };
                match store.get_node(id).await? {
                    Some(fresh) => read = fresh,
                    None => return Ok(Outcome::Gone),
                }
            }
            Err(StoreError::NotFound(_)) => return Ok(Outcome::Gone),
            Err(e) => return Err(e),
        }
    }
}
