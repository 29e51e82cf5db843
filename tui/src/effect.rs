//! `Effect`: the side effects `State::update` asks for; `App` runs each as a task whose
//! result comes back as an `Action`.
use serde_json::Value;

use crate::model::{NodeId, RevisionKey};

/// Which checkouts the revisions list shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevisionFilter {
    /// `data.kernel_revision.tree`, when set.
    pub tree: Option<String>,
    /// `data.kernel_revision.branch`, when set.
    pub branch: Option<String>,
}

/// Why edit rights are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditIntent {
    /// The edit form.
    Edit,
    /// A retry request.
    Retry,
}

/// A side effect.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Find out who the token belongs to.
    LoadWhoami,
    /// Load the newest page of checkouts.
    LoadRevisions {
        /// The filter.
        filter: RevisionFilter,
        /// Rows wanted.
        limit: u64,
    },
    /// Load the page of checkouts older than the `skip` newest ones.
    LoadOlderRevisions {
        /// The filter.
        filter: RevisionFilter,
        /// Rows already loaded (the newest).
        skip: u64,
        /// Rows wanted.
        limit: u64,
    },
    /// Ask the server for a revision's regressions and fixes (the compare extension).
    LoadCompare {
        /// The checkout.
        checkout: NodeId,
    },
    /// Count a revision's nodes by result.
    LoadSummary {
        /// The checkout.
        checkout: NodeId,
        /// Its revision.
        key: RevisionKey,
    },
    /// Load a revision's nodes page by page.
    LoadTree {
        /// The checkout.
        checkout: NodeId,
        /// Its revision.
        key: RevisionKey,
    },
    /// Load the nodes of a revision changed since a time (after a hierarchy write).
    LoadChanged {
        /// The checkout.
        checkout: NodeId,
        /// Its revision.
        key: RevisionKey,
        /// Changed at or after.
        since: maestro_common::Timestamp,
    },
    /// Find the previous checkout of the tree and branch and load its nodes.
    LoadPrevious {
        /// The open checkout.
        checkout: NodeId,
        /// Its revision.
        key: RevisionKey,
        /// Its creation time.
        created: maestro_common::Timestamp,
    },
    /// Ask the server whether the user may edit a node, before `intent`.
    AskMayEdit {
        /// The node.
        id: NodeId,
        /// What the answer is for.
        intent: EditIntent,
    },
    /// Load one whole node.
    LoadNode(NodeId),
    /// Start (or restart) the live stream after this sequence.
    StartStream {
        /// The last sequence seen.
        since: Option<u64>,
    },
    /// `PATCH /node/{id}` with this body.
    SaveNode {
        /// The node.
        id: NodeId,
        /// The fields to set.
        body: Value,
    },
    /// Publish a retry request on channel `retry`.
    PublishRetry {
        /// The event's `data`.
        data: Value,
    },
    /// Open a URL with the system's opener.
    OpenUrl(String),
    /// Put text on the clipboard through the terminal (OSC 52).
    Copy(String),
    /// Read the end of a text artifact (or the range before `before`).
    FetchLog {
        /// The URL.
        url: String,
        /// Read the bytes before this offset (the end when absent).
        before: Option<u64>,
    },
}
