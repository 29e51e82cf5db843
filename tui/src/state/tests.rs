//! Pure tests of `State::update`: action in, state and effects out, no terminal, no I/O.
use maestro_common::event::NodeEvent;
use maestro_common::{NodeResult, NodeState};

use super::*;
use crate::effect::EditIntent;
use crate::fixtures;

fn event_for(node: &NodeSummary, state: &str, result: Option<&str>, seq: u64) -> Action {
    Action::NodeChanged {
        sequence: Some(seq),
        time: fixtures::now(),
        event: Box::new(NodeEvent {
            op: "updated".into(),
            id: node.id.clone(),
            kind: node.kind.clone(),
            name: node.name.clone(),
            path: node.path.clone(),
            group: None,
            state: state.into(),
            result: result.map(Into::into),
            owner: node.owner.clone(),
            data: serde_json::json!({"kernel_revision": {
                "tree": "mainline", "branch": "master",
                "commit": "a".repeat(40), "describe": "v6.13-rc2"}}),
            is_hierarchy: false,
            previous_state: Some(node.state.as_str().into()),
            previous_result: Some(node.result.map(|r| r.as_str().to_owned())),
        }),
    }
}

fn open_node(s: &State, name: &str) -> NodeSummary {
    s.open
        .as_ref()
        .unwrap()
        .forest
        .nodes()
        .filter(|n| n.name == name)
        // Names repeat across jobs: the first by id, whatever the map's order.
        .min_by(|a, b| a.id.cmp(&b.id))
        .cloned()
        .unwrap()
}

#[test]
fn a_live_change_updates_the_row_in_place_and_the_counts_follow() {
    let mut s = fixtures::state();
    let seq = s.last_sequence.unwrap() + 1;
    let kbuild = open_node(&s, "kbuild-gcc-12-x86_64");
    let before = s.open.as_ref().unwrap().forest.counts(&kbuild.id);
    let test = open_node(&s, "dmesg.emerg");
    assert_eq!(test.result, Some(NodeResult::Pass));
    let rows_before = s.open.as_ref().unwrap().rows.len();
    let selected = s.open.as_ref().unwrap().selected.clone();
    let effects = s.update(event_for(&test, "done", Some("fail"), seq));
    let open = s.open.as_ref().unwrap();
    assert_eq!(
        open.forest.get(&test.id).unwrap().result,
        Some(NodeResult::Fail)
    );
    let after = open.forest.counts(&kbuild.id);
    assert_eq!((after.pass, after.fail), (before.pass - 1, before.fail + 1));
    assert_eq!(open.rows.len(), rows_before, "no row added or removed");
    assert_eq!(open.selected, selected, "the selection did not move");
    assert_eq!(s.last_sequence, Some(seq));
    assert!(effects.is_empty(), "nothing to fetch: {effects:?}");
    // The same event again (a replay overlapping the snapshot) changes nothing.
    let lines = s.events.len();
    s.update(event_for(&test, "done", Some("pass"), seq));
    assert_eq!(s.events.len(), lines);
    assert_eq!(
        s.open
            .as_ref()
            .unwrap()
            .forest
            .get(&test.id)
            .unwrap()
            .result,
        Some(NodeResult::Fail)
    );
}

#[test]
fn the_selection_stays_on_its_node_when_rows_are_inserted_above() {
    let mut s = fixtures::state();
    let selected = s.open.as_ref().unwrap().selected.clone().unwrap();
    let row_before = s.open.as_ref().unwrap().selected_row().unwrap();
    // A new kbuild under the checkout sorts first (a smaller id) and is shown above.
    let checkout = s.open.as_ref().unwrap().checkout.clone();
    let mut newcomer = open_node(&s, "kbuild-gcc-12-arm64");
    newcomer.id = "6b0ea0000000000000000000".into();
    newcomer.name = "kbuild-clang-17-x86_64".into();
    newcomer.parent = Some(checkout.clone());
    s.update(Action::TreePage {
        checkout,
        nodes: vec![newcomer],
        done: true,
    });
    let open = s.open.as_ref().unwrap();
    assert_eq!(open.selected.as_deref(), Some(selected.as_str()));
    assert_eq!(
        open.selected_row(),
        Some(row_before + 1),
        "the row moved, the cursor too"
    );
}

#[test]
fn a_new_checkout_appears_on_top_and_the_selection_stays() {
    let mut s = fixtures::state();
    let selected = s.selected_revision.clone();
    let seq = s.last_sequence.unwrap() + 1;
    let mut ev = NodeEvent {
        op: "created".into(),
        id: "6b0ef0000000000000000001".into(),
        kind: "checkout".into(),
        name: "checkout".into(),
        path: vec!["checkout".into()],
        group: None,
        state: "running".into(),
        result: None,
        owner: Some("pipeline".into()),
        data: serde_json::json!({"kernel_revision": {"tree": "mainline", "branch": "master",
            "commit": "f".repeat(40), "describe": "v6.13-rc3"}}),
        is_hierarchy: false,
        previous_state: None,
        previous_result: None,
    };
    s.update(Action::NodeChanged {
        sequence: Some(seq),
        time: fixtures::now(),
        event: Box::new(ev.clone()),
    });
    assert_eq!(
        s.revisions[0].checkout.describe.as_deref(),
        Some("v6.13-rc3")
    );
    assert_eq!(s.revisions_total, 58);
    assert_eq!(s.selected_revision, selected);
    // A checkout of a tree outside the filter does not.
    s.revision_filter.tree = Some("mainline".into());
    ev.id = "6b0ef0000000000000000002".into();
    ev.data = serde_json::json!({"kernel_revision": {"tree": "next", "branch": "master",
        "commit": "e".repeat(40)}});
    s.update(Action::NodeChanged {
        sequence: Some(seq + 1),
        time: fixtures::now(),
        event: Box::new(ev),
    });
    assert_eq!(s.revisions_total, 58);
}

#[test]
fn pause_holds_events_back_and_counts_them() {
    let mut s = fixtures::state();
    let test = open_node(&s, "dmesg.crit");
    let seq = s.last_sequence.unwrap();
    s.update(Action::TogglePause);
    s.update(event_for(&test, "done", Some("fail"), seq + 1));
    s.update(event_for(&test, "done", Some("incomplete"), seq + 2));
    assert_eq!(s.held.len(), 2);
    assert_eq!(
        s.open
            .as_ref()
            .unwrap()
            .forest
            .get(&test.id)
            .unwrap()
            .result,
        Some(NodeResult::Pass),
        "frozen while paused"
    );
    s.update(Action::TogglePause);
    assert!(s.held.is_empty());
    assert_eq!(
        s.open
            .as_ref()
            .unwrap()
            .forest
            .get(&test.id)
            .unwrap()
            .result,
        Some(NodeResult::Incomplete)
    );
    assert_eq!(s.last_sequence, Some(seq + 2));
}

#[test]
fn resync_reloads_the_list_and_the_open_tree_keeping_the_selection() {
    let mut s = fixtures::state();
    let selected = s.open.as_ref().unwrap().selected.clone();
    let effects = s.update(Action::Resync);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::LoadRevisions { .. }))
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::LoadTree { .. })));
    assert_eq!(s.open.as_ref().unwrap().selected, selected);
    assert!(
        s.open.as_ref().unwrap().forest.is_empty(),
        "reloaded from scratch"
    );
}

#[test]
fn compare_lists_regressions_and_fixes_and_counts_them_in_the_list() {
    let s = fixtures::state();
    let changes = s.changes().unwrap();
    assert!(!changes.is_empty());
    let open = s.open.as_ref().unwrap();
    let row = s
        .revisions
        .iter()
        .find(|r| r.checkout.id == open.checkout)
        .unwrap();
    assert_eq!(row.compare, Some(crate::compare::tally(changes)));
    for c in changes {
        let n = open.forest.get(&c.node).unwrap();
        let want = match c.kind {
            crate::compare::ChangeKind::Regression => NodeResult::Fail,
            crate::compare::ChangeKind::Fix => NodeResult::Pass,
        };
        assert_eq!(n.result, Some(want), "{c:?}");
    }
}

#[test]
fn enter_on_an_event_jumps_to_its_node() {
    let mut s = fixtures::state();
    s.focus = Pane::Events;
    s.event_selected = 0;
    let target = s.visible_events()[0].id.clone();
    let effects = s.update(Action::Activate);
    assert_eq!(s.focus, Pane::Tree);
    assert_eq!(
        s.open.as_ref().unwrap().selected.as_deref(),
        Some(target.as_str())
    );
    assert!(effects.contains(&Effect::LoadNode(target)));
}

#[test]
fn edits_offer_only_allowed_transitions_and_change_nothing_until_saved() {
    let mut s = fixtures::state();
    s.focus = Pane::Tree;
    let node = s.selected_node().cloned().unwrap();
    assert_eq!(node.state, NodeState::Done);
    let effects = s.update(Action::StartEdit);
    assert_eq!(
        effects,
        [Effect::AskMayEdit {
            id: node.id.clone(),
            intent: EditIntent::Edit
        }],
        "the server is asked first"
    );
    assert_eq!(s.popup, Popup::None);
    s.update(Action::MayEdit {
        id: node.id.clone(),
        intent: EditIntent::Edit,
        answer: Ok(Some(true)),
    });
    let Popup::Edit(form) = &s.popup else {
        panic!("no form: {:?}", s.notice)
    };
    assert_eq!(form.allowed_states(), [NodeState::Done], "done is final");
    // State: cycling stays on done; result: fail -> skip.
    s.update(Action::Input(InputKey::Right));
    s.update(Action::Input(InputKey::Tab));
    s.update(Action::Input(InputKey::Right));
    s.update(Action::Input(InputKey::Enter));
    let effects = s.update(Action::Input(InputKey::Enter));
    let [Effect::SaveNode { id, body }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(id, &node.id);
    assert_eq!(body, &serde_json::json!({"result": "skip"}));
    assert_eq!(
        s.selected_node().unwrap().result,
        node.result,
        "nothing changes before the server agrees"
    );
    s.update(Action::Saved(Err(
        "401 Unauthorized: Unauthorized to complete the operation".into(),
    )));
    let notice = s.notice.clone().unwrap();
    assert!(notice.error && notice.text.contains("401"), "{notice:?}");
    assert_eq!(s.selected_node().unwrap().result, node.result);
}

#[test]
fn read_only_refuses_edits_and_says_why() {
    let mut s = fixtures::state();
    s.read_only = Some("--read-only".into());
    s.focus = Pane::Tree;
    assert!(s.update(Action::StartEdit).is_empty());
    assert_eq!(s.popup, Popup::None);
    assert!(s.notice.unwrap().text.contains("--read-only"));
}

#[test]
fn the_servers_no_is_final_and_a_server_that_cannot_say_gets_the_rule() {
    let mut s = fixtures::state();
    s.focus = Pane::Tree;
    let node = s.selected_node().cloned().unwrap();
    let ask = |answer| Action::MayEdit {
        id: node.id.clone(),
        intent: EditIntent::Edit,
        answer,
    };
    s.update(ask(Ok(Some(false))));
    assert_eq!(s.popup, Popup::None);
    assert!(
        s.notice
            .as_ref()
            .unwrap()
            .text
            .contains("the server says lab-admin may not")
    );
    // The Python server has no such route: lab-admin owns the node, so the rule allows it.
    s.update(ask(Ok(None)));
    assert!(matches!(s.popup, Popup::Edit(_)));
    s.popup = Popup::None;
    s.whoami.as_mut().unwrap().username = "someone-else".into();
    s.whoami.as_mut().unwrap().groups.clear();
    s.update(ask(Ok(None)));
    assert_eq!(s.popup, Popup::None);
}

#[test]
fn a_forbidden_transition_is_refused_before_sending() {
    let s = fixtures::state();
    let mut node = s.selected_node().cloned().unwrap();
    node.state = NodeState::Closing;
    let mut form = EditForm::new(node, serde_json::json!({}));
    form.state = NodeState::Running;
    let err = form.changes(fixtures::now()).unwrap_err();
    assert!(err.contains("not a transition"), "{err}");
}

#[test]
fn retry_publishes_the_parent_narrowed_to_the_job() {
    let mut s = fixtures::state();
    s.focus = Pane::Tree;
    let job = s
        .open
        .as_ref()
        .unwrap()
        .forest
        .nodes()
        .find(|n| n.kind == "job" && n.result == Some(NodeResult::Incomplete))
        .cloned()
        .unwrap();
    s.open.as_mut().unwrap().reveal(&job.id);
    let effects = s.update(Action::StartRetry);
    assert_eq!(
        effects,
        [Effect::AskMayEdit {
            id: job.id.clone(),
            intent: EditIntent::Retry
        }]
    );
    s.update(Action::MayEdit {
        id: job.id.clone(),
        intent: EditIntent::Retry,
        answer: Ok(Some(true)),
    });
    let Popup::Confirm(c) = &s.popup else {
        panic!("{:?}", s.notice)
    };
    let Effect::PublishRetry { data } = &c.then else {
        panic!()
    };
    assert_eq!(data["jobfilter"], serde_json::json!([job.name]));
    assert_eq!(data["kind"], "kbuild");
    assert_eq!(data["debug"]["retry_by"], serde_json::json!(job.id));
    let effects = s.update(Action::Input(InputKey::Char('y')));
    assert!(matches!(effects.as_slice(), [Effect::PublishRetry { .. }]));
}

#[test]
fn the_log_view_starts_at_the_end_and_reads_earlier_ranges_at_the_top() {
    let mut s = fixtures::state();
    s.focus = Pane::Tree;
    s.details = Some(Box::new({
        let mut n = maestro_common::Node::new("kbuild", "k", vec![]);
        n.id = s
            .selected_node()
            .map(|n| maestro_common::node::ObjectIdHex::parse(&n.id).unwrap());
        let mut a = serde_json::Map::new();
        a.insert(
            "log".into(),
            serde_json::json!("http://127.0.0.1:1/log.txt"),
        );
        n.artifacts = Some(a);
        n
    }));
    let effects = s.update(Action::ViewLog);
    assert_eq!(
        effects,
        [Effect::FetchLog {
            url: "http://127.0.0.1:1/log.txt".into(),
            before: None
        }]
    );
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    s.update(Action::LogLoaded {
        url: "http://127.0.0.1:1/log.txt".into(),
        text: Ok(text),
        start: 5_000,
        total: Some(5_690),
    });
    let Popup::Log(view) = &s.popup else { panic!() };
    assert_eq!(view.top, 100 - s.page_rows as usize, "shown from its end");
    let effects = s.update(Action::MoveTop);
    assert_eq!(
        effects,
        [Effect::FetchLog {
            url: "http://127.0.0.1:1/log.txt".into(),
            before: Some(5_000)
        }]
    );
}

#[test]
fn the_last_revision_row_loads_the_next_older_page() {
    let mut s = fixtures::state();
    s.focus = Pane::Revisions;
    let effects = s.update(Action::MoveBottom);
    assert_eq!(
        effects,
        [Effect::LoadOlderRevisions {
            filter: RevisionFilter::default(),
            skip: 4,
            limit: REVISION_PAGE
        }]
    );
    assert!(
        s.update(Action::MoveBottom).is_empty(),
        "one page at a time"
    );
    let mut older = s.revisions[3].clone();
    older.checkout.id = "6b0ee0000000000000000001".into();
    let effects = s.update(Action::OlderRevisionsLoaded {
        revisions: vec![older, s.revisions[0].clone()],
        total: 57,
    });
    assert_eq!(s.revisions.len(), 5, "appended, without duplicates");
    assert_eq!(
        effects.len(),
        1,
        "its counts are loaded; its compare when it is near"
    );
    s.update(Action::CompareLoaded {
        checkout: "6b0ee0000000000000000001".into(),
        tally: (3, 1),
    });
    assert_eq!(
        s.revisions[4].compare,
        Some((3, 1)),
        "the server's compare in the list"
    );
    assert!(!s.loading_older);
    let effects = s.update(Action::MoveDown);
    assert_eq!(
        effects[0],
        Effect::LoadCompare {
            checkout: "6b0ee0000000000000000001".into()
        },
        "the server compares the rows near the selection, once"
    );
    assert!(s.update(Action::MoveUp).is_empty());
}
