//! The Prometheus metrics of `GET /metrics`: one registry per server, every metric
//! registered when it is built, and the handles that the hot paths bump.
//!
//! Besides the Python server's `http_requests_total{instance="api"}`, what an operator
//! needs: requests by route template and status with latency histograms (`http`), events
//! published and delivered and the current subscribers (`events`), store call latency and
//! database errors (`store`), life-cycle transitions (`lifecycle`), nodes purged (`purge`,
//! also under the Python server's `nodes_purged`), and the process.
use prometheus::core::Collector;
use prometheus::{Encoder, IntGauge, Registry, TextEncoder};

use crate::events::EventLog;
use crate::pubsub::PubSub;

mod events;
mod http;
mod lifecycle;
mod purge;
mod store;

pub use events::SubscriberKind;
pub use http::track;
pub use store::StoreFailure;

/// The `Content-Type` of a scrape: the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Registers `metric` in `registry` and returns it.
fn register<C: Collector + Clone + 'static>(registry: &Registry, metric: C) -> C {
    // The names and labels are constants, each registered once per registry: a clash is a
    // programming error, and the unit test below builds every metric.
    #[allow(clippy::expect_used)]
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are valid and distinct");
    metric
}

/// Unwraps the construction of a metric from constant options.
fn built<M>(metric: prometheus::Result<M>) -> M {
    // As in `register`: constant, valid names and labels.
    #[allow(clippy::expect_used)]
    metric.expect("metric options are valid")
}

/// The event history's place and use, read at each scrape.
struct LogGauges {
    head: IntGauge,
    window_events: IntGauge,
    window_bytes: IntGauge,
}

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    pub(crate) http: http::HttpMetrics,
    pub(crate) events: events::EventMetrics,
    pub(crate) store: store::StoreMetrics,
    pub(crate) lifecycle: lifecycle::LifecycleMetrics,
    pub(crate) purge: purge::PurgeMetrics,
    log: LogGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| register(&registry, built(IntGauge::new(name, help)));
        let log = LogGauges {
            head: gauge(
                "maestro_event_log_head",
                "Sequence number of the newest event in the history.",
            ),
            window_events: gauge(
                "maestro_event_window_events",
                "Events held in the in-memory window that listeners read from.",
            ),
            window_bytes: gauge(
                "maestro_event_window_bytes",
                "Serialised bytes of the events in the in-memory window.",
            ),
        };
        let info = built(IntGauge::with_opts(
            prometheus::Opts::new("maestro_build_info", "The server's version; always 1.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        ));
        info.set(1);
        register(&registry, info);
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            // As in `register`: registered once, with the crate's own valid names.
            #[allow(clippy::expect_used)]
            registry
                .register(Box::new(process))
                .expect("process metrics register");
        }
        Self {
            http: http::HttpMetrics::new(&registry),
            events: events::EventMetrics::new(&registry),
            store: store::StoreMetrics::new(&registry),
            lifecycle: lifecycle::LifecycleMetrics::new(&registry),
            purge: purge::PurgeMetrics::new(&registry),
            log,
            registry,
        }
    }

    /// The text of a scrape. The gauges of what is held now (subscriptions, the event
    /// window) are read here rather than kept up to date on every change.
    pub fn render(&self, pubsub: &PubSub, log: &EventLog) -> Result<String, prometheus::Error> {
        self.events.set_subscriptions(pubsub.subscription_counts());
        let (bytes, events) = log.usage();
        self.log.head.set(gauge_value(log.head()));
        self.log.window_events.set(gauge_value(events));
        self.log.window_bytes.set(gauge_value(bytes));
        let mut out = Vec::with_capacity(16 << 10);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        // The text encoder writes only UTF-8 (names, escaped label values, numbers).
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// `n` as a gauge value, saturated.
fn gauge_value<N: TryInto<i64>>(n: N) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_registers_and_has_help_and_type() {
        let m = Metrics::new();
        let text = m.render(&PubSub::default(), &EventLog::new(0, 16)).unwrap();
        // The metrics whose series exist from the start (the others appear with their
        // first request or store call).
        for name in [
            "http_requests_total",
            "maestro_events_published_total",
            "maestro_events_delivered_total",
            "maestro_subscribers",
            "maestro_lifecycle_transitions_total",
            "maestro_lifecycle_sweep_errors_total",
            "maestro_event_log_head",
            "maestro_build_info",
            "nodes_purged",
            "maestro_nodes_purged_total",
            "maestro_node_purge_failures_total",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}:\n{text}");
        }
        // Zero before anything happened, as the Python server starts.
        assert!(
            text.contains("http_requests_total{instance=\"api\"} 0"),
            "{text}"
        );
        assert!(text.contains("nodes_purged{instance=\"api\"} 0"), "{text}");
        m.nodes_purged(3);
        let text = m.render(&PubSub::default(), &EventLog::new(0, 16)).unwrap();
        assert!(text.contains("nodes_purged{instance=\"api\"} 3"), "{text}");
        assert!(text.contains("maestro_nodes_purged_total 3"), "{text}");
    }
}
