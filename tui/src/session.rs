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
    /// The server's rule (kernelci-api.md section 7): superuser, owner, `node:edit:any`, a
    /// group of the node's `user_groups`, or a runtime editor/admin of the node's runtime.
    /// The server checks again on every write; this only decides what the UI offers.
    pub fn may_edit(&self, node: &NodeSummary) -> bool {
        let in_group = |g: &str| self.groups.iter().any(|x| x == g);
        self.is_superuser
            || node.owner.as_deref() == Some(self.username.as_str())
            || in_group("node:edit:any")
            || node.user_groups.iter().any(|g| in_group(g))
            || node.runtime.as_ref().is_some_and(|rt| {
                in_group(&format!("runtime:{rt}:node-editor"))
                    || in_group(&format!("runtime:{rt}:node-admin"))
            })
    }
}
