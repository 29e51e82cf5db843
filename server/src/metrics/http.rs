//! Request metrics: the Python server's `http_requests_total{instance="api"}`, and requests
//! and latency by method, matched route template (never the raw path, whose ids would make
//! a series per node) and status.
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use super::{Metrics, built, register};

/// The route label of a request no route matched (a 404 of the fallback).
const UNMATCHED: &str = "unmatched";

/// The route of the scrape itself, left out of the Python server's counter as it is there.
const METRICS_ROUTE: &str = "/latest/metrics";

/// Upper bounds of the latency buckets, in seconds: from sub-millisecond reads to the
/// 45 s long-polls of `/listen`.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

pub(crate) struct HttpMetrics {
    python_requests: IntCounter,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl HttpMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let python_requests = built(IntCounter::with_opts(
            Opts::new(
                "http_requests_total",
                "Requests served, as the Python server counts them (all but the scrape).",
            )
            .const_label("instance", "api"),
        ));
        let requests = built(IntCounterVec::new(
            Opts::new(
                "maestro_http_requests_total",
                "Requests answered, by method, matched route template and status.",
            ),
            &["method", "route", "status"],
        ));
        let latency = built(HistogramVec::new(
            HistogramOpts::new(
                "maestro_http_request_duration_seconds",
                "Time from a request's arrival to its answer's headers, by method and route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        ));
        Self {
            python_requests: register(registry, python_requests),
            requests: register(registry, requests),
            latency: register(registry, latency),
        }
    }

    fn observe(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        if route != METRICS_ROUTE {
            self.python_requests.inc();
        }
        // Borrowed labels: a series that exists costs a hash and a read lock, no allocation.
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }
}

/// The method as a label: the standard ones by name, any other as `other`, so that a client
/// inventing methods cannot make new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware that counts and times every request (a layer of the router, so that the
/// matched route is known).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.http.observe(
        method,
        route,
        resp.status(),
        started.elapsed().as_secs_f64(),
    );
    resp
}
