//! A node write together with the node's JSON text, made once and shared by the request's
//! answer and a store that keeps the text (SQLite), instead of serialising each node twice.
use super::{NodeWrite, StoreError, StoreResult};

/// The room a node's text is first given.
const NODE_TEXT_CAPACITY: usize = 2048;

/// A [`NodeWrite`] and the JSON text of its node, as the API answers it
/// (`serde_json::to_string` of the node). The text is made here from the node, so the two
/// always agree.
#[derive(Clone, Debug)]
pub struct SerialisedWrite {
    write: NodeWrite,
    json: String,
}

impl SerialisedWrite {
    /// Serialises the node of `write`.
    pub fn new(write: NodeWrite) -> StoreResult<Self> {
        // Most nodes serialise to 1-1.5 KB: room for them at once instead of four doublings
        // from serde_json's 128 bytes (1.7% of a hierarchy write's instructions).
        let mut buf = Vec::with_capacity(NODE_TEXT_CAPACITY);
        serde_json::to_writer(&mut buf, write.node()).map_err(|e| StoreError::Backend(e.into()))?;
        let json = String::from_utf8(buf).map_err(|e| StoreError::Backend(e.into()))?;
        Ok(Self { write, json })
    }

    /// The write.
    pub fn write(&self) -> &NodeWrite {
        &self.write
    }

    /// The node's JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The write, without its text (for stores that keep documents, not text).
    pub fn into_write(self) -> NodeWrite {
        self.write
    }

    /// A JSON array of the nodes' texts, in order: the answer of a batch write.
    pub fn json_array(writes: &[Self]) -> String {
        let mut out =
            String::with_capacity(writes.iter().map(|w| w.json.len() + 1).sum::<usize>() + 2);
        out.push('[');
        for (i, w) in writes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&w.json);
        }
        out.push(']');
        out
    }
}
