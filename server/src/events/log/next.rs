//! `EventLog::next_wanted`: one subscriber's next event from the window, told apart by the
//! channel and owner every slot keeps beside its text, so that only the event delivered is
//! decoded. A long-poll listen takes one event; decoding a batch to hand out its first
//! (what reading the window with `since` did) cost a lagging subscriber 64 parses a listen,
//! and at 1,000 events/s ten subscribers behind the hot tail never caught up.
use super::EventLog;
use crate::events::SharedEvent;

/// What the window holds after a subscriber's position.
#[derive(Debug)]
pub enum Next {
    /// The first event it wants.
    Event(SharedEvent),
    /// None it wants up to this number (inclusive), as far as one look went.
    Passed(u64),
    /// Nothing yet after its position.
    Empty,
    /// Its position is not in the window (or an event is missing from it): the store has it.
    TooOld,
}

impl EventLog {
    /// The first event after `after` for which `wants(channel, owner)` holds, looking at
    /// `max` events at most.
    pub fn next_wanted(
        &self,
        after: u64,
        max: usize,
        wants: impl Fn(&str, Option<&str>) -> bool,
    ) -> Next {
        if after >= self.head() {
            return Next::Empty;
        }
        let Ok(w) = self.window.read() else {
            return Next::TooOld;
        };
        let Some(run) = w.run_after(after) else {
            return Next::TooOld;
        };
        let mut passed = after;
        for slot in run.take(max.max(1)) {
            if wants(&slot.channel, slot.owner.as_deref()) {
                return slot.event().map_or(Next::TooOld, Next::Event);
            }
            passed = slot.seq;
        }
        if passed > after {
            Next::Passed(passed)
        } else {
            Next::TooOld
        }
    }
}

#[cfg(test)]
mod tests {
    use maestro_common::Timestamp;
    use serde_json::{Map, Value};

    use std::sync::Arc;

    use super::*;
    use crate::events::{NewEvent, StoredEvent};

    fn ev(seq: u64, channel: &str, owner: Option<&str>) -> SharedEvent {
        let new = NewEvent {
            channel: channel.into(),
            owner: owner.map(Into::into),
            data: Value::from(seq),
            treeid: None,
            attributes: Map::new(),
        };
        Arc::new(StoredEvent::new(
            new,
            seq,
            format!("{seq:024}"),
            Timestamp::now(),
        ))
    }

    fn seq(next: Next) -> Result<u64, String> {
        match next {
            Next::Event(e) => Ok(e.seq()),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn the_first_wanted_event_is_found_past_others() {
        let log = EventLog::new(0, 16);
        log.push([
            ev(1, "node", Some("bob")),
            ev(2, "other", None),
            ev(3, "node", Some("alice")),
        ]);
        let alice =
            |ch: &str, owner: Option<&str>| ch == "node" && owner.is_none_or(|o| o == "alice");
        assert_eq!(seq(log.next_wanted(0, 64, alice)), Ok(3));
        assert!(matches!(log.next_wanted(3, 64, alice), Next::Empty));
        // Looking at one event at a time: passed over, then found.
        assert!(matches!(log.next_wanted(0, 1, alice), Next::Passed(1)));
        assert!(matches!(log.next_wanted(1, 1, alice), Next::Passed(2)));
        assert_eq!(seq(log.next_wanted(2, 1, alice)), Ok(3));
    }

    #[test]
    fn an_event_out_of_the_hot_tail_is_decoded_and_a_gap_goes_to_the_store() {
        let log = EventLog::new(0, 4_096);
        log.push((1..=300).map(|n| ev(n, "node", None)));
        let any = |_: &str, _: Option<&str>| true;
        // Event 1 is beyond the 256 kept parsed: decoded from its text.
        let Next::Event(first) = log.next_wanted(0, 64, any) else {
            panic!("no event");
        };
        assert_eq!(
            (first.seq(), first.record.data.clone()),
            (1, Value::from(1))
        );
        // 302 is missing (stored through another handle): readers at 300 go to the store
        // once 303 is in.
        log.push([ev(303, "node", None)]);
        assert!(matches!(log.next_wanted(300, 64, any), Next::TooOld));
        let empty = EventLog::new(10, 16);
        assert!(matches!(empty.next_wanted(10, 64, any), Next::Empty));
        assert!(matches!(empty.next_wanted(5, 64, any), Next::TooOld));
    }
}
