//! `State` and `State::update`: everything the screens show, changed only by actions, with
//! the side effects to run returned as [`Effect`]s. Pure: no I/O, no clock (time comes in
//! through `Action::Tick`).
use std::collections::{HashSet, VecDeque};

use maestro_common::{Node, Timestamp};

use crate::action::{Action, InputKey};
use crate::compare::Change;
use crate::effect::{Effect, RevisionFilter};
use crate::model::{Forest, NodeId, NodeSummary, Revision, RevisionKey};

mod artifacts;
mod edit;
mod live;
mod nav;
mod open;
#[cfg(test)]
mod tests;

pub use crate::session::{ConnState, Whoami};
pub use edit::{EditField, EditForm};
pub use live::parse_result;
pub use nav::matches_search;
pub use open::{OpenRevision, Row};

/// Checkouts in the revisions list.
pub const REVISION_PAGE: u64 = 50;
/// Revisions compared ahead of the selection in the list.
pub const COMPARE_AHEAD: usize = 8;
/// Lines kept in the events pane.
pub const EVENT_LINES: usize = 2_000;

/// The panes, in `Tab` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pane {
    /// Checkouts, newest first.
    Revisions,
    /// The open revision's tree.
    Tree,
    /// Every field of the selected node (or the compare list).
    Details,
    /// The live feed.
    Events,
}

impl Pane {
    const ORDER: [Self; 4] = [Self::Revisions, Self::Tree, Self::Details, Self::Events];

    fn next(self) -> Self {
        let i = Self::ORDER.iter().position(|p| *p == self).unwrap_or(0);
        Self::ORDER[(i + 1) % Self::ORDER.len()]
    }

    fn prev(self) -> Self {
        let i = Self::ORDER.iter().position(|p| *p == self).unwrap_or(0);
        Self::ORDER[(i + Self::ORDER.len() - 1) % Self::ORDER.len()]
    }

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Revisions => "Revisions",
            Self::Tree => "Tree",
            Self::Details => "Details",
            Self::Events => "Events",
        }
    }
}

/// One line of the events pane.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLine {
    /// Sequence number, when known.
    pub sequence: Option<u64>,
    /// When the event was stored.
    pub time: Timestamp,
    /// `created` or `updated`.
    pub op: String,
    /// Node id.
    pub id: NodeId,
    /// Node kind.
    pub kind: String,
    /// Node name.
    pub name: String,
    /// State after.
    pub state: String,
    /// Result after.
    pub result: Option<String>,
    /// State before (updates).
    pub previous_state: Option<String>,
    /// Result before (updates).
    pub previous_result: Option<Option<String>>,
    /// The node's revision.
    pub revision: Option<RevisionKey>,
}

impl EventLine {
    /// The text the events filter matches against.
    pub fn haystack(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.op,
            self.kind,
            self.name,
            self.state,
            self.result.as_deref().unwrap_or(""),
            self.revision
                .as_ref()
                .map(|r| format!("{} {}", r.tree, r.branch))
                .unwrap_or_default()
        )
        .to_lowercase()
    }
}

/// What the `/` input is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterInput {
    /// The pane it filters.
    pub pane: Pane,
    /// What was typed.
    pub text: String,
}

/// A text artifact read inside the monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogView {
    /// Its URL.
    pub url: String,
    /// The lines read so far (a range ending at the end of the file).
    pub lines: Vec<String>,
    /// Byte offset of the first line read.
    pub start: u64,
    /// Size of the whole file, when the server said.
    pub total: Option<u64>,
    /// First line shown.
    pub top: usize,
    /// Being read.
    pub loading: bool,
    /// Why it could not be read.
    pub error: Option<String>,
    /// The search, once typed.
    pub search: String,
    /// Typing the search.
    pub searching: bool,
}

/// A question before something is sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    /// The question.
    pub text: Vec<String>,
    /// What `y`/`Enter` does.
    pub then: Effect,
}

/// What is drawn over the panes.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Popup {
    /// Nothing.
    #[default]
    None,
    /// The key help.
    Help,
    /// The edit form.
    Edit(Box<EditForm>),
    /// A yes/no question.
    Confirm(Box<Confirm>),
    /// A log.
    Log(Box<LogView>),
}

/// A status bar message and whether it is an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Shown in the error colour.
    pub error: bool,
}

/// Everything the screens show.
#[derive(Clone, Debug)]
pub struct State {
    /// The clock, as of the last tick.
    pub now: Timestamp,
    /// The server's URL, for the status bar.
    pub server: String,
    /// Editing is off, and why (no token, `--read-only`, the token was refused).
    pub read_only: Option<String>,
    /// Who we are, once known.
    pub whoami: Option<Whoami>,
    /// How events arrive.
    pub conn: ConnState,
    /// The newest event sequence seen (or of the snapshot).
    pub last_sequence: Option<u64>,
    /// The focused pane.
    pub focus: Pane,
    /// The revisions list.
    pub revisions: Vec<Revision>,
    /// How many checkouts match the filter on the server.
    pub revisions_total: u64,
    /// The selected revision's checkout.
    pub selected_revision: Option<NodeId>,
    /// The revisions filter.
    pub revision_filter: RevisionFilter,
    /// The revision whose tree is open.
    pub open: Option<OpenRevision>,
    /// The full document of the selected tree node, once loaded.
    pub details: Option<Box<Node>>,
    /// Which artifact of the details `o`/`y`/`v` act on.
    pub artifact_index: usize,
    /// The compare list replaces the details.
    pub show_compare: bool,
    /// First line of the details shown.
    pub details_scroll: u16,
    /// Selected entry of the compare list.
    pub compare_selected: usize,
    /// The live feed, newest last.
    pub events: VecDeque<EventLine>,
    /// Selected line of the events pane, counted from the newest.
    pub event_selected: usize,
    /// The events pane's filter.
    pub event_filter: String,
    /// The tree's search (matches of `n`/`N`).
    pub tree_search: String,
    /// The `/` input being typed.
    pub filter_input: Option<FilterInput>,
    /// Follow mode: jump to what changes.
    pub follow: bool,
    /// Paused: events are held back and counted.
    pub paused: bool,
    /// Events held back while paused.
    pub held: Vec<Action>,
    /// The popup.
    pub popup: Popup,
    /// The status bar message.
    pub notice: Option<Notice>,
    /// Rows of the main area (half pages).
    pub page_rows: u16,
    /// Set by `Quit`.
    pub quit: bool,
    /// The live stream was asked for (after the first snapshot).
    pub stream_started: bool,
    /// An older page of revisions is being loaded.
    pub loading_older: bool,
    /// Revisions whose compare was asked of the server (it reads both trees: asked for the
    /// rows near the selection only).
    pub compare_requested: HashSet<NodeId>,
}

impl State {
    /// A fresh state for `server`; `read_only` says why editing is off, if it is.
    pub fn new(server: String, read_only: Option<String>, now: Timestamp) -> Self {
        Self {
            now,
            server,
            read_only,
            whoami: None,
            conn: ConnState::Connecting,
            last_sequence: None,
            focus: Pane::Revisions,
            revisions: Vec::new(),
            revisions_total: 0,
            selected_revision: None,
            revision_filter: RevisionFilter::default(),
            open: None,
            details: None,
            artifact_index: 0,
            show_compare: false,
            details_scroll: 0,
            compare_selected: 0,
            events: VecDeque::new(),
            event_selected: 0,
            event_filter: String::new(),
            tree_search: String::new(),
            filter_input: None,
            follow: false,
            paused: false,
            held: Vec::new(),
            popup: Popup::None,
            notice: None,
            page_rows: 20,
            quit: false,
            stream_started: false,
            loading_older: false,
            compare_requested: HashSet::new(),
        }
    }

    /// The effects to run at start.
    pub fn start(&self) -> Vec<Effect> {
        let mut effects = vec![Effect::LoadRevisions {
            filter: self.revision_filter.clone(),
            limit: REVISION_PAGE,
        }];
        if self.read_only.is_none() {
            effects.insert(0, Effect::LoadWhoami);
        }
        effects
    }

    /// The server compares asked for the rows from `from` on, [`COMPARE_AHEAD`] of them,
    /// each once.
    pub(crate) fn compare_ahead(&mut self, from: usize) -> Vec<Effect> {
        let mut effects = Vec::new();
        for r in self.revisions.iter().skip(from).take(COMPARE_AHEAD) {
            if r.checkout.revision.is_some() && self.compare_requested.insert(r.checkout.id.clone())
            {
                effects.push(Effect::LoadCompare {
                    checkout: r.checkout.id.clone(),
                });
            }
        }
        effects
    }

    /// Whether the user may edit `node`, and if not, why.
    pub fn edit_refusal(&self, node: &NodeSummary) -> Option<String> {
        if let Some(why) = &self.read_only {
            return Some(format!("editing is off: {why}"));
        }
        match &self.whoami {
            None => Some("editing is off: who you are is not known yet".into()),
            Some(me) if !me.may_edit(node) => Some(format!(
                "{} may not edit this node (owner {})",
                me.username,
                node.owner.as_deref().unwrap_or("none")
            )),
            Some(_) => None,
        }
    }

    /// The selected revision row.
    pub fn selected_revision_row(&self) -> Option<&Revision> {
        let id = self.selected_revision.as_deref()?;
        self.revisions.iter().find(|r| r.checkout.id == id)
    }

    /// The tree node under the cursor.
    pub fn selected_node(&self) -> Option<&NodeSummary> {
        let open = self.open.as_ref()?;
        open.forest.get(open.selected.as_deref()?)
    }

    /// The events that pass the events filter, newest first.
    pub fn visible_events(&self) -> Vec<&EventLine> {
        let needle = self.event_filter.to_lowercase();
        self.events
            .iter()
            .rev()
            .filter(|e| needle.is_empty() || e.haystack().contains(&needle))
            .collect()
    }

    /// The compare list of the open revision, when computed.
    pub fn changes(&self) -> Option<&[Change]> {
        self.open.as_ref()?.changes.as_deref()
    }

    /// The artifacts of the details, in name order.
    pub fn artifacts(&self) -> Vec<(String, String)> {
        let Some(node) = &self.details else {
            return Vec::new();
        };
        let mut list: Vec<(String, String)> = node
            .artifacts
            .iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|u| (k.clone(), u.to_owned())))
            .collect();
        list.sort();
        list
    }

    /// The artifact `o`/`y`/`v` act on.
    pub fn current_artifact(&self) -> Option<(String, String)> {
        let list = self.artifacts();
        if list.is_empty() {
            return None;
        }
        list.into_iter()
            .nth(self.artifact_index % self.artifacts().len())
    }

    fn notice(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: false,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: true,
        });
    }

    /// Applies one action; returns the effects to run.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        if self.paused && live::is_server_update(&action) {
            self.held.push(action);
            return Vec::new();
        }
        match action {
            Action::Quit => {
                self.quit = true;
                Vec::new()
            }
            Action::Tick(now) => {
                self.now = now;
                Vec::new()
            }
            Action::Resize(rows) => {
                self.page_rows = rows.max(2);
                Vec::new()
            }
            Action::TogglePause => self.toggle_pause(),
            Action::ToggleFollow => {
                self.follow = !self.follow;
                self.notice(if self.follow {
                    "follow on: the tree jumps to what changes"
                } else {
                    "follow off"
                });
                Vec::new()
            }
            Action::ToggleHelp => {
                self.popup = match self.popup {
                    Popup::Help => Popup::None,
                    _ => Popup::Help,
                };
                Vec::new()
            }
            Action::Input(key) => self.input(key),
            Action::WhoamiLoaded(Ok(me)) => {
                self.whoami = Some(me);
                Vec::new()
            }
            Action::WhoamiLoaded(Err(why)) => {
                self.read_only = Some(why.clone());
                self.error(format!("read-only: {why}"));
                Vec::new()
            }
            Action::Failed(why) => {
                self.error(why);
                Vec::new()
            }
            Action::Notice(text) => {
                self.notice(text);
                Vec::new()
            }
            Action::Connection(conn) => {
                self.conn = conn;
                Vec::new()
            }
            a @ (Action::RevisionsLoaded { .. }
            | Action::OlderRevisionsLoaded { .. }
            | Action::CompareLoaded { .. }
            | Action::SummaryLoaded { .. }
            | Action::TreePage { .. }
            | Action::PreviousLoaded { .. }
            | Action::NodeLoaded(_)
            | Action::NodeChanged { .. }
            | Action::Resync) => self.apply_server(a),
            a @ (Action::StartEdit | Action::Saved(_) | Action::MayEdit { .. }) => {
                self.edit_action(a)
            }
            a @ (Action::StartRetry | Action::RetryPublished(_)) => self.retry_action(a),
            a @ (Action::OpenArtifact
            | Action::CopyArtifact
            | Action::ViewLog
            | Action::NextArtifact
            | Action::LogLoaded { .. }) => self.artifact_action(a),
            other => self.navigate(other),
        }
    }

    fn toggle_pause(&mut self) -> Vec<Effect> {
        self.paused = !self.paused;
        if self.paused {
            self.notice("paused: events are held back");
            return Vec::new();
        }
        let held = std::mem::take(&mut self.held);
        let n = held.len();
        let mut effects = Vec::new();
        for a in held {
            effects.extend(self.update(a));
        }
        self.notice(format!("resumed: {n} held update(s) applied"));
        effects
    }

    fn input(&mut self, key: InputKey) -> Vec<Effect> {
        if let Popup::Edit(_) = self.popup {
            return self.edit_input(key);
        }
        if let Popup::Log(_) = self.popup {
            return self.log_input(key);
        }
        if let Popup::Confirm(_) = self.popup {
            return self.confirm_input(key);
        }
        if self.filter_input.is_some() {
            return self.filter_key(key);
        }
        Vec::new()
    }

    fn confirm_input(&mut self, key: InputKey) -> Vec<Effect> {
        let Popup::Confirm(confirm) = std::mem::take(&mut self.popup) else {
            return Vec::new();
        };
        match key {
            InputKey::Char('y') | InputKey::Enter => {
                self.notice("sent; waiting for the server");
                vec![confirm.then]
            }
            InputKey::Char('n') | InputKey::Esc => {
                self.notice("cancelled");
                Vec::new()
            }
            _ => {
                self.popup = Popup::Confirm(confirm);
                Vec::new()
            }
        }
    }
}

/// The ids of a node and its ancestors that must be expanded to show it.
pub(crate) fn ancestors_to_open(forest: &Forest, id: &str) -> HashSet<NodeId> {
    let mut chain = forest.ancestry(id);
    chain.pop();
    chain.into_iter().collect()
}
