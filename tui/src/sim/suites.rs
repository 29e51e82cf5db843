//! The tests a job of each suite reports: leaf test paths under the job, with the groups
//! they nest in, named as baseline, kselftest, LTP and KUnit name theirs.
use super::catalog::Suite;

/// One test a job reports: its path below the job node (groups, then the test).
pub type CasePath = Vec<String>;

const DMESG: &[&str] = &["emerg", "alert", "crit", "err", "warning"];

const KSELFTEST_WORDS: &[&str] = &[
    "basic",
    "nanosleep",
    "posix_timers",
    "set-timer-lat",
    "inconsistency-check",
    "raw_skew",
    "threadtest",
    "rtcpie",
    "adjtick",
    "alarmtimer-suspend",
    "valid-adjtimex",
    "freq-step",
    "leap-a-day",
    "mqueue-lat",
    "clocksource-switch",
    "skew_consistency",
    "change_skew",
    "leapcrash",
    "set-tai",
    "set-2038",
    "test_unprobed_devices",
    "ftracetest",
    "reuseport_bpf",
    "tcp_fastopen",
    "udpgso",
    "ip_defrag",
    "so_txtime",
    "rtnetlink",
    "fib_tests",
    "tls",
    "seccomp_bpf",
    "seccomp_benchmark",
    "hugepage-mmap",
    "map_fixed_noreplace",
    "gup_test",
    "ksm_tests",
    "madv_populate",
    "mlock2-tests",
    "mremap_test",
    "uffd-unit-tests",
];

const LTP_SYSCALLS: &[&str] = &[
    "accept",
    "access",
    "acct",
    "add_key",
    "adjtimex",
    "alarm",
    "bind",
    "bpf_map",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chroot",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "clone",
    "close",
    "connect",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_ctl",
    "epoll_wait",
    "eventfd",
    "execve",
    "exit",
    "faccessat",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchown",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flock",
    "fork",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex_wait",
    "futex_wake",
    "getcwd",
    "getdents",
    "getpid",
    "getrandom",
    "getrlimit",
    "getsockopt",
    "gettid",
    "inotify",
    "ioctl",
    "io_uring",
    "kill",
    "lchown",
    "link",
    "listen",
    "lseek",
    "lstat",
    "madvise",
    "mincore",
    "mkdir",
    "mknod",
    "mlock",
    "mmap",
    "mprotect",
    "mremap",
    "msgctl",
    "msync",
    "munmap",
    "nanosleep",
    "open",
    "openat",
    "pipe",
    "poll",
    "prctl",
    "pread",
    "preadv",
    "pselect",
    "ptrace",
    "pwrite",
    "read",
    "readahead",
    "readlink",
    "readv",
    "recvmsg",
    "rename",
    "rmdir",
    "sched_getaffinity",
    "sched_setparam",
    "select",
    "sendfile",
    "setitimer",
    "setpgid",
    "setrlimit",
    "setsockopt",
    "sigaction",
    "signal",
    "socket",
    "splice",
    "stat",
    "statx",
    "symlink",
    "sync",
    "sysinfo",
    "tee",
    "time",
    "timer_create",
    "times",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unshare",
    "utime",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
];

const KUNIT_SUITES: &[&str] = &[
    "kunit_executor_test",
    "kunit-try-catch-test",
    "list-kernel-test",
    "hlist",
    "klist",
    "ext4_inode_test",
    "fat_test",
    "time_test_cases",
    "rational",
    "bitfields",
    "memcpy",
    "overflow",
    "siphash",
    "qos-kunit-test",
    "property-entry",
    "drm_buddy",
    "drm_format",
    "drm_rect",
    "drm_mm",
    "regmap-kunit",
    "clk-gate-test",
    "clk-test",
    "cpumask",
    "fortify",
    "hash",
    "usercopy",
    "strscpy",
    "string",
    "stackinit",
    "slub_test",
    "kasan",
    "kfence",
    "printf",
    "scanf",
    "mptcp-crypto",
    "net_core_test",
    "apparmor_policy",
    "binfmt_elf",
    "sysctl_test",
    "resource_test",
];

const KUNIT_CASES: &[&str] = &[
    "basic",
    "init",
    "empty",
    "single",
    "multiple",
    "overflow",
    "underflow",
    "bounds",
    "alignment",
    "zero",
    "max",
    "reverse",
    "sort",
    "copy",
    "move",
    "splice",
    "cut",
    "rotate",
    "is_first",
    "is_last",
    "del_init",
    "entry",
    "for_each",
    "safe",
];

/// The tests a run of `suite` reports, in the order it reports them.
pub fn cases(suite: &Suite) -> Vec<CasePath> {
    match suite {
        Suite::Baseline => {
            let mut out = vec![vec!["login".to_owned()]];
            out.extend(
                DMESG
                    .iter()
                    .map(|level| vec!["dmesg".to_owned(), (*level).to_owned()]),
            );
            out
        }
        Suite::Kselftest(collection, n) => (0..*n)
            .map(|i| {
                let word = KSELFTEST_WORDS[i % KSELFTEST_WORDS.len()];
                let name = match i / KSELFTEST_WORDS.len() {
                    0 => format!("{collection}_{word}"),
                    round => format!("{collection}_{word}_{round}"),
                };
                vec![(*collection).to_owned(), name]
            })
            .collect(),
        Suite::Ltp(n) => (0..*n)
            .map(|i| {
                let call = LTP_SYSCALLS[i % LTP_SYSCALLS.len()];
                let number = i / LTP_SYSCALLS.len() + 1;
                vec!["syscalls".to_owned(), format!("{call}{number:02}")]
            })
            .collect(),
        Suite::Kunit(n) => {
            // Suites of a few to a couple of dozen cases each, as KUnit's are.
            let mut out = Vec::with_capacity(*n);
            let mut suite_index = 0;
            while out.len() < *n {
                let name = KUNIT_SUITES[suite_index % KUNIT_SUITES.len()];
                let suite_name = match suite_index / KUNIT_SUITES.len() {
                    0 => name.to_owned(),
                    round => format!("{name}-{round}"),
                };
                let per_suite = 3 + (suite_index * 7) % 18;
                for case in 0..per_suite.min(*n - out.len()) {
                    let word = KUNIT_CASES[case % KUNIT_CASES.len()];
                    let base = suite_name.replace('-', "_");
                    let base = base
                        .strip_suffix("_kunit_test")
                        .or_else(|| base.strip_suffix("_test"))
                        .unwrap_or(&base);
                    let case_name = format!("{base}_test_{word}");
                    out.push(vec!["exec".to_owned(), suite_name.clone(), case_name]);
                }
                suite_index += 1;
            }
            out
        }
    }
}

/// How many nodes a job of `suite` makes: the job, its groups and its tests.
pub fn node_count(suite: &Suite) -> usize {
    let cases = cases(suite);
    let mut groups = std::collections::BTreeSet::new();
    for case in &cases {
        for depth in 1..case.len() {
            groups.insert(case[..depth].to_vec());
        }
    }
    1 + groups.len() + cases.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_have_the_sizes_asked_and_unique_paths() {
        for suite in [
            Suite::Baseline,
            Suite::Kselftest("net", 420),
            Suite::Ltp(1_400),
            Suite::Kunit(450),
        ] {
            let cases = cases(&suite);
            let unique: std::collections::HashSet<_> = cases.iter().collect();
            assert_eq!(unique.len(), cases.len(), "{suite:?} repeats a test");
            match suite {
                Suite::Baseline => assert_eq!(cases.len(), 6),
                Suite::Kselftest(_, n) | Suite::Ltp(n) | Suite::Kunit(n) => {
                    assert_eq!(cases.len(), n)
                }
            }
        }
        // KUnit nests cases in suites in `exec`: job, exec, the suites, the cases.
        assert!(node_count(&Suite::Kunit(40)) > 40 + 2);
    }
}
