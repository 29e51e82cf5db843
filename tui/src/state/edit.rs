//! Changing nodes: the edit form (state, result, holdoff, timeout, one `data` field) with
//! its state-machine check and diff confirmation, the server's say on edit rights, and
//! retries of failed jobs and kbuilds as KernelCI's job-retry service asks for them.
use maestro_common::{NodeResult, NodeState, Timestamp};
use serde_json::{Map, Value, json};

use super::{Confirm, Popup, State};
use crate::action::{Action, InputKey};
use crate::effect::{EditIntent, Effect};
use crate::model::NodeSummary;

/// The fields of the edit form, in `Tab` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditField {
    /// Choice among the states the state machine allows from the stored one.
    State,
    /// Choice of result (or none).
    Result,
    /// Text: an ISO time, `+30m`/`+2h`/`+1d`, or empty for unchanged.
    Holdoff,
    /// Same as holdoff.
    Timeout,
    /// Text: a key of `data` (dotted for nested keys).
    DataKey,
    /// Text: its new value, JSON or a plain string.
    DataValue,
}

impl EditField {
    const ORDER: [Self; 6] = [
        Self::State,
        Self::Result,
        Self::Holdoff,
        Self::Timeout,
        Self::DataKey,
        Self::DataValue,
    ];

    /// Its label.
    pub fn label(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Result => "result",
            Self::Holdoff => "holdoff",
            Self::Timeout => "timeout",
            Self::DataKey => "data key",
            Self::DataValue => "data value",
        }
    }
}

/// The edit form of one node.
#[derive(Clone, Debug, PartialEq)]
pub struct EditForm {
    /// The node as it was when the form opened.
    pub node: NodeSummary,
    /// Its whole `data` (a `data` change replaces the whole object).
    pub data: Value,
    /// The focused field.
    pub field: EditField,
    /// The chosen state.
    pub state: NodeState,
    /// The chosen result.
    pub result: Option<NodeResult>,
    /// Holdoff text.
    pub holdoff: String,
    /// Timeout text.
    pub timeout: String,
    /// Data key text.
    pub data_key: String,
    /// Data value text.
    pub data_value: String,
    /// Showing the diff, waiting for the second `Enter`.
    pub confirming: bool,
    /// Why the form cannot be sent as it is.
    pub error: Option<String>,
}

const STATES: [NodeState; 4] = [
    NodeState::Running,
    NodeState::Available,
    NodeState::Closing,
    NodeState::Done,
];
const RESULTS: [Option<NodeResult>; 5] = [
    None,
    Some(NodeResult::Pass),
    Some(NodeResult::Fail),
    Some(NodeResult::Skip),
    Some(NodeResult::Incomplete),
];

fn result_name(r: Option<NodeResult>) -> &'static str {
    r.map_or("none", NodeResult::as_str)
}

/// Parses a holdoff/timeout text: an ISO time, or `+N` with `m`, `h` or `d`, from `now`.
pub fn parse_when(text: &str, now: Timestamp) -> Result<Option<Timestamp>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Some(rel) = t.strip_prefix('+') {
        let (n, unit) = rel.split_at(rel.len().saturating_sub(1));
        let n: i64 = n
            .parse()
            .map_err(|_| format!("'{t}': use +30m, +2h, +1d or an ISO time"))?;
        let secs = match unit {
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("'{t}': the unit must be m, h or d")),
        };
        return Ok(Some(now.plus_seconds(n.saturating_mul(secs))));
    }
    Timestamp::parse_iso(t)
        .map(Some)
        .ok_or_else(|| format!("'{t}' is not a time (2026-01-01T12:00:00 or +30m)"))
}

impl EditForm {
    /// A form on `node` with its whole `data`.
    pub fn new(node: NodeSummary, data: Value) -> Self {
        Self {
            state: node.state,
            result: node.result,
            node,
            data,
            field: EditField::State,
            holdoff: String::new(),
            timeout: String::new(),
            data_key: String::new(),
            data_value: String::new(),
            confirming: false,
            error: None,
        }
    }

    /// The states the stored state may become.
    pub fn allowed_states(&self) -> Vec<NodeState> {
        STATES
            .into_iter()
            .filter(|s| self.node.state.may_become(*s))
            .collect()
    }

    fn cycle(&mut self, forward: bool) {
        let step = |i: usize, len: usize| {
            if forward {
                (i + 1) % len
            } else {
                (i + len - 1) % len
            }
        };
        match self.field {
            EditField::State => {
                let allowed = self.allowed_states();
                let i = allowed.iter().position(|s| *s == self.state).unwrap_or(0);
                self.state = allowed[step(i, allowed.len())];
            }
            EditField::Result => {
                let i = RESULTS.iter().position(|r| *r == self.result).unwrap_or(0);
                self.result = RESULTS[step(i, RESULTS.len())];
            }
            _ => {}
        }
    }

    fn text_mut(&mut self) -> Option<&mut String> {
        match self.field {
            EditField::Holdoff => Some(&mut self.holdoff),
            EditField::Timeout => Some(&mut self.timeout),
            EditField::DataKey => Some(&mut self.data_key),
            EditField::DataValue => Some(&mut self.data_value),
            _ => None,
        }
    }

    /// The PATCH body and the diff lines (`field: old -> new`), or why it cannot be sent.
    pub fn changes(&self, now: Timestamp) -> Result<(Value, Vec<String>), String> {
        let mut body = Map::new();
        let mut diff = Vec::new();
        if self.state != self.node.state {
            if !self.node.state.may_become(self.state) {
                return Err(format!(
                    "{} -> {} is not a transition the state machine allows",
                    self.node.state.as_str(),
                    self.state.as_str()
                ));
            }
            body.insert("state".into(), json!(self.state.as_str()));
            diff.push(format!(
                "state: {} -> {}",
                self.node.state.as_str(),
                self.state.as_str()
            ));
        }
        if self.result != self.node.result {
            body.insert("result".into(), json!(self.result.map(NodeResult::as_str)));
            diff.push(format!(
                "result: {} -> {}",
                result_name(self.node.result),
                result_name(self.result)
            ));
        }
        for (name, text) in [("holdoff", &self.holdoff), ("timeout", &self.timeout)] {
            if let Some(t) = parse_when(text, now)? {
                body.insert(name.into(), json!(t.to_string()));
                diff.push(format!("{name}: -> {t}"));
            }
        }
        let key = self.data_key.trim();
        if !key.is_empty() {
            let value: Value = serde_json::from_str(self.data_value.trim())
                .unwrap_or_else(|_| Value::String(self.data_value.clone()));
            let mut data = if self.data.is_object() {
                self.data.clone()
            } else {
                json!({})
            };
            let old = set_path(&mut data, key, value.clone())?;
            body.insert("data".into(), data);
            diff.push(format!(
                "data.{key}: {} -> {value}",
                old.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
            ));
        }
        if body.is_empty() {
            return Err("nothing changed".into());
        }
        Ok((Value::Object(body), diff))
    }
}

/// Sets a dotted path inside a JSON object; returns the old value.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<Option<Value>, String> {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        let obj = cur.as_object_mut().ok_or_else(|| {
            format!("data.{path}: '{part}' is inside a value that is not an object")
        })?;
        cur = obj.entry(part.to_string()).or_insert_with(|| json!({}));
    }
    let obj = cur
        .as_object_mut()
        .ok_or_else(|| format!("data.{path}: the parent is not an object"))?;
    Ok(obj.insert(parts[parts.len() - 1].to_owned(), value))
}

impl State {
    pub(super) fn edit_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::StartEdit => {
                let Some(node) = self.selected_node().cloned() else {
                    self.notice("select a node in the tree first");
                    return Vec::new();
                };
                if let Some(why) = &self.read_only {
                    self.error(format!("editing is off: {why}"));
                    return Vec::new();
                }
                if self.details.as_ref().is_none_or(|d| d.id_str() != node.id) {
                    self.notice("the node is still loading; try again in a moment");
                    return vec![Effect::LoadNode(node.id)];
                }
                self.notice("asking the server whether you may edit it");
                vec![Effect::AskMayEdit {
                    id: node.id,
                    intent: EditIntent::Edit,
                }]
            }
            Action::MayEdit { id, intent, answer } => {
                let Some(node) = self.selected_node().cloned().filter(|n| n.id == id) else {
                    return Vec::new(); // the selection moved on meanwhile
                };
                let allowed = match answer {
                    Ok(Some(allowed)) => allowed,
                    // A server that cannot say (the Python API): its documented rule.
                    Ok(None) => self.edit_refusal(&node).is_none(),
                    Err(e) => {
                        self.error(format!("could not ask for edit rights: {e}"));
                        return Vec::new();
                    }
                };
                if !allowed {
                    let who = self
                        .whoami
                        .as_ref()
                        .map_or("you", |w| w.username.as_str())
                        .to_owned();
                    self.error(format!(
                        "the server says {who} may not edit this node (owner {})",
                        node.owner.as_deref().unwrap_or("none")
                    ));
                    return Vec::new();
                }
                self.notice = None;
                match intent {
                    EditIntent::Edit => self.open_edit_form(node),
                    EditIntent::Retry => self.confirm_retry(node),
                }
            }
            Action::Saved(Ok(node)) => {
                self.notice(format!("saved {} ({})", node.name, node.id_str()));
                // The server agreed: now the screen shows the change.
                self.update(Action::NodeLoaded(node))
            }
            Action::Saved(Err(why)) => {
                self.error(format!("not saved: {why}"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn open_edit_form(&mut self, node: NodeSummary) -> Vec<Effect> {
        let Some(full) = self.details.as_ref().filter(|d| d.id_str() == node.id) else {
            return vec![Effect::LoadNode(node.id)];
        };
        let data = full.data.clone().unwrap_or(Value::Null);
        self.popup = Popup::Edit(Box::new(EditForm::new(node, data)));
        Vec::new()
    }

    pub(super) fn edit_input(&mut self, key: InputKey) -> Vec<Effect> {
        let now = self.now;
        let Popup::Edit(form) = &mut self.popup else {
            return Vec::new();
        };
        form.error = None;
        if form.confirming {
            match key {
                InputKey::Enter | InputKey::Char('y') => {
                    let sent = form.changes(now);
                    let id = form.node.id.clone();
                    self.popup = Popup::None;
                    return match sent {
                        Ok((body, _)) => {
                            self.notice("saving; waiting for the server");
                            vec![Effect::SaveNode { id, body }]
                        }
                        Err(e) => {
                            self.error(e);
                            Vec::new()
                        }
                    };
                }
                InputKey::Esc | InputKey::Char('n') => form.confirming = false,
                _ => {}
            }
            return Vec::new();
        }
        let i = EditField::ORDER
            .iter()
            .position(|f| *f == form.field)
            .unwrap_or(0);
        let n = EditField::ORDER.len();
        match key {
            InputKey::Esc => self.popup = Popup::None,
            InputKey::Tab | InputKey::Down => form.field = EditField::ORDER[(i + 1) % n],
            InputKey::BackTab | InputKey::Up => form.field = EditField::ORDER[(i + n - 1) % n],
            InputKey::Left => form.cycle(false),
            InputKey::Right => form.cycle(true),
            InputKey::Char(' ') if form.text_mut().is_none() => form.cycle(true),
            InputKey::Char(c) => {
                if let Some(t) = form.text_mut() {
                    t.push(c);
                }
            }
            InputKey::Backspace => {
                if let Some(t) = form.text_mut() {
                    t.pop();
                }
            }
            InputKey::Enter => match form.changes(now) {
                Ok(_) => form.confirming = true,
                Err(e) => form.error = Some(e),
            },
        }
        Vec::new()
    }

    pub(super) fn retry_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::StartRetry => {
                let Some(node) = self.selected_node().cloned() else {
                    self.notice("select a job or kbuild in the tree first");
                    return Vec::new();
                };
                if !matches!(node.kind.as_str(), "job" | "kbuild")
                    || !matches!(
                        node.result,
                        Some(NodeResult::Fail) | Some(NodeResult::Incomplete)
                    )
                {
                    self.notice("only a failed or incomplete job or kbuild can be retried");
                    return Vec::new();
                }
                if let Some(why) = &self.read_only {
                    self.error(format!("retrying is off: {why}"));
                    return Vec::new();
                }
                vec![Effect::AskMayEdit {
                    id: node.id,
                    intent: EditIntent::Retry,
                }]
            }
            Action::RetryPublished(Ok(what)) => {
                self.notice(format!("retry requested: {what}"));
                Vec::new()
            }
            Action::RetryPublished(Err(why)) => {
                self.error(format!("retry refused: {why}"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The confirmation of a retry of `node` (a failed or incomplete job or kbuild).
    fn confirm_retry(&mut self, node: NodeSummary) -> Vec<Effect> {
        let Some(open) = &self.open else {
            return Vec::new();
        };
        let Some(parent) = node.parent.as_deref().and_then(|p| open.forest.get(p)) else {
            self.error("the node's parent is not loaded");
            return Vec::new();
        };
        let retries = self
            .details
            .as_ref()
            .filter(|d| d.id_str() == node.id)
            .map_or(0, |d| d.retry_counter);
        // As KernelCI's job-retry service: the parent node, narrowed to this job and
        // platform, with the retry count and who asked.
        let data = json!({
            "id": parent.id,
            "kind": parent.kind,
            "name": parent.name,
            "path": parent.path,
            "parent": parent.parent,
            "state": parent.state.as_str(),
            "result": parent.result.map(NodeResult::as_str),
            "data": {"kernel_revision": node.revision.as_ref().map(|r| json!({
                "tree": r.tree, "branch": r.branch, "commit": r.commit}))},
            "jobfilter": [node.name],
            "platform_filter": node.platform.iter().collect::<Vec<_>>(),
            "retry_counter": retries + 1,
            "debug": {"retry_by": node.id},
        });
        self.popup = Popup::Confirm(Box::new(Confirm {
            text: vec![
                format!("Retry {} {} ({})?", node.kind, node.name, node.id),
                format!(
                    "Publishes {} {} on channel 'retry' with jobfilter [{}], retry {}.",
                    parent.kind,
                    parent.name,
                    node.name,
                    retries + 1
                ),
            ],
            then: Effect::PublishRetry { data },
        }));
        Vec::new()
    }
}
