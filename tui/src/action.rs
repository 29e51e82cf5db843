//! `Action`: every change of the monitor's state, named in the imperative. Keys, server
//! messages and finished tasks all become actions; only `State::update` applies them.
use maestro_common::Node;
use maestro_common::event::NodeEvent;

use crate::model::{Counts, NodeId, NodeSummary, Revision};
use crate::session::{ConnState, Whoami};

/// What can happen to the state.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Leave the monitor.
    Quit,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Selection one up.
    MoveUp,
    /// Selection one down.
    MoveDown,
    /// Selection half a page up.
    HalfPageUp,
    /// Selection half a page down.
    HalfPageDown,
    /// First row.
    MoveTop,
    /// Last row.
    MoveBottom,
    /// Expand the selected tree node (or go to its first child).
    Expand,
    /// Collapse the selected tree node (or go to its parent).
    Collapse,
    /// Enter: open the revision, toggle the node, jump to the event's node.
    Activate,
    /// Esc: close the popup or go back.
    Back,
    /// Reload what the focused pane shows.
    Reload,
    /// Follow mode on or off.
    ToggleFollow,
    /// Freeze or thaw the view.
    TogglePause,
    /// Show or hide the help.
    ToggleHelp,
    /// Show the regressions and fixes of the open revision (or hide them).
    ToggleCompare,
    /// Open the edit form of the selected node.
    StartEdit,
    /// Ask to retry the selected job or kbuild.
    StartRetry,
    /// Open the selected node's first (or chosen) artifact with the system's opener.
    OpenArtifact,
    /// Copy the artifact URL to the clipboard (OSC 52).
    CopyArtifact,
    /// Read the artifact (a log) inside the monitor.
    ViewLog,
    /// Next artifact of the selected node.
    NextArtifact,
    /// Start typing a filter (`/`).
    StartFilter,
    /// Jump to the next match of the filter.
    NextMatch,
    /// Jump to the previous match of the filter.
    PrevMatch,
    /// A key typed into the text input of a popup or filter.
    Input(InputKey),
    /// The clock moved (time-based text such as ages and holdoffs).
    Tick(maestro_common::Timestamp),
    /// The terminal was resized (rows of the main area, for half pages).
    Resize(u16),

    /// Who the token belongs to (or why there is none).
    WhoamiLoaded(Result<Whoami, String>),
    /// A page of checkouts, newest first, and the sequence the snapshot was taken at.
    RevisionsLoaded {
        /// The rows.
        revisions: Vec<Revision>,
        /// How many checkouts match the filter in all.
        total: u64,
        /// `X-Maestro-Sequence` of the answer.
        sequence: Option<u64>,
    },
    /// An older page of checkouts, newest first, to append.
    OlderRevisionsLoaded {
        /// The rows.
        revisions: Vec<Revision>,
        /// How many checkouts match the filter in all.
        total: u64,
    },
    /// A revision's (regressions, fixes), as the server counted them.
    CompareLoaded {
        /// The checkout.
        checkout: NodeId,
        /// The counts.
        tally: (u32, u32),
    },
    /// The counts of one revision's tree.
    SummaryLoaded {
        /// The checkout.
        checkout: NodeId,
        /// Its counts.
        counts: Counts,
    },
    /// A page of the open revision's nodes.
    TreePage {
        /// The checkout the page is for (stale pages are dropped).
        checkout: NodeId,
        /// The nodes.
        nodes: Vec<NodeSummary>,
        /// Whether it was the last page.
        done: bool,
    },
    /// The previous revision's nodes, for compare.
    PreviousLoaded {
        /// The checkout of the open revision.
        checkout: NodeId,
        /// The previous checkout (none: this is the first of its tree and branch).
        previous: Option<NodeId>,
        /// Its nodes.
        nodes: Vec<NodeSummary>,
    },
    /// One whole node (details, or a node an event named that the tree did not have).
    NodeLoaded(Box<Node>),
    /// A node event from the stream.
    NodeChanged {
        /// Its sequence number, when the transport gives one.
        sequence: Option<u64>,
        /// When it was stored.
        time: maestro_common::Timestamp,
        /// The payload.
        event: Box<NodeEvent>,
    },
    /// The stream's state changed.
    Connection(ConnState),
    /// The server said the client is too far behind: reload.
    Resync,
    /// The server's answer to "may I edit this node": `Some(allowed)`, or `None` when the
    /// server cannot say (the Python server has no such route; the rule is applied here).
    MayEdit {
        /// The node.
        id: NodeId,
        /// What it was asked for.
        intent: crate::effect::EditIntent,
        /// The answer.
        answer: Result<Option<bool>, String>,
    },
    /// An edit was answered.
    Saved(Result<Box<Node>, String>),
    /// A retry request was answered.
    RetryPublished(Result<String, String>),
    /// Log text arrived.
    LogLoaded {
        /// The URL.
        url: String,
        /// The text of the range read (lines).
        text: Result<String, String>,
        /// Byte offset the text starts at in the whole file.
        start: u64,
        /// Size of the whole file, when known.
        total: Option<u64>,
    },
    /// Something failed in the background; shown in the status bar.
    Failed(String),
    /// A message for the status bar.
    Notice(String),
}

/// A key for a text input, without terminal types (so the state stays testable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKey {
    /// A printable character.
    Char(char),
    /// Delete the character before the cursor.
    Backspace,
    /// Confirm.
    Enter,
    /// Cancel.
    Esc,
    /// Next field.
    Tab,
    /// Previous field.
    BackTab,
    /// Left (previous value of a choice).
    Left,
    /// Right (next value of a choice).
    Right,
    /// Up.
    Up,
    /// Down.
    Down,
}
