//! Prometheus metrics. The registry lives in the application state, never in a global, so
//! parallel tests each see their own numbers.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route template, never the raw path (profile ids would explode cardinality).
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabels {
    pub handler: &'static str,
    /// applied, duplicate, retried, dead_lettered
    pub outcome: &'static str,
}

/// Every metric the service exports. Cloning shares the underlying values.
#[derive(Clone)]
pub struct Metrics {
    pub http_requests: Family<RequestLabels, Counter>,
    pub verification_failures: Family<ReasonLabels, Counter>,
    /// Webhooks by what intake did with them: stored, duplicate, livemode_mismatch.
    pub webhook_events: Family<OutcomeLabels, Counter>,
    pub inbox_unpublished: Gauge,
    /// Seconds from the inbox commit to the broker's confirm.
    pub publish_latency: Histogram,
    /// Publishes by result: confirmed, unroutable (confirmed, no queue bound), nacked.
    pub published: Family<OutcomeLabels, Counter>,
    pub worker_events: Family<WorkerLabels, Counter>,
    /// `/v1` requests refused for their bearer token: missing or unknown.
    pub admin_auth_failures: Family<ReasonLabels, Counter>,
}

impl Metrics {
    pub fn new() -> (Self, Registry) {
        let metrics = Metrics {
            http_requests: Family::default(),
            verification_failures: Family::default(),
            webhook_events: Family::default(),
            inbox_unpublished: Gauge::default(),
            publish_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            published: Family::default(),
            worker_events: Family::default(),
            admin_auth_failures: Family::default(),
        };
        let mut registry = Registry::with_prefix("accredito");
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "webhook_verification_failures",
            "Webhooks refused by signature verification, by reason",
            metrics.verification_failures.clone(),
        );
        registry.register(
            "webhook_events",
            "Verified webhooks by intake outcome",
            metrics.webhook_events.clone(),
        );
        registry.register(
            "inbox_unpublished",
            "Stored events not yet confirmed by RabbitMQ",
            metrics.inbox_unpublished.clone(),
        );
        registry.register(
            "publish_latency_seconds",
            "From inbox commit to RabbitMQ publisher confirm",
            metrics.publish_latency.clone(),
        );
        registry.register(
            "relay_publishes",
            "Relay publishes by result",
            metrics.published.clone(),
        );
        registry.register(
            "worker_events",
            "Deliveries by handler and outcome",
            metrics.worker_events.clone(),
        );
        registry.register(
            "admin_auth_failures",
            "/v1 requests refused for a missing or unknown bearer token",
            metrics.admin_auth_failures.clone(),
        );
        (metrics, registry)
    }
}
