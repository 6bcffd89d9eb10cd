//! Logs and metrics: every metric name clickgate exports lives here, and the
//! Prometheus recorder is installed once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, EnvFilter};

pub const HTTP_REQUESTS: &str = "clickgate_http_requests_total";
pub const HTTP_DURATION: &str = "clickgate_http_request_duration_seconds";
pub const EVENTS_ACCEPTED: &str = "clickgate_events_accepted_total";
pub const EVENTS_REJECTED: &str = "clickgate_events_rejected_total";
pub const PRODUCE_DURATION: &str = "clickgate_kafka_produce_duration_seconds";
pub const KAFKA_QUEUE: &str = "clickgate_kafka_queue_messages";
pub const KAFKA_QUEUE_MAX: &str = "clickgate_kafka_queue_max_messages";
pub const KAFKA_DELIVERED: &str = "clickgate_kafka_delivered_total";
pub const KAFKA_DELIVERY_ERRORS: &str = "clickgate_kafka_delivery_errors_total";
pub const KAFKA_UP: &str = "clickgate_kafka_up";
pub const REQUESTS_SHED: &str = "clickgate_requests_shed_total";
pub const RATE_LIMITED: &str = "clickgate_rate_limited_total";
pub const HOT_VISITOR_REKEYED: &str = "clickgate_hot_visitor_rekeyed_total";
pub const CLOCK_SKEW: &str = "clickgate_clock_skew_seconds";
pub const GEO_DATABASE_AGE: &str = "clickgate_geo_database_age_seconds";
pub const ENRICHMENT_FAILURES: &str = "clickgate_enrichment_failures_total";
pub const DUPLICATES_DROPPED: &str = "clickgate_duplicates_dropped_total";
pub const BOTS_DROPPED: &str = "clickgate_bots_dropped_total";
pub const BUILD_INFO: &str = "clickgate_build_info";

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SKEW_BUCKETS: &[f64] = &[
    0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86_400.0, 604_800.0,
];

/// JSON logs on stdout; `RUST_LOG` (or `CLICKGATE_LOG`) filters.
pub fn init_logging() {
    let filter = std::env::var("CLICKGATE_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,rdkafka=warn"));
    let _ = fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

/// The process-wide Prometheus recorder (installed on first call).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(PRODUCE_DURATION.into()),
                        LATENCY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(CLOCK_SKEW.into()), SKEW_BUCKETS)
                })
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding
            // program); then this handle renders only what it was given.
            let _ = metrics::set_global_recorder(recorder);
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}
