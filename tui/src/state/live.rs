//! Server data arriving: snapshots (revisions, tree pages, nodes) and live node events,
//! applied in place: rows change, counts follow, the selection stays on its node.
use maestro_common::event::NodeEvent;
use maestro_common::{NodeResult, NodeState};
use serde_json::Value;

use super::{EVENT_LINES, EventLine, OpenRevision, State};
use crate::action::Action;
use crate::effect::Effect;
use crate::model::{Counts, Forest, NodeSummary, Revision, RevisionKey, Status};

/// Whether an action carries server data that pause holds back.
pub(super) fn is_server_update(a: &Action) -> bool {
    matches!(a, Action::NodeChanged { .. })
}

/// Parses a result's wire name.
pub fn parse_result(s: &str) -> Option<NodeResult> {
    match s {
        "pass" => Some(NodeResult::Pass),
        "fail" => Some(NodeResult::Fail),
        "skip" => Some(NodeResult::Skip),
        "incomplete" => Some(NodeResult::Incomplete),
        _ => None,
    }
}

fn status_of(state: &str, result: Option<&str>) -> Status {
    Status::of(
        NodeState::parse(state).unwrap_or_default(),
        result.and_then(parse_result),
    )
}

/// The node after an event, from what the tree already had: the event carries every field
/// the tree shows but the parent.
fn summary_after(
    ev: &NodeEvent,
    known: &NodeSummary,
    time: maestro_common::Timestamp,
) -> NodeSummary {
    let data = &ev.data;
    let s = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
    NodeSummary {
        kind: ev.kind.clone(),
        name: ev.name.clone(),
        path: ev.path.clone(),
        state: NodeState::parse(&ev.state).unwrap_or(known.state),
        result: ev.result.as_deref().and_then(parse_result),
        owner: ev.owner.clone().or_else(|| known.owner.clone()),
        runtime: s("runtime"),
        platform: s("platform"),
        config: s("config_full").or_else(|| s("defconfig")),
        error_code: s("error_code"),
        revision: RevisionKey::of_data(data).or_else(|| known.revision.clone()),
        updated: time.max(known.updated),
        ..known.clone()
    }
}

impl State {
    pub(super) fn apply_server(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::RevisionsLoaded {
                revisions,
                total,
                sequence,
            } => self.revisions_loaded(revisions, total, sequence),
            Action::OlderRevisionsLoaded { revisions, total } => {
                self.loading_older = false;
                self.revisions_total = total;
                let mut effects = Vec::new();
                for r in revisions {
                    if self
                        .revisions
                        .iter()
                        .any(|o| o.checkout.id == r.checkout.id)
                    {
                        continue;
                    }
                    if let Some(key) = r.checkout.revision.clone() {
                        effects.push(Effect::LoadSummary {
                            checkout: r.checkout.id.clone(),
                            key,
                        });
                    }
                    self.revisions.push(r);
                }
                effects
            }
            Action::CompareLoaded { checkout, tally } => {
                let open_has_its_own = self
                    .open
                    .as_ref()
                    .is_some_and(|o| o.checkout == checkout && o.changes.is_some());
                if let Some(r) = self
                    .revisions
                    .iter_mut()
                    .find(|r| r.checkout.id == checkout)
                    && !open_has_its_own
                {
                    r.compare = Some(tally);
                }
                Vec::new()
            }
            Action::SummaryLoaded { checkout, counts } => {
                if let Some(r) = self
                    .revisions
                    .iter_mut()
                    .find(|r| r.checkout.id == checkout)
                {
                    r.summary = Some(counts);
                }
                Vec::new()
            }
            Action::TreePage {
                checkout,
                nodes,
                done,
            } => {
                let Some(open) = self.open.as_mut().filter(|o| o.checkout == checkout) else {
                    return Vec::new();
                };
                open.upsert_all(nodes);
                open.loading = !done;
                if let Some(id) = open.pending_reveal.clone()
                    && open.forest.get(&id).is_some()
                {
                    open.pending_reveal = None;
                    open.reveal(&id);
                }
                if open.rows.is_empty() {
                    open.rebuild_rows();
                }
                open.recompare();
                let mut effects = Vec::new();
                if done {
                    self.tally_compare();
                    if let Some(id) = self.open.as_ref().and_then(|o| o.selected.clone()) {
                        effects.push(Effect::LoadNode(id));
                    }
                }
                effects
            }
            Action::PreviousLoaded {
                checkout,
                previous,
                nodes,
            } => {
                let Some(open) = self.open.as_mut().filter(|o| o.checkout == checkout) else {
                    return Vec::new();
                };
                let mut forest = Forest::default();
                for n in nodes {
                    forest.upsert(n);
                }
                open.previous = Some(forest);
                open.previous_checkout = previous;
                open.recompare();
                self.tally_compare();
                Vec::new()
            }
            Action::NodeLoaded(node) => {
                let summary = NodeSummary::of(&node);
                if let Some(open) = self.open.as_mut()
                    && (open.forest.get(&summary.id).is_some()
                        || summary.revision.as_ref() == Some(&open.key))
                {
                    open.upsert_all([summary.clone()]);
                    open.recompare_node(&summary.id);
                    if self.follow {
                        open.reveal(&summary.id);
                    }
                }
                if self.selected_node().map(|n| n.id.as_str()) == Some(summary.id.as_str()) {
                    self.details = Some(node);
                }
                Vec::new()
            }
            Action::NodeChanged {
                sequence,
                time,
                event,
            } => self.node_changed(sequence, time, *event),
            Action::Resync => {
                self.notice("the server asked for a reload: reloading");
                let mut effects = vec![Effect::LoadRevisions {
                    filter: self.revision_filter.clone(),
                    limit: super::REVISION_PAGE,
                }];
                if let Some(open) = &mut self.open {
                    let (checkout, key) = (open.checkout.clone(), open.key.clone());
                    let keep = (open.selected.clone(), open.expanded.clone());
                    *open = OpenRevision::new(checkout.clone(), key.clone());
                    (open.selected, open.expanded) = keep;
                    effects.push(Effect::LoadTree { checkout, key });
                }
                effects
            }
            _ => Vec::new(),
        }
    }

    fn tally_compare(&mut self) {
        let Some(open) = &self.open else { return };
        let Some(changes) = &open.changes else { return };
        let tally = crate::compare::tally(changes);
        if let Some(r) = self
            .revisions
            .iter_mut()
            .find(|r| r.checkout.id == open.checkout)
        {
            r.compare = Some(tally);
        }
    }

    fn revisions_loaded(
        &mut self,
        revisions: Vec<Revision>,
        total: u64,
        sequence: Option<u64>,
    ) -> Vec<Effect> {
        // Keep what was already counted for rows that stay.
        let old = std::mem::take(&mut self.revisions);
        self.revisions = revisions
            .into_iter()
            .map(|mut r| {
                if let Some(prev) = old.iter().find(|o| o.checkout.id == r.checkout.id) {
                    r.compare = r.compare.or(prev.compare);
                }
                r
            })
            .collect();
        self.revisions_total = total;
        if self
            .selected_revision
            .as_ref()
            .is_none_or(|s| !self.revisions.iter().any(|r| &r.checkout.id == s))
        {
            self.selected_revision = self.revisions.first().map(|r| r.checkout.id.clone());
        }
        if let Some(seq) = sequence {
            self.last_sequence = Some(self.last_sequence.map_or(seq, |s| s.max(seq)));
        }
        let mut effects: Vec<Effect> = self
            .revisions
            .iter()
            .filter_map(|r| {
                Some(Effect::LoadSummary {
                    checkout: r.checkout.id.clone(),
                    key: r.checkout.revision.clone()?,
                })
            })
            .collect();
        effects.extend(self.compare_ahead(0));
        if !self.stream_started {
            self.stream_started = true;
            effects.push(Effect::StartStream {
                since: self.last_sequence,
            });
        }
        effects
    }

    fn node_changed(
        &mut self,
        sequence: Option<u64>,
        time: maestro_common::Timestamp,
        ev: NodeEvent,
    ) -> Vec<Effect> {
        if let Some(seq) = sequence {
            if self.last_sequence.is_some_and(|last| seq <= last) {
                // Seen already (a snapshot and a replay may overlap): nothing to do twice.
                return Vec::new();
            }
            self.last_sequence = Some(seq);
        }
        let revision = RevisionKey::of_data(&ev.data);
        self.events.push_back(EventLine {
            sequence,
            time,
            op: ev.op.clone(),
            id: ev.id.clone(),
            kind: ev.kind.clone(),
            name: ev.name.clone(),
            state: ev.state.clone(),
            result: ev.result.clone(),
            previous_state: ev.previous_state.clone(),
            previous_result: ev.previous_result.clone(),
            revision: revision.clone(),
        });
        if self.events.len() > EVENT_LINES {
            self.events.pop_front();
        }
        let mut effects = Vec::new();
        let created = ev.op == "created";
        let new_status = status_of(&ev.state, ev.result.as_deref());

        // The revisions list: a new checkout on top; counts of the others follow.
        if ev.kind == "checkout" {
            self.checkout_changed(&ev, time, created);
        } else if let Some(key) = &revision
            && let Some(row) = self
                .revisions
                .iter_mut()
                .find(|r| r.checkout.revision.as_ref() == Some(key))
        {
            if ev.is_hierarchy {
                effects.push(Effect::LoadSummary {
                    checkout: row.checkout.id.clone(),
                    key: key.clone(),
                });
                // Compared again when the row is next selected, not on every hierarchy
                // write of a busy revision (each compare reads both trees on the server).
                self.compare_requested.remove(&row.checkout.id);
            } else if let Some(summary) = &mut row.summary {
                if !created {
                    let before = status_of(
                        ev.previous_state.as_deref().unwrap_or(&ev.state),
                        ev.previous_result.clone().flatten().as_deref(),
                    );
                    summary.add(before, -1);
                }
                summary.add(new_status, 1);
            }
        }

        // The open tree.
        if let Some(open) = self.open.as_mut() {
            let known = open.forest.get(&ev.id).cloned();
            let ours = known.is_some() || revision.as_ref() == Some(&open.key);
            if ours {
                match known {
                    Some(k) => {
                        open.upsert_all([summary_after(&ev, &k, time)]);
                        if self.follow {
                            open.reveal(&ev.id);
                        }
                    }
                    None => effects.push(Effect::LoadNode(ev.id.clone())),
                }
                if ev.is_hierarchy {
                    effects.push(Effect::LoadChanged {
                        checkout: open.checkout.clone(),
                        key: open.key.clone(),
                        since: time.plus_seconds(-2),
                    });
                }
                open.recompare_node(&ev.id);
                let selected = open.selected.as_deref() == Some(ev.id.as_str());
                self.tally_compare();
                if selected {
                    effects.push(Effect::LoadNode(ev.id.clone()));
                }
            }
        }
        effects
    }

    fn checkout_changed(&mut self, ev: &NodeEvent, time: maestro_common::Timestamp, created: bool) {
        if let Some(row) = self.revisions.iter_mut().find(|r| r.checkout.id == ev.id) {
            let updated = summary_after(ev, &row.checkout, time);
            row.checkout = updated;
            return;
        }
        if !created {
            return;
        }
        let revision = RevisionKey::of_data(&ev.data);
        let filter = &self.revision_filter;
        let passes = |want: &Option<String>, have: Option<&String>| {
            want.as_ref().is_none_or(|w| Some(w) == have)
        };
        if !passes(&filter.tree, revision.as_ref().map(|r| &r.tree))
            || !passes(&filter.branch, revision.as_ref().map(|r| &r.branch))
        {
            return;
        }
        let data = &ev.data;
        let node = NodeSummary {
            id: ev.id.clone(),
            parent: None,
            kind: ev.kind.clone(),
            name: ev.name.clone(),
            path: ev.path.clone(),
            state: NodeState::parse(&ev.state).unwrap_or_default(),
            result: ev.result.as_deref().and_then(parse_result),
            owner: ev.owner.clone(),
            user_groups: Vec::new(),
            runtime: None,
            platform: None,
            config: None,
            error_code: None,
            describe: data
                .get("kernel_revision")
                .and_then(|r| r.get("describe"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            revision,
            created: time,
            updated: time,
        };
        let mut row = Revision::new(node);
        row.summary = Some(Counts::default());
        self.revisions.insert(0, row);
        self.revisions_total += 1;
    }
}
