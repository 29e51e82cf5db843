//! The text of the simulated artifacts: build logs, kernel configs and lab logs, shaped
//! like kbuild's and LAVA's output so the monitor's log view has something real to show.
use std::fmt::Write as _;

use super::catalog::{Build, Job};
use super::results::{Dice, Outcome};

const SOURCES: &[&str] = &[
    "kernel/fork.c",
    "kernel/sched/core.c",
    "kernel/sched/fair.c",
    "kernel/time/timer.c",
    "mm/page_alloc.c",
    "mm/slub.c",
    "mm/vmscan.c",
    "fs/ext4/inode.c",
    "fs/ext4/super.c",
    "fs/namei.c",
    "net/core/dev.c",
    "net/ipv4/tcp.c",
    "net/ipv6/route.c",
    "drivers/base/core.c",
    "drivers/gpu/drm/drm_atomic.c",
    "drivers/net/ethernet/intel/e1000e/netdev.c",
    "drivers/usb/core/hub.c",
    "drivers/mmc/core/core.c",
    "drivers/pci/probe.c",
    "sound/soc/soc-core.c",
    "lib/string.c",
    "lib/vsprintf.c",
    "crypto/sha256_generic.c",
    "security/selinux/hooks.c",
    "block/blk-mq.c",
    "init/main.c",
];

/// A kbuild's log: the make commands, the compiler's lines, and the error when it failed.
pub fn build_log(dice: &Dice, build: &Build, describe: &str, failed: bool) -> String {
    let mut log = String::new();
    let arch = build.arch;
    let _ = writeln!(
        log,
        "# kernel {describe}, {}, {}",
        build.config_full(),
        build.compiler
    );
    let _ = writeln!(
        log,
        "make KBUILD_BUILD_USER=KernelCI ARCH={arch} O=/tmp/kci/linux/build {}",
        build.defconfig
    );
    for fragment in build.fragments {
        let _ = writeln!(
            log,
            "scripts/kconfig/merge_config.sh -m .config kernel/configs/{fragment}.config"
        );
    }
    let _ = writeln!(
        log,
        "make KBUILD_BUILD_USER=KernelCI ARCH={arch} O=/tmp/kci/linux/build -j8 {}",
        build.kernel_image()
    );
    log.push_str("  SYNC    include/config/auto.conf\n  HOSTCC  scripts/basic/fixdep\n  WRAP    arch/x86/include/generated/uapi/asm/bpf_perf_event.h\n  UPD     include/generated/utsversion.h\n");
    let lines = 120 + dice.hash(&["build-lines", &build.name()], 0) % 80;
    for i in 0..lines {
        let source = dice.pick(&["source", &build.name()], i, SOURCES);
        let object = source.trim_end_matches(".c");
        let _ = writeln!(log, "  CC      {object}.o");
        if i % 37 == 5 {
            let _ = writeln!(
                log,
                "  AR      {}/built-in.a",
                object.rsplit_once('/').map_or("", |(d, _)| d)
            );
        }
    }
    if failed {
        let source = dice.pick(&["broken-source", &build.name()], 0, SOURCES);
        let _ = writeln!(
            log,
            "{source}:{}:9: error: implicit declaration of function 'kci_sim_helper' [-Werror=implicit-function-declaration]",
            100 + dice.hash(&["line", source], 0) % 900
        );
        let _ = writeln!(log, "cc1: some warnings being treated as errors");
        let _ = writeln!(
            log,
            "make[4]: *** [scripts/Makefile.build:229: {}.o] Error 1",
            source.trim_end_matches(".c")
        );
        log.push_str("make[3]: *** [scripts/Makefile.build:478: drivers] Error 2\nmake[1]: *** [/tmp/kci/linux/Makefile:1989: .] Error 2\nmake: *** [Makefile:251: __sub-make] Error 2\n");
    } else {
        let _ = writeln!(
            log,
            "  LD      vmlinux\n  SYSMAP  System.map\n  OBJCOPY arch/{arch}/boot/{}",
            build.kernel_image()
        );
        let _ = writeln!(
            log,
            "Kernel: arch/{arch}/boot/{} is ready",
            build.kernel_image()
        );
    }
    log
}

/// A `.config`, short but shaped like one.
pub fn kernel_config(build: &Build, describe: &str) -> String {
    let mut c = format!(
        "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/{} {describe} Kernel Configuration\n#\n",
        build.arch
    );
    c.push_str("CONFIG_CC_VERSION_TEXT=\"");
    c.push_str(build.compiler);
    c.push_str(
        "\"\nCONFIG_64BIT=y\nCONFIG_SMP=y\nCONFIG_MODULES=y\nCONFIG_PRINTK=y\nCONFIG_EXT4_FS=y\n",
    );
    for fragment in build.fragments {
        let _ = writeln!(
            c,
            "# from kernel/configs/{fragment}.config\nCONFIG_KUNIT=y\nCONFIG_TEST_BPF=m"
        );
    }
    c
}

/// What a lab's log shows of one test.
pub struct LoggedCase<'a> {
    /// The path below the job, dot-joined.
    pub name: &'a str,
    /// Its result.
    pub outcome: Outcome,
}

/// A lab's log of a job: the boot, then a line per test in LAVA's signal format, and the
/// lab's error when the job was incomplete.
pub fn job_log(
    job: &Job,
    arch: &str,
    describe: &str,
    cases: &[LoggedCase<'_>],
    lab_error: Option<&str>,
) -> String {
    let mut log = String::new();
    let _ = writeln!(log, "lava-dispatcher, installed at version: 2024.09");
    let _ = writeln!(
        log,
        "start: 0 validate\nstart: 1 tftp-deploy (timeout 00:10:00) [common]"
    );
    let _ = writeln!(
        log,
        "Downloading kernel {describe} for {arch} to {}",
        job.platform
    );
    let _ = writeln!(
        log,
        "start: 2 depthcharge-action (timeout 00:05:00) [common]"
    );
    for (t, line) in [
        "Booting Linux on physical CPU 0x0000000000 [0x410fd083]",
        "Linux version 6.13.0 (KernelCI@build-j8) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT",
        "Machine model: simulated board",
        "Memory: 3925212K/4194304K available",
        "rcu: Preemptible hierarchical RCU implementation.",
        "clocksource: arch_sys_counter: mask: 0xffffffffffffff max_cycles: 0x1cd42e208c",
        "Run /init as init process",
    ]
    .iter()
    .enumerate()
    {
        let _ = writeln!(log, "[    {}.{:06}] {line}", t / 2, 1_000 + t * 117_331);
    }
    if let Some(error) = lab_error {
        let _ = writeln!(
            log,
            "{error}\nend: 2 depthcharge-action (duration 00:05:00) [common]\nJob error: {error}"
        );
        return log;
    }
    let _ = writeln!(
        log,
        "/ # export SHELL=/bin/sh\n/ # . /lava-{}/environment",
        job.platform
    );
    let _ = writeln!(log, "+ cd /lava-{}/0/tests/0_{}", job.platform, job.name);
    for (i, case) in cases.iter().enumerate() {
        if case.outcome == Outcome::Fail {
            let _ = writeln!(
                log,
                "# {}: assertion failed at line {} (expected 0, got -22)",
                case.name,
                40 + i % 300
            );
        }
        let _ = writeln!(
            log,
            "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID={} RESULT={}>",
            case.name,
            case.outcome.as_str()
        );
    }
    let _ = writeln!(log, "<LAVA_SIGNAL_ENDRUN 0_{} {}>", job.name, cases.len());
    log.push_str("end: 3 lava-test-retry (duration 00:00:42) [common]\nJob finished\n");
    log
}
