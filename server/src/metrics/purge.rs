//! Node purge metrics: the nodes deleted, under the Python server's name too, and the
//! purges a store error ended. Recorded by `crate::nodes::purge` after each batch.
use prometheus::{IntCounter, Opts};

use super::{Metrics, built, register};

pub(crate) struct PurgeMetrics {
    /// The Python server's `nodes_purged{instance="api"}`, for its dashboards.
    python: IntCounter,
    purged: IntCounter,
    failed: IntCounter,
}

impl PurgeMetrics {
    pub(super) fn new(registry: &prometheus::Registry) -> Self {
        let counter = |opts: Opts| register(registry, built(IntCounter::with_opts(opts)));
        Self {
            python: counter(
                Opts::new(
                    "nodes_purged",
                    "Nodes the purge deleted, as the Python server counts them.",
                )
                .const_label("instance", "api"),
            ),
            purged: counter(Opts::new(
                "maestro_nodes_purged_total",
                "Nodes the background purge deleted (older than NODE_PURGE_AGE_DAYS, not \
                 checkouts).",
            )),
            failed: counter(Opts::new(
                "maestro_node_purge_failures_total",
                "Background purges a store error ended early (retried an hour later).",
            )),
        }
    }
}

impl Metrics {
    /// Counts `n` nodes deleted by the purge.
    pub fn nodes_purged(&self, n: u64) {
        self.purge.python.inc_by(n);
        self.purge.purged.inc_by(n);
    }

    /// Counts a purge ended by a store error.
    pub fn node_purge_failed(&self) {
        self.purge.failed.inc();
    }
}
