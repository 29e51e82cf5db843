//! Life-cycle metrics: the nodes each rule moved (by rule and state reached), the nodes it
//! left because they changed under it, the writes that failed, and the sweeps a store error
//! ended. Recorded by the background task after each sweep of a rule.
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::{Metrics, built, register};
use crate::lifecycle::{Rule, SweepReport};
use crate::store::StoreResult;

/// The counters of one rule, resolved at start.
struct RuleCounters {
    /// `closing` for the holdoff rule's moves to `closing`; `None` for the other rules,
    /// which never make that move.
    to_closing: Option<IntCounter>,
    to_done: IntCounter,
    skipped: IntCounter,
    failed: IntCounter,
    sweep_errors: IntCounter,
}

pub(crate) struct LifecycleMetrics {
    timeout: RuleCounters,
    holdoff: RuleCounters,
    closing: RuleCounters,
}

impl LifecycleMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let vec = |name: &str, help: &str, labels: &[&str]| {
            register(
                registry,
                built(IntCounterVec::new(Opts::new(name, help), labels)),
            )
        };
        let transitions = vec(
            "maestro_lifecycle_transitions_total",
            "Nodes a life-cycle rule moved, by rule (timeout, holdoff, closing) and the state \
             it moved them to.",
            &["rule", "to"],
        );
        let skipped = vec(
            "maestro_lifecycle_skipped_total",
            "Nodes a rule left alone because a client or another server changed (or \
             deleted) them between the rule's read and its write.",
            &["rule"],
        );
        let failed = vec(
            "maestro_lifecycle_failures_total",
            "Nodes whose life-cycle write was refused; they are tried again next round.",
            &["rule"],
        );
        let errors = vec(
            "maestro_lifecycle_sweep_errors_total",
            "Sweeps of a rule ended early by a store error (the moves such a sweep made \
             before the error are not in the transitions).",
            &["rule"],
        );
        let counters = |rule: Rule| {
            let name = rule.name();
            RuleCounters {
                to_closing: (rule == Rule::Holdoff)
                    .then(|| transitions.with_label_values(&[name, "closing"])),
                to_done: transitions.with_label_values(&[name, "done"]),
                skipped: skipped.with_label_values(&[name]),
                failed: failed.with_label_values(&[name]),
                sweep_errors: errors.with_label_values(&[name]),
            }
        };
        Self {
            timeout: counters(Rule::Timeout),
            holdoff: counters(Rule::Holdoff),
            closing: counters(Rule::Closing),
        }
    }
}

impl Metrics {
    /// Records one sweep of `rule`.
    pub fn lifecycle_sweep(&self, rule: Rule, swept: &StoreResult<SweepReport>) {
        let c = match rule {
            Rule::Timeout => &self.lifecycle.timeout,
            Rule::Holdoff => &self.lifecycle.holdoff,
            Rule::Closing => &self.lifecycle.closing,
        };
        let Ok(report) = swept else {
            c.sweep_errors.inc();
            return;
        };
        // The timeout rule's moves are all to `done`; the report counts them apart.
        c.to_done.inc_by(report.timed_out + report.done);
        if let Some(to_closing) = &c.to_closing {
            to_closing.inc_by(report.closing);
        }
        c.skipped.inc_by(report.skipped);
        c.failed.inc_by(report.failed);
    }
}
