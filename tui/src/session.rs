//! Who the monitor is connected as and how events reach it: the `/whoami` answer with the
//! server's edit rule, and the connection states the status bar shows.
use crate::model::NodeSummary;

/// How the monitor follows the server's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Not started, or connecting.
    Connecting,
    /// WebSocket stream, replaying what was missed.
    CatchingUp,
    /// WebSocket stream, live.
    Live,
    /// Long-poll on `/listen` (a server without `/latest/ws`, with a token).
    LongPoll,
    /// Polling `/nodes/fast?updated__gt=` (no WebSocket, no token).
    Polling,
    /// Lost; the next attempt in this many seconds.
    Reconnecting(u64),
}

impl ConnState {
    /// The status bar's word for it.
    pub fn label(&self) -> String {
        match self {
            Self::Connecting => "connecting".into(),
            Self::CatchingUp => "catching up".into(),
            Self::Live => "live".into(),
            Self::LongPoll => "live (long-poll)".into(),
            Self::Polling => "polling".into(),
            Self::Reconnecting(s) => format!("reconnecting in {s} s"),
        }
    }
}

/// Who the token belongs to (`GET /whoami`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Whoami {
    /// Username.
    pub username: String,
    /// Superuser.
    pub is_superuser: bool,
    /// Group names.
    pub groups: Vec<String>,
}

impl Whoami {
    /// The server's rule (`maestro_common::rights`), for a server that cannot be asked
    /// (the Python API); the server checks again on every write.
    pub fn may_edit(&self, node: &NodeSummary) -> bool {
        maestro_common::rights::may_edit(
            &self.username,
            self.is_superuser,
            |g| self.groups.iter().any(|x| x == g),
            node.owner.as_deref(),
            &node.user_groups,
            node.runtime.as_deref(),
        )
    }
}
