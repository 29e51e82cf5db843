//! `RecentTexts`: what recent events were sent as, built once per event and shared by every
//! subscriber, in a small ring indexed by sequence number. The WebSocket `event` frames and
//! the CloudEvents of `/listen` are both kept this way: building a CloudEvent (a UUID, the
//! SDK, a copy of the payload, a serialisation) costs far more than handing out the text, and
//! every subscriber of one event then gets the same `id` and `time`, as from the Python
//! server's one Redis publish.
use std::sync::{Arc, Mutex};

/// The longest text kept: the ring then holds at most its slots times this (an event may be
/// up to 512 KiB; node events are 1-3 KiB). A longer one is built for each subscriber.
const MAX_KEPT_BYTES: usize = 16 << 10;

/// A text whose length bounds what the ring keeps.
pub(crate) trait Text: Clone {
    /// Its length in bytes.
    fn bytes(&self) -> usize;
}

impl Text for Arc<str> {
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl Text for axum::extract::ws::Utf8Bytes {
    fn bytes(&self) -> usize {
        self.as_str().len()
    }
}

/// A ring of texts by sequence number modulo its length; an event further back than that is
/// built again (a new `id`, as the Python server's redeliveries have).
#[derive(Debug)]
pub(crate) struct RecentTexts<T: Text> {
    slots: Mutex<Vec<Option<(u64, T)>>>,
}

impl<T: Text> RecentTexts<T> {
    /// An empty ring of `slots` texts.
    pub(crate) fn new(slots: usize) -> Self {
        Self {
            slots: Mutex::new(vec![None; slots.max(1)]),
        }
    }

    /// The text of event `seq`, built by `build` on first use.
    pub(crate) fn get_or_build(&self, seq: u64, build: impl FnOnce() -> T) -> T {
        let cached = |slots: &[Option<(u64, T)>]| {
            let slot = (seq % slots.len() as u64) as usize;
            match &slots[slot] {
                Some((s, text)) if *s == seq => Some(text.clone()),
                _ => None,
            }
        };
        if let Some(text) = self.slots.lock().ok().and_then(|s| cached(&s)) {
            return text;
        }
        // Built outside the lock: other events' subscribers do not wait for this one.
        let text = build();
        if text.bytes() > MAX_KEPT_BYTES {
            return text;
        }
        let Ok(mut slots) = self.slots.lock() else {
            return text;
        };
        // Another subscriber may have built it meanwhile: keep the first, one `id` per event.
        if let Some(first) = cached(&slots) {
            return first;
        }
        let slot = (seq % slots.len() as u64) as usize;
        slots[slot] = Some((seq, text.clone()));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_built_once_until_its_slot_is_taken() {
        let ring = RecentTexts::<Arc<str>>::new(4);
        let mut builds = 0;
        let mut get = |seq: u64| {
            ring.get_or_build(seq, || {
                builds += 1;
                format!("{seq}#{builds}").into()
            })
        };
        assert_eq!(&*get(1), "1#1");
        assert_eq!(&*get(1), "1#1", "the second subscriber gets the first text");
        assert_eq!(&*get(2), "2#2");
        // 5 takes 1's slot; 1 is then built again.
        assert_eq!(&*get(5), "5#3");
        assert_eq!(&*get(1), "1#4");
        assert_eq!(&*get(2), "2#2");
    }

    #[test]
    fn a_long_text_is_not_kept() {
        let ring = RecentTexts::<Arc<str>>::new(4);
        let long = "x".repeat(MAX_KEPT_BYTES + 1);
        let first = ring.get_or_build(1, || long.as_str().into());
        let again = ring.get_or_build(1, || "rebuilt".into());
        assert_eq!((first.len(), &*again), (long.len(), "rebuilt"));
    }
}
