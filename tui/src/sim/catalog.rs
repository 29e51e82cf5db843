//! What the simulated pipeline builds and runs: the trees it follows, the kbuilds of a
//! checkout and the jobs of a kbuild, per `--size`. Pure data; names follow KernelCI's.
use serde::Serialize;

/// How much a checkout grows into (`--size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// A couple of kbuilds and small jobs (~150 nodes per checkout): quick tests.
    Small,
    /// About 2,000 nodes per checkout, as a busy KernelCI tree.
    Typical,
    /// About 15,000 nodes per checkout, as mainline or next with every lab.
    Big,
}

/// A tree the pipeline follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tree {
    /// KernelCI's name of the tree.
    pub name: &'static str,
    /// The branch followed.
    pub branch: &'static str,
    /// The repository.
    pub url: &'static str,
    /// How describe strings look on this tree.
    pub style: DescribeStyle,
    /// Kernel version (major, patchlevel) the tree is on.
    pub version: (u32, u32),
    /// How often a new revision of it appears, relative to the others.
    pub weight: u32,
}

/// The shape of `git describe` on a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescribeStyle {
    /// `v6.13-rc3-45-g0123456789ab`: mainline and maintainer trees.
    ReleaseCandidate,
    /// `next-20261201`: linux-next tags each day.
    NextDate,
    /// `v6.12.5`, then `v6.12.6`: stable releases.
    Stable,
    /// `v6.6.64-12-g0123456789ab`: stable-rc, patches on top of a release.
    StableRc,
}

/// The trees, mainline first.
pub const TREES: &[Tree] = &[
    Tree {
        name: "mainline",
        branch: "master",
        url: "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
        style: DescribeStyle::ReleaseCandidate,
        version: (6, 13),
        weight: 4,
    },
    Tree {
        name: "next",
        branch: "master",
        url: "https://git.kernel.org/pub/scm/linux/kernel/git/next/linux-next.git",
        style: DescribeStyle::NextDate,
        version: (6, 13),
        weight: 3,
    },
    Tree {
        name: "stable",
        branch: "linux-6.12.y",
        url: "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git",
        style: DescribeStyle::Stable,
        version: (6, 12),
        weight: 2,
    },
    Tree {
        name: "stable-rc",
        branch: "linux-6.6.y",
        url: "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux-stable-rc.git",
        style: DescribeStyle::StableRc,
        version: (6, 6),
        weight: 2,
    },
    Tree {
        name: "netdev-next",
        branch: "main",
        url: "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git",
        style: DescribeStyle::ReleaseCandidate,
        version: (6, 13),
        weight: 1,
    },
    Tree {
        name: "kselftest",
        branch: "next",
        url: "https://git.kernel.org/pub/scm/linux/kernel/git/shuah/linux-kselftest.git",
        style: DescribeStyle::ReleaseCandidate,
        version: (6, 13),
        weight: 1,
    },
    Tree {
        name: "broonie-sound",
        branch: "for-next",
        url: "https://git.kernel.org/pub/scm/linux/kernel/git/broonie/sound.git",
        style: DescribeStyle::ReleaseCandidate,
        version: (6, 13),
        weight: 1,
    },
];

/// The defconfig an architecture builds by default.
fn default_defconfig(arch: &str) -> &'static str {
    match arch {
        "x86_64" => "x86_64_defconfig",
        "arm" => "multi_v7_defconfig",
        _ => "defconfig",
    }
}

/// One kbuild of a checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// `x86_64`, `arm64`, `arm`, `riscv`.
    pub arch: &'static str,
    /// The base defconfig.
    pub defconfig: &'static str,
    /// Config fragments on top (`kselftest`).
    pub fragments: &'static [&'static str],
    /// `gcc-12`, `clang-17`.
    pub compiler: &'static str,
    /// The jobs run on what it builds.
    pub jobs: Vec<Job>,
}

impl Build {
    /// The node name, as KernelCI names kbuilds: `kbuild-gcc-12-x86`,
    /// `kbuild-gcc-12-arm64-kselftest`, `kbuild-gcc-12-x86-allmodconfig`.
    pub fn name(&self) -> String {
        let arch = if self.arch == "x86_64" {
            "x86"
        } else {
            self.arch
        };
        let mut name = format!("kbuild-{}-{arch}", self.compiler);
        if self.defconfig != default_defconfig(self.arch) {
            name.push('-');
            name.push_str(self.defconfig);
        }
        for f in self.fragments {
            name.push('-');
            name.push_str(f);
        }
        name
    }

    /// `config_full`: the defconfig and its fragments.
    pub fn config_full(&self) -> String {
        std::iter::once(self.defconfig)
            .chain(self.fragments.iter().copied())
            .collect::<Vec<_>>()
            .join("+")
    }

    /// The kernel image's file name for its architecture.
    pub fn kernel_image(&self) -> &'static str {
        match self.arch {
            "x86_64" => "bzImage",
            "arm" => "zImage",
            _ => "Image",
        }
    }
}

/// One job: a test suite run on a platform by a lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The job node's name (`baseline-x86`, `kselftest-timers`, `ltp-syscalls`, `kunit`).
    pub name: String,
    /// The suite and its size.
    pub suite: Suite,
    /// The board or VM.
    pub platform: &'static str,
    /// The lab (`lava-collabora`, `k8s-gke-eu-west4`).
    pub runtime: &'static str,
}

/// A test suite and how many tests a run of it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suite {
    /// Boot, login and dmesg checks.
    Baseline,
    /// One kselftest collection with this many tests.
    Kselftest(&'static str, usize),
    /// LTP's syscalls tests, this many.
    Ltp(usize),
    /// KUnit, this many test cases over its suites.
    Kunit(usize),
}

impl Suite {
    /// The job node's name on `arch`.
    pub fn job_name(&self, arch: &str) -> String {
        match self {
            Self::Baseline => match arch {
                "x86_64" => "baseline-x86".to_owned(),
                other => format!("baseline-{other}"),
            },
            Self::Kselftest(collection, _) => format!("kselftest-{collection}"),
            Self::Ltp(_) => "ltp-syscalls".to_owned(),
            Self::Kunit(_) => "kunit".to_owned(),
        }
    }

    /// Base run time in seconds (before `--rate`).
    pub fn run_secs(&self) -> f64 {
        match self {
            Self::Baseline => 6.0,
            Self::Kselftest(_, n) => 8.0 + *n as f64 / 20.0,
            Self::Ltp(n) => 15.0 + *n as f64 / 60.0,
            Self::Kunit(_) => 5.0,
        }
    }
}

/// Boards and VMs per architecture, with their lab.
const PLATFORMS: &[(&str, &str, &str)] = &[
    ("x86_64", "qemu-x86", "lava-collabora"),
    ("x86_64", "asus-C436FA-Flip-hatch", "lava-collabora"),
    ("x86_64", "hp-x360-14-G1-sona", "lava-collabora"),
    (
        "x86_64",
        "dell-latitude-5400-8665U-sarien",
        "lava-collabora",
    ),
    ("arm64", "qemu-arm64", "lava-collabora"),
    ("arm64", "bcm2711-rpi-4-b", "lava-broonie"),
    ("arm64", "meson-g12b-a311d-khadas-vim3", "lava-baylibre"),
    ("arm64", "sun50i-h6-pine-h64", "lava-collabora"),
    ("arm64", "mt8195-cherry-tomato-r2", "lava-collabora"),
    ("arm", "qemu-arm", "lava-collabora"),
    ("arm", "bcm2836-rpi-2-b", "lava-baylibre"),
    ("arm", "imx6q-sabrelite", "lava-broonie"),
    ("riscv", "qemu-riscv64", "lava-collabora"),
    ("riscv", "sun20i-d1-nezha", "lava-baylibre"),
];

/// The first `n` platforms of `arch`.
fn platforms(arch: &str, n: usize) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    PLATFORMS
        .iter()
        .filter(move |(a, _, _)| *a == arch)
        .take(n)
        .map(|(_, p, r)| (*p, *r))
}

fn jobs_on(arch: &str, n: usize, suite: &Suite) -> Vec<Job> {
    platforms(arch, n)
        .map(|(platform, runtime)| Job {
            name: suite.job_name(arch),
            suite: suite.clone(),
            platform,
            runtime,
        })
        .collect()
}

/// KUnit runs in Kubernetes, once per build.
fn kunit(n: usize) -> Job {
    Job {
        name: "kunit".to_owned(),
        suite: Suite::Kunit(n),
        platform: "kubernetes",
        runtime: "k8s-gke-eu-west4",
    }
}

/// Sizes of the suites, and how many boards run them.
struct Plan {
    baseline_boards: usize,
    kselftest: &'static [(&'static str, usize)],
    kselftest_boards: usize,
    ltp: usize,
    ltp_boards: usize,
    kunit: usize,
    extra_builds: bool,
}

fn plan(size: Size) -> Plan {
    match size {
        Size::Small => Plan {
            baseline_boards: 2,
            kselftest: &[],
            kselftest_boards: 0,
            ltp: 0,
            ltp_boards: 0,
            kunit: 40,
            extra_builds: false,
        },
        Size::Typical => Plan {
            baseline_boards: 2,
            kselftest: &[("timers", 24), ("dt", 60), ("cpufreq", 12)],
            kselftest_boards: 2,
            ltp: 500,
            ltp_boards: 1,
            kunit: 160,
            extra_builds: false,
        },
        Size::Big => Plan {
            baseline_boards: 5,
            kselftest: &[
                ("timers", 24),
                ("dt", 150),
                ("cpufreq", 12),
                ("net", 420),
                ("seccomp", 95),
                ("mm", 110),
            ],
            kselftest_boards: 3,
            ltp: 1_400,
            ltp_boards: 2,
            kunit: 450,
            extra_builds: true,
        },
    }
}

/// The kbuilds of a checkout at `size`, each with its jobs.
pub fn builds(size: Size) -> Vec<Build> {
    let p = plan(size);
    let mut builds = Vec::new();
    for (arch, defconfig) in [
        ("x86_64", "x86_64_defconfig"),
        ("arm64", "defconfig"),
        ("arm", "multi_v7_defconfig"),
        ("riscv", "defconfig"),
    ] {
        if size == Size::Small && (arch == "arm" || arch == "riscv") {
            continue;
        }
        let mut jobs = jobs_on(arch, p.baseline_boards, &Suite::Baseline);
        jobs.push(kunit(p.kunit));
        builds.push(Build {
            arch,
            defconfig,
            fragments: &[],
            compiler: "gcc-12",
            jobs,
        });
        if !p.kselftest.is_empty() && (arch == "x86_64" || arch == "arm64") {
            let mut jobs = Vec::new();
            for (collection, n) in p.kselftest {
                jobs.extend(jobs_on(
                    arch,
                    p.kselftest_boards,
                    &Suite::Kselftest(collection, *n),
                ));
            }
            jobs.extend(jobs_on(arch, p.ltp_boards, &Suite::Ltp(p.ltp)));
            builds.push(Build {
                arch,
                defconfig,
                fragments: &["kselftest"],
                compiler: "gcc-12",
                jobs,
            });
        }
    }
    if size != Size::Small {
        // Build coverage only: nothing boots these.
        builds.push(Build {
            arch: "x86_64",
            defconfig: "allmodconfig",
            fragments: &[],
            compiler: "gcc-12",
            jobs: Vec::new(),
        });
        builds.push(Build {
            arch: "x86_64",
            defconfig: "x86_64_defconfig",
            fragments: &[],
            compiler: "clang-17",
            jobs: jobs_on("x86_64", 1, &Suite::Baseline),
        });
    }
    if p.extra_builds {
        for arch in ["arm64", "arm", "riscv"] {
            builds.push(Build {
                arch,
                defconfig: "allmodconfig",
                fragments: &[],
                compiler: "gcc-12",
                jobs: Vec::new(),
            });
            let mut jobs = jobs_on(arch, p.baseline_boards, &Suite::Baseline);
            jobs.push(kunit(p.kunit));
            builds.push(Build {
                arch,
                defconfig: if arch == "arm" {
                    "multi_v7_defconfig"
                } else {
                    "defconfig"
                },
                fragments: &[],
                compiler: "clang-17",
                jobs,
            });
        }
    }
    builds
}

/// How many nodes a checkout grows into at `size` when everything builds and reports.
pub fn nodes_per_checkout(size: Size) -> usize {
    1 + builds(size)
        .iter()
        .map(|b| {
            1 + b
                .jobs
                .iter()
                .map(|j| super::suites::node_count(&j.suite))
                .sum::<usize>()
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::super::suites;
    use super::*;

    #[test]
    fn sizes_are_what_the_options_promise() {
        let small = nodes_per_checkout(Size::Small);
        let typical = nodes_per_checkout(Size::Typical);
        let big = nodes_per_checkout(Size::Big);
        eprintln!("small {small}, typical {typical}, big {big}");
        assert!((80..=300).contains(&small), "small: {small}");
        assert!((1_700..=2_300).contains(&typical), "typical: {typical}");
        assert!((13_000..=17_000).contains(&big), "big: {big}");
        for size in [Size::Small, Size::Typical, Size::Big] {
            for build in builds(size) {
                for job in &build.jobs {
                    assert!(suites::cases(&job.suite).len() <= 1_500, "{}", job.name);
                }
                let mut names: Vec<_> = build.jobs.iter().map(|j| (&j.name, j.platform)).collect();
                names.sort();
                names.dedup();
                assert_eq!(names.len(), build.jobs.len(), "a job twice on one board");
            }
            let mut names: Vec<_> = builds(size).iter().map(Build::name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), builds(size).len(), "two kbuilds named alike");
        }
    }
}
