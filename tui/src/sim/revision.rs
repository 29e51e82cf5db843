//! New kernel revisions of the followed trees: describe strings, 40-hex commits and
//! versions as `git describe` and KernelCI's checkout give them.
use chrono::Duration;
use serde_json::{Value, json};

use super::catalog::{DescribeStyle, TREES, Tree};
use super::results::Dice;

/// One revision of a tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    /// The tree.
    pub tree: Tree,
    /// Its number in the tree, from 0.
    pub number: u64,
    /// `git describe`.
    pub describe: String,
    /// 40 hex digits.
    pub commit: String,
}

const MESSAGES: &[&str] = &[
    "Merge tag 'net-6.13-rc4' of git://git.kernel.org/pub/scm/linux/kernel/git/netdev/net",
    "Merge tag 'drm-fixes-2026-12-01' of https://gitlab.freedesktop.org/drm/kernel",
    "Merge tag 'sched-urgent-2026-11-30' of git://git.kernel.org/pub/scm/linux/kernel/git/tip/tip",
    "Merge tag 'mm-hotfixes-stable' of git://git.kernel.org/pub/scm/linux/kernel/git/akpm/mm",
    "Merge branch 'for-next' of git://git.kernel.org/pub/scm/linux/kernel/git/broonie/sound.git",
    "Merge tag 'usb-6.13-rc2' of git://git.kernel.org/pub/scm/linux/kernel/git/gregkh/usb",
    "selftests: timers: fix the nanosleep test on slow boards",
    "arm64: dts: rockchip: add the missing pinctrl of the SD card",
];

impl Revision {
    /// The revisions the simulator makes, in order: each one's tree drawn by the dice,
    /// weighted as KernelCI sees them (mainline and next move most), numbered within its
    /// tree. The first two are both mainline's, so that the compare view has a pair at once.
    pub fn sequence(dice: Dice) -> impl Iterator<Item = Revision> {
        let weights: u32 = TREES.iter().map(|t| t.weight).sum();
        let mut per_tree = vec![0u64; TREES.len()];
        (0u64..).map(move |n| {
            let mut roll = (dice.hash(&["tree"], n) % u64::from(weights)) as u32;
            let drawn = TREES
                .iter()
                .position(|t| {
                    let hit = roll < t.weight;
                    roll = roll.saturating_sub(t.weight);
                    hit
                })
                .unwrap_or(0);
            let index = if n < 2 { 0 } else { drawn };
            let revision = Revision::new(&dice, TREES[index], per_tree[index]);
            per_tree[index] += 1;
            revision
        })
    }

    /// Revision `number` of `tree`.
    pub fn new(dice: &Dice, tree: Tree, number: u64) -> Self {
        let commit: String = (0..3)
            .map(|i| format!("{:016x}", dice.hash(&["commit", tree.name], number * 4 + i)))
            .collect::<String>()[..40]
            .to_owned();
        let short = &commit[..12];
        let extra_commits = 1 + dice.hash(&["commits", tree.name], number) % 240;
        let (major, minor) = tree.version;
        let describe = match tree.style {
            DescribeStyle::ReleaseCandidate => {
                let rc = (1 + number / 6).min(8);
                format!("v{major}.{minor}-rc{rc}-{extra_commits}-g{short}")
            }
            DescribeStyle::NextDate => {
                // From a fixed day, not the clock: a `--seed` run (and the demo screenshot)
                // must give the same describe strings on any day.
                let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default()
                    + Duration::days(number as i64);
                format!("next-{}", day.format("%Y%m%d"))
            }
            DescribeStyle::Stable => format!("v{major}.{minor}.{}", 5 + number),
            DescribeStyle::StableRc => format!(
                "v{major}.{minor}.{}-{}-g{short}",
                64 + number / 3,
                extra_commits % 40 + 1
            ),
        };
        Self {
            tree,
            number,
            describe,
            commit,
        }
    }

    /// `data.kernel_revision` of its nodes.
    pub fn kernel_revision(&self, dice: &Dice) -> Value {
        let (major, minor) = self.tree.version;
        let (sublevel, extra) = match self.tree.style {
            DescribeStyle::Stable | DescribeStyle::StableRc => {
                let rest = self
                    .describe
                    .trim_start_matches(&format!("v{major}.{minor}."));
                let (sub, extra) = rest.split_once('-').unwrap_or((rest, ""));
                (
                    sub.parse::<u32>().ok(),
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!("-{extra}")
                    },
                )
            }
            DescribeStyle::ReleaseCandidate => (
                None,
                self.describe
                    .trim_start_matches(&format!("v{major}.{minor}"))
                    .to_owned(),
            ),
            DescribeStyle::NextDate => (None, format!("-{}", self.describe)),
        };
        json!({
            "tree": self.tree.name,
            "url": self.tree.url,
            "branch": self.tree.branch,
            "commit": self.commit,
            "describe": self.describe,
            "version": {
                "version": major,
                "patchlevel": minor,
                "sublevel": sublevel,
                "extra": extra,
                "name": null,
            },
            "commit_tags": [],
            "commit_message": dice.pick(&["message", self.tree.name], self.number, MESSAGES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_starts_with_two_mainline_revisions_and_numbers_per_tree() {
        let revs: Vec<Revision> = Revision::sequence(Dice::new(1)).take(40).collect();
        assert_eq!(revs[0].tree.name, "mainline");
        assert_eq!(revs[1].tree.name, "mainline");
        assert_eq!((revs[0].number, revs[1].number), (0, 1));
        for tree in TREES {
            let numbers: Vec<u64> = revs
                .iter()
                .filter(|r| r.tree == *tree)
                .map(|r| r.number)
                .collect();
            assert!(
                numbers.iter().enumerate().all(|(i, n)| *n == i as u64),
                "{}",
                tree.name
            );
        }
        assert!(revs.iter().any(|r| r.tree.name == "next"));
    }

    #[test]
    fn revisions_look_like_git_describe() {
        let dice = Dice::new(42);
        for tree in TREES {
            let a = Revision::new(&dice, *tree, 3);
            assert_eq!(a, Revision::new(&dice, *tree, 3), "repeatable");
            assert_eq!(a.commit.len(), 40);
            assert!(a.commit.chars().all(|c| c.is_ascii_hexdigit()));
            assert_ne!(a.commit, Revision::new(&dice, *tree, 4).commit);
            let rev = a.kernel_revision(&dice);
            assert_eq!(rev["version"]["version"], tree.version.0);
            match tree.style {
                DescribeStyle::ReleaseCandidate => {
                    assert!(a.describe.starts_with("v6.13-rc1-"), "{}", a.describe);
                    assert!(a.describe.ends_with(&a.commit[..12]));
                }
                DescribeStyle::NextDate => assert!(a.describe.starts_with("next-20")),
                DescribeStyle::Stable => {
                    assert_eq!(a.describe, "v6.12.8");
                    assert_eq!(rev["version"]["sublevel"], 8);
                }
                DescribeStyle::StableRc => {
                    assert!(a.describe.starts_with("v6.6.65-"), "{}", a.describe);
                    assert_eq!(rev["version"]["sublevel"], 65);
                }
            }
        }
    }
}
