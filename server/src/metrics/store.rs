//! Store metrics: the latency of every store call by operation, and the database's
//! failures by kind. Recorded by [`TimedStore`](crate::store::timed::TimedStore), which
//! every call of the server goes through.
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::{Metrics, built, register};

/// Upper bounds of the latency buckets, in seconds: from an indexed SQLite read (tens of
/// microseconds) to the default 5 s bound of a call.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How a store call failed, when the database is at fault (not a missing record, a
/// conflict or a refused value: those are answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreFailure {
    /// The database is unreachable or refused to serve (`StoreError::Unavailable`).
    Unavailable,
    /// The call did not finish within the store timeout.
    Timeout,
    /// The database failed otherwise (`StoreError::Backend`).
    Other,
}

impl StoreFailure {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Unavailable, Self::Timeout, Self::Other];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

pub(crate) struct StoreMetrics {
    latency: HistogramVec,
    errors: IntCounterVec,
    /// Commands sent to MongoDB by name, when counted (`--mongodb-count-commands`).
    pub(crate) mongodb_commands: IntCounterVec,
}

impl StoreMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let latency = built(HistogramVec::new(
            HistogramOpts::new(
                "maestro_store_call_duration_seconds",
                "Time of store calls, by backend and operation (failed and timed-out calls \
                 included).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["backend", "operation"],
        ));
        let errors = built(IntCounterVec::new(
            Opts::new(
                "maestro_store_errors_total",
                "Store calls the database failed, by backend and kind (unavailable, timeout, \
                 other).",
            ),
            &["backend", "kind"],
        ));
        let mongodb_commands = built(IntCounterVec::new(
            Opts::new(
                "maestro_mongodb_commands_total",
                "Commands sent to MongoDB (round trips), by command name; counted only with \
                 --mongodb-count-commands.",
            ),
            &["command"],
        ));
        Self {
            latency: register(registry, latency),
            errors: register(registry, errors),
            mongodb_commands: register(registry, mongodb_commands),
        }
    }
}

impl Metrics {
    /// The counter of commands sent to MongoDB, by command name.
    pub fn mongodb_commands(&self) -> IntCounterVec {
        self.store.mongodb_commands.clone()
    }

    /// Shows `backend`'s error counters from the start, at zero.
    pub fn register_store(&self, backend: &str) {
        for kind in StoreFailure::ALL {
            self.store
                .errors
                .with_label_values(&[backend, kind.label()]);
        }
    }

    /// Records one store call of `backend` that took `elapsed`, and how it failed, if the
    /// database was at fault.
    pub fn store_call(
        &self,
        backend: &str,
        operation: &str,
        elapsed: Duration,
        failure: Option<StoreFailure>,
    ) {
        self.store
            .latency
            .with_label_values(&[backend, operation])
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = failure {
            self.store
                .errors
                .with_label_values(&[backend, kind.label()])
                .inc();
        }
    }
}
