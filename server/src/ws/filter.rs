//! Which events a subscription receives: channel membership, then (on channel `node`) the
//! `StreamFilter` fields compared with the node event payload.
use maestro_common::ws::StreamFilter;
use serde_json::Value;

use crate::events::StoredEvent;

/// The channel whose events the node filters apply to.
const NODE_CHANNEL: &str = "node";

/// A compiled subscription.
#[derive(Debug)]
pub(super) struct Selector {
    /// Channels to pass; empty passes every channel.
    channels: Vec<String>,
    filter: StreamFilter,
    /// `filter.data` split into path segments.
    paths: Vec<(Vec<String>, Value)>,
}

impl Selector {
    pub(super) fn new(channels: Vec<String>, filter: StreamFilter) -> Self {
        let paths = filter
            .data
            .iter()
            .map(|(k, v)| (k.split('.').map(str::to_owned).collect(), v.clone()))
            .collect();
        Self {
            channels,
            filter,
            paths,
        }
    }

    /// Whether `event` goes to this subscription.
    pub(super) fn matches(&self, event: &StoredEvent) -> bool {
        let channel = &event.record.channel;
        if !self.channels.is_empty() && !self.channels.iter().any(|c| c == channel) {
            return false;
        }
        if channel != NODE_CHANNEL {
            return true;
        }
        let payload = &event.record.data;
        let f = &self.filter;
        let field_is = |name: &str, want: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| payload.get(name).and_then(Value::as_str) == Some(w))
        };
        field_is("kind", &f.kind)
            && field_is("state", &f.state)
            && field_is("result", &f.result)
            && field_is("owner", &f.owner)
            && field_is("name", &f.name)
            && f.treeid
                .as_deref()
                .is_none_or(|t| event.treeid.as_deref() == Some(t))
            && self.paths.iter().all(|(path, want)| {
                lookup(payload.get("data"), path).is_some_and(|got| same(got, want))
            })
    }
}

/// The value at `path` under `root` (object keys; array indexes as numbers).
fn lookup<'a>(root: Option<&'a Value>, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(root?, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// JSON equality where `1` equals `1.0`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use maestro_common::Timestamp;
    use serde_json::{Map, json};

    use super::*;
    use crate::events::NewEvent;

    fn event(channel: &str, data: Value, treeid: Option<&str>) -> StoredEvent {
        let new = NewEvent {
            channel: channel.into(),
            owner: None,
            data,
            treeid: treeid.map(str::to_owned),
            attributes: Map::new(),
        };
        StoredEvent::new(new, 1, "0".repeat(24), Timestamp::now())
    }

    fn sel(channels: &[&str], filter: Value) -> Selector {
        let channels = channels.iter().map(|c| (*c).to_owned()).collect();
        Selector::new(channels, serde_json::from_value(filter).unwrap())
    }

    #[test]
    fn channels_then_node_fields_tree_and_data_paths() {
        let node = event(
            "node",
            json!({"kind": "kbuild", "state": "done", "result": "pass", "owner": "bob", "name": "k",
                   "data": {"kernel_revision": {"tree": "mainline"}, "n": 3, "list": ["a", "b"]}}),
            Some("t1"),
        );
        assert!(sel(&[], json!({})).matches(&node), "no channels: all");
        assert!(!sel(&["retry"], json!({})).matches(&node));
        assert!(sel(&["node"], json!({"kind": "kbuild", "owner": "bob"})).matches(&node));
        assert!(!sel(&["node"], json!({"kind": "test"})).matches(&node));
        assert!(sel(&["node"], json!({"treeid": "t1"})).matches(&node));
        assert!(!sel(&["node"], json!({"treeid": "t2"})).matches(&node));
        let data = json!({"data": {"kernel_revision.tree": "mainline", "n": 3.0, "list.1": "b"}});
        assert!(sel(&["node"], data).matches(&node));
        let data = json!({"data": {"kernel_revision.tree": "next"}});
        assert!(!sel(&["node"], data).matches(&node));
        let data = json!({"data": {"kernel_revision.missing": null}});
        assert!(
            !sel(&["node"], data).matches(&node),
            "a missing path is not null"
        );
        let other = event("bench", json!({"x": 1}), None);
        assert!(
            sel(&["bench"], json!({"kind": "test"})).matches(&other),
            "node filters only apply to channel node"
        );
    }
}
