//! Deterministic data for the snapshot tests and the screenshots: a few revisions, one
//! open with its tree, the previous one for compare, events and the selected node's
//! details, all built through `State::update` as the live app builds them.
use maestro_common::event::NodeEvent;
use maestro_common::node::ObjectIdHex;
use maestro_common::{Node, NodeResult, NodeState, Timestamp};
use serde_json::{Map, json};

use crate::action::Action;
use crate::model::{Counts, NodeSummary, Revision};
use crate::state::{ConnState, State, Whoami};

mod demo;

/// The fixed "now" of the fixtures.
pub fn now() -> Timestamp {
    Timestamp::parse_iso("2026-12-01T12:00:00").unwrap_or_else(|| unreachable!())
}

fn at(minutes_ago: i64) -> Timestamp {
    now().plus_seconds(-60 * minutes_ago)
}

/// A deterministic id: `prefix` (one hex digit) and a number.
fn id(prefix: char, n: u32) -> ObjectIdHex {
    ObjectIdHex::parse(&format!("6b0e{prefix}{n:019x}")).unwrap_or_else(|_| unreachable!())
}

fn revision(tree: &str, branch: &str, describe: &str, commit: char) -> serde_json::Value {
    json!({"kernel_revision": {"tree": tree, "branch": branch,
        "commit": std::iter::repeat_n(commit, 40).collect::<String>(),
        "describe": describe, "url": "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
        "version": {"version": 6, "patchlevel": 13}}})
}

#[allow(clippy::too_many_arguments)]
fn node(
    nid: ObjectIdHex,
    parent: Option<&ObjectIdHex>,
    kind: &str,
    name: &str,
    path: &[&str],
    state: NodeState,
    result: Option<NodeResult>,
    data: serde_json::Value,
    minutes_ago: i64,
) -> Node {
    let mut n = Node::new(kind, name, path.iter().map(|s| (*s).to_owned()).collect());
    n.id = Some(nid);
    n.parent = parent.cloned();
    n.state = state;
    n.result = result;
    n.data = Some(data);
    n.owner = Some("lab-admin".into());
    n.created = at(minutes_ago);
    n.updated = at(minutes_ago - 1);
    n.timeout = at(minutes_ago).plus_seconds(6 * 3600);
    n
}

/// The tree of one revision: checkout, two kbuilds, two jobs each, six tests per job.
/// `variant` changes a few results, so that two revisions have regressions and fixes.
pub fn tree(prefix: char, describe: &str, commit: char, variant: u32) -> Vec<Node> {
    use NodeResult::*;
    let data = revision("mainline", "master", describe, commit);
    let mut nodes = Vec::new();
    let co = id(prefix, 1);
    let mut checkout = node(
        co.clone(),
        None,
        "checkout",
        "checkout",
        &["checkout"],
        NodeState::Available,
        None,
        data.clone(),
        90,
    );
    checkout.holdoff = Some(now().plus_seconds(600));
    let mut arts = Map::new();
    arts.insert(
        "tarball".into(),
        json!("https://storage.kernelci.org/mainline/master/linux.tar.gz"),
    );
    checkout.artifacts = Some(arts);
    nodes.push(checkout);
    let mut n = 2;
    for (arch, config) in [("x86_64", "x86_64_defconfig"), ("arm64", "defconfig")] {
        let kb_name = format!("kbuild-gcc-12-{arch}");
        let kb = id(prefix, n);
        n += 1;
        let mut kdata = data.clone();
        kdata["arch"] = json!(arch);
        kdata["config_full"] = json!(config);
        kdata["compiler"] = json!("gcc-12");
        let mut kbuild = node(
            kb.clone(),
            Some(&co),
            "kbuild",
            &kb_name,
            &["checkout", &kb_name],
            NodeState::Done,
            Some(Pass),
            kdata.clone(),
            80,
        );
        let mut arts = Map::new();
        arts.insert(
            "build_log".into(),
            json!(format!("https://storage.kernelci.org/{arch}/build.log")),
        );
        arts.insert(
            "kernel".into(),
            json!(format!("https://storage.kernelci.org/{arch}/bzImage")),
        );
        kbuild.artifacts = Some(arts);
        nodes.push(kbuild);
        for platform in ["qemu", "bcm2711-rpi-4-b"] {
            let job_name = format!("baseline-{platform}");
            let job = id(prefix, n);
            n += 1;
            let mut jdata = kdata.clone();
            jdata["platform"] = json!(platform);
            jdata["runtime"] = json!("lava-collabora");
            let running = variant == 1 && arch == "arm64" && platform == "qemu";
            let incomplete = arch == "arm64" && platform == "bcm2711-rpi-4-b";
            if incomplete {
                jdata["error_code"] = json!("Infrastructure");
            }
            let (jstate, jresult) = if running {
                (NodeState::Running, None)
            } else if incomplete {
                (NodeState::Done, Some(Incomplete))
            } else {
                (NodeState::Done, Some(Pass))
            };
            nodes.push(node(
                job.clone(),
                Some(&kb),
                "job",
                &job_name,
                &["checkout", &kb_name, &job_name],
                jstate,
                jresult,
                jdata.clone(),
                60,
            ));
            if running || incomplete {
                continue;
            }
            for (i, test) in [
                "login",
                "dmesg.emerg",
                "dmesg.alert",
                "dmesg.crit",
                "kunit.ext4",
                "kunit.list",
            ]
            .iter()
            .enumerate()
            {
                let flips = (i as u32 + variant + n).is_multiple_of(5);
                let result = match (test, flips) {
                    (&"dmesg.alert", _) if platform == "qemu" => Skip,
                    (_, true) => Fail,
                    _ => Pass,
                };
                nodes.push(node(
                    id(prefix, n),
                    Some(&job),
                    "test",
                    test,
                    &["checkout", &kb_name, &job_name, test],
                    NodeState::Done,
                    Some(result),
                    jdata.clone(),
                    40,
                ));
                n += 1;
            }
        }
    }
    nodes
}

fn checkout_row(
    tree: &str,
    branch: &str,
    describe: &str,
    commit: char,
    prefix: char,
    minutes_ago: i64,
    counts: Counts,
) -> Revision {
    let n = node(
        id(prefix, 1),
        None,
        "checkout",
        "checkout",
        &["checkout"],
        NodeState::Done,
        Some(NodeResult::Pass),
        revision(tree, branch, describe, commit),
        minutes_ago,
    );
    let mut r = Revision::new(NodeSummary::of(&n));
    r.summary = Some(counts);
    r
}

fn event(n: &Node, previous: Option<(&str, Option<&str>)>) -> Action {
    let mut ev = NodeEvent::of(n, None, false);
    if let Some((state, result)) = previous {
        ev.op = "updated".into();
        ev.previous_state = Some(state.into());
        ev.previous_result = Some(result.map(str::to_owned));
    }
    Action::NodeChanged {
        sequence: None,
        time: n.updated,
        event: Box::new(ev),
    }
}

/// A state as the screens show it after loading: four revisions, the newest mainline one
/// open with a test selected, the previous one compared, some events.
pub fn state() -> State {
    let mut s = State::new(
        "staging (https://staging.kernelci.org:9000/)".into(),
        None,
        now(),
    );
    s.update(Action::WhoamiLoaded(Ok(Whoami {
        username: "lab-admin".into(),
        is_superuser: false,
        groups: vec!["runtime:lava-collabora:node-editor".into()],
    })));
    let current = tree('a', "v6.13-rc2", 'a', 1);
    let previous = tree('b', "v6.13-rc1", 'b', 0);
    let count = |nodes: &[Node]| {
        let mut c = Counts::default();
        for n in nodes.iter().skip(1) {
            c.add(crate::model::Status::of(n.state, n.result), 1);
        }
        c
    };
    let revisions = vec![
        checkout_row(
            "next",
            "master",
            "next-20261201",
            'c',
            'c',
            12,
            Counts {
                pass: 1412,
                fail: 23,
                incomplete: 4,
                skip: 0,
                running: 310,
            },
        ),
        {
            let mut r = Revision::new(NodeSummary::of(&current[0]));
            r.summary = Some(count(&current));
            r
        },
        checkout_row(
            "stable",
            "linux-6.12.y",
            "v6.12.4",
            'd',
            'd',
            300,
            Counts {
                pass: 2051,
                fail: 7,
                incomplete: 2,
                skip: 3,
                running: 0,
            },
        ),
        {
            let mut r = Revision::new(NodeSummary::of(&previous[0]));
            r.summary = Some(count(&previous));
            r.compare = Some((2, 0));
            r
        },
    ];
    s.update(Action::RevisionsLoaded {
        revisions,
        total: 57,
        sequence: Some(48_210),
    });
    s.update(Action::Connection(ConnState::Live));
    s.update(Action::MoveDown);
    s.update(Action::Activate);
    let co = current[0].id_str().to_owned();
    s.update(Action::TreePage {
        checkout: co.clone(),
        nodes: current.iter().map(NodeSummary::of).collect(),
        done: true,
    });
    s.update(Action::PreviousLoaded {
        checkout: co,
        previous: Some(previous[0].id_str().to_owned()),
        nodes: previous.iter().map(NodeSummary::of).collect(),
    });
    // Open the first kbuild and its first job, select a failed test.
    for a in [
        Action::MoveDown,
        Action::Expand,
        Action::MoveDown,
        Action::Expand,
    ] {
        s.update(a);
    }
    let failed = current
        .iter()
        .find(|n| n.kind == "test" && n.result == Some(NodeResult::Fail))
        .cloned();
    if let Some(f) = &failed {
        if let Some(open) = s.open.as_mut() {
            open.reveal(f.id_str());
        }
        s.update(Action::NodeLoaded(Box::new(f.clone())));
    }
    // A few live events, the last ones newest.
    let mut seq = 48_210;
    for n in current.iter().filter(|n| n.kind != "checkout").take(9) {
        seq += 1;
        let prev = if n.kind == "test" {
            None
        } else {
            Some(("running", None))
        };
        let mut a = event(n, prev);
        if let Action::NodeChanged { sequence, .. } = &mut a {
            *sequence = Some(seq);
        }
        s.update(a);
    }
    // The events above are what built the tree: the counts are those of the snapshot.
    let counts = count(&current);
    if let Some(r) = s
        .revisions
        .iter_mut()
        .find(|r| r.checkout.id == current[0].id_str())
    {
        r.summary = Some(counts);
    }
    s.notice = None;
    s
}

/// The state with `pane` focused.
pub fn focused(pane: crate::state::Pane) -> State {
    let mut s = state();
    s.focus = pane;
    s
}

/// Every screen the snapshot tests and the screenshots show, by name.
pub fn screens() -> Vec<(&'static str, State)> {
    use crate::action::InputKey;
    use crate::state::{LogView, Pane, Popup};
    let with = |pane: Pane, actions: &[Action]| {
        let mut s = focused(pane);
        for a in actions {
            s.update(a.clone());
        }
        s
    };
    let selected = focused(Pane::Tree)
        .selected_node()
        .map(|n| n.id.clone())
        .unwrap_or_default();
    let edit = [
        Action::StartEdit,
        Action::MayEdit {
            id: selected,
            intent: crate::effect::EditIntent::Edit,
            answer: Ok(Some(true)),
        },
        Action::Input(InputKey::Tab),
        Action::Input(InputKey::Right),
    ];
    let mut confirm = edit.to_vec();
    confirm.push(Action::Input(InputKey::Enter));
    let mut log = focused(Pane::Tree);
    let lines: Vec<String> = (1..=60)
        .map(|i| {
            format!(
                "[{:>9.6}] {}",
                f64::from(i) * 0.137,
                match i % 7 {
                    0 => "kernel: EXT4-fs (vda1): mounted filesystem with ordered data mode",
                    1 => "kernel: Run /sbin/init as init process",
                    2 => "systemd[1]: Started Journal Service.",
                    3 => "kernel: usb 1-1: new high-speed USB device number 2 using xhci_hcd",
                    4 => "kernel: WARNING: CPU: 1 PID: 312 at mm/page_alloc.c:4421",
                    5 => "login: root logged in on ttyAMA0",
                    _ => "kernel: random: crng init done",
                }
            )
        })
        .collect();
    log.popup = Popup::Log(Box::new(LogView {
        url: "https://storage.kernelci.org/mainline/master/v6.13-rc2/arm64/log.txt".into(),
        lines,
        start: 0,
        total: Some(5_120),
        top: 36,
        loading: false,
        error: None,
        search: "WARNING".into(),
        searching: false,
    }));
    vec![
        ("demo", demo::state()),
        ("revisions", focused(Pane::Revisions)),
        ("tree", focused(Pane::Tree)),
        ("details", focused(Pane::Details)),
        ("events", focused(Pane::Events)),
        ("compare", with(Pane::Tree, &[Action::ToggleCompare])),
        ("help", with(Pane::Tree, &[Action::ToggleHelp])),
        ("edit_form", with(Pane::Tree, &edit)),
        ("edit_confirm", with(Pane::Tree, &confirm)),
        ("log_view", log),
    ]
}
