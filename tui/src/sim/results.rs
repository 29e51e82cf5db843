//! The results the simulated labs report, as pure functions of `--seed`, the tree, the
//! revision's place in its tree and the test: repeatable runs, whatever the timing.
//!
//! A test is broken over a run of consecutive revisions of a tree (a regression, then its
//! fix a few revisions later), fails now and then on its own (flaky), and is skipped on
//! some platforms always. Jobs are sometimes incomplete (a lab's error) or lost (never
//! report: the server's timeout rule closes them).

/// A source of repeatable randomness: hashes of the seed and what is being decided.
#[derive(Clone, Copy, Debug)]
pub struct Dice {
    seed: u64,
}

/// How long a regression lasts at most, in revisions.
const MAX_BROKEN_RUN: u64 = 4;

impl Dice {
    /// Dice of `--seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// A number in [0, 1) fixed by the seed, `parts` and `n`.
    pub fn unit(&self, parts: &[&str], n: u64) -> f64 {
        (self.hash(parts, n) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A 64-bit hash of the seed, `parts` and `n` (FNV-1a, then splitmix64's finaliser):
    /// the same on every machine and run, unlike std's randomly keyed hasher.
    pub fn hash(&self, parts: &[&str], n: u64) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(&self.seed.to_le_bytes());
        for p in parts {
            eat(p.as_bytes());
            eat(&[0xff]);
        }
        eat(&n.to_le_bytes());
        let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// One of `items`, fixed by the seed, `parts` and `n`.
    pub fn pick<'a, T>(&self, parts: &[&str], n: u64, items: &'a [T]) -> &'a T {
        &items[(self.hash(parts, n) % items.len() as u64) as usize]
    }

    /// Whether `key` (a test or a build) is broken on `tree` at its revision number `rev`:
    /// a regression started at some revision `j <= rev` with probability `p` and lasts 1
    /// to `MAX_BROKEN_RUN` revisions.
    pub fn broken(&self, tree: &str, key: &str, rev: u64, p: f64) -> bool {
        (rev.saturating_sub(MAX_BROKEN_RUN - 1)..=rev).any(|start| {
            self.unit(&["regression", tree, key], start) < p
                && start + 1 + self.hash(&["fixed-after", tree, key], start) % MAX_BROKEN_RUN > rev
        })
    }
}

/// What a test reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `pass`.
    Pass,
    /// `fail`.
    Fail,
    /// `skip`.
    Skip,
}

impl Outcome {
    /// The API's result value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

/// Where a result is decided: the tree, the revision's number in it, a retry count.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    /// The tree's name.
    pub tree: &'a str,
    /// The revision's number in its tree (0 for the first the simulator made).
    pub rev: u64,
    /// 0 for the first run, then 1, 2 for retries.
    pub retry: u64,
}

/// Chance per test and revision that a regression starts.
const P_REGRESSION: f64 = 0.003;
/// Chance per test run of a failure that goes away by itself.
const P_FLAKY: f64 = 0.002;
/// Share of tests a platform always skips.
const P_SKIP: f64 = 0.03;

/// The result of the test at `key` (job name, platform and case path) in `run`.
pub fn test_outcome(dice: &Dice, run: Run<'_>, platform: &str, key: &str) -> Outcome {
    if dice.unit(&["skip", platform, key], 0) < P_SKIP {
        return Outcome::Skip;
    }
    if dice.broken(run.tree, key, run.rev, P_REGRESSION)
        || dice.unit(&["flaky", run.tree, key], run.rev * 16 + run.retry) < P_FLAKY
    {
        return Outcome::Fail;
    }
    Outcome::Pass
}

/// How a job run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    /// It ran and reported its tests.
    Complete,
    /// The lab failed it: `error_code` and `error_msg` as LAVA's callback reports them.
    Incomplete {
        /// `data.error_code`.
        code: &'static str,
        /// `data.error_msg`.
        msg: &'static str,
    },
    /// It never reports; the server's timeout rule closes it.
    Lost,
}

const LAB_ERRORS: &[(&str, &str)] = &[
    (
        "Infrastructure",
        "Connection closed by the device during boot",
    ),
    (
        "Infrastructure",
        "Unable to power on the device: PDU not responding",
    ),
    (
        "Job",
        "Device failed to boot: no login prompt after 300 seconds",
    ),
    (
        "LAVATimeout",
        "auto-login-action timed out after 255 seconds",
    ),
    (
        "Bug",
        "lava-dispatcher: unexpected exception in deploy-device-env",
    ),
];

/// How the job `key` ends in `run`.
pub fn job_end(dice: &Dice, run: Run<'_>, key: &str) -> JobEnd {
    let roll = dice.unit(&["job-end", run.tree, key], run.rev * 16 + run.retry);
    if roll < 0.012 {
        JobEnd::Lost
    } else if roll < 0.045 {
        let (code, msg) = *dice.pick(&["lab-error", key], run.rev * 16 + run.retry, LAB_ERRORS);
        JobEnd::Incomplete { code, msg }
    } else {
        JobEnd::Complete
    }
}

/// How a kbuild ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildEnd {
    /// It built.
    Pass,
    /// It did not compile: `fail`, with the compiler's error in the log.
    Fail,
    /// The build cluster failed it.
    Incomplete,
}

/// How the kbuild `name` ends in `run`.
pub fn build_end(dice: &Dice, run: Run<'_>, name: &str) -> BuildEnd {
    let key = format!("kbuild:{name}");
    if dice.broken(run.tree, &key, run.rev, 0.015) {
        return BuildEnd::Fail;
    }
    if dice.unit(&["kbuild-infra", run.tree, &key], run.rev * 16 + run.retry) < 0.01 {
        return BuildEnd::Incomplete;
    }
    BuildEnd::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_are_repeatable_and_seeded() {
        let a = Dice::new(7);
        assert_eq!(a.hash(&["x", "y"], 3), Dice::new(7).hash(&["x", "y"], 3));
        assert_ne!(a.hash(&["x", "y"], 3), Dice::new(8).hash(&["x", "y"], 3));
        assert_ne!(a.hash(&["xy"], 3), a.hash(&["x", "y"], 3));
        let mean = (0..10_000).map(|i| a.unit(&["u"], i)).sum::<f64>() / 10_000.0;
        assert!((0.48..0.52).contains(&mean), "{mean}");
    }

    #[test]
    fn regressions_start_and_get_fixed() {
        let dice = Dice::new(1);
        let (mut regressions, mut fixes) = (0, 0);
        for key in 0..2_000 {
            let key = format!("t{key}");
            for rev in 1..30 {
                match (
                    dice.broken("mainline", &key, rev - 1, 0.01),
                    dice.broken("mainline", &key, rev, 0.01),
                ) {
                    (false, true) => regressions += 1,
                    (true, false) => fixes += 1,
                    _ => {}
                }
            }
        }
        // ~0.01 × 2,000 × 29 starts, most of them fixed within the window.
        assert!((400..800).contains(&regressions), "{regressions}");
        assert!(fixes > regressions / 2, "{fixes}");
    }

    #[test]
    fn most_tests_pass() {
        let dice = Dice::new(3);
        let run = Run {
            tree: "next",
            rev: 5,
            retry: 0,
        };
        let outcomes: Vec<_> = (0..5_000)
            .map(|i| test_outcome(&dice, run, "qemu-x86", &format!("t{i}")))
            .collect();
        let pass = outcomes.iter().filter(|o| **o == Outcome::Pass).count();
        let skip = outcomes.iter().filter(|o| **o == Outcome::Skip).count();
        assert!(pass > 4_600 && skip > 50, "{pass} pass, {skip} skip");
        assert!(outcomes.contains(&Outcome::Fail));
    }
}
