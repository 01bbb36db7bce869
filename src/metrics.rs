//! Prometheus metrics. The registry lives in the application state, never in a global, so
//! parallel tests each see their own numbers.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn lag_buckets() -> Histogram {
    // Whole seconds (AMQP timestamps): 0.5 s to about 4.5 h.
    Histogram::new(exponential_buckets(0.5, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route template, never the raw path (profile ids would explode cardinality).
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlerLabels {
    pub handler: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
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
    pub request_duration: HistogramFamily<RouteLabels>,
    /// From publish to applied, per handler.
    pub worker_lag: HistogramFamily<HandlerLabels>,
    pub process: ProcessMetrics,
    pub books: BooksMetrics,
}

/// This process, read from `/proc/self` at each scrape.
#[derive(Clone, Default)]
pub struct ProcessMetrics {
    pub cpu_seconds: Gauge<f64, AtomicU64>,
    pub resident_memory_bytes: Gauge,
    pub open_fds: Gauge,
}

/// What the books hold, read from PostgreSQL at most every few seconds of scraping.
#[derive(Clone, Default)]
pub struct BooksMetrics {
    pub open_discrepancies: Family<KindLabels, Gauge>,
    pub open_alerts: Family<KindLabels, Gauge>,
    pub dead_letters: Gauge,
    pub oldest_unpublished_seconds: Gauge<f64, AtomicU64>,
    pub silent_live_profiles: Gauge,
    /// When they were last read: scrapes in between reuse the reading.
    pub read_at: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
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
            request_duration: Family::new_with_constructor(latency_buckets),
            worker_lag: Family::new_with_constructor(lag_buckets),
            process: ProcessMetrics::default(),
            books: BooksMetrics::default(),
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
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            metrics.request_duration.clone(),
        );
        registry.register(
            "worker_lag_seconds",
            "From publish to applied, by handler (whole seconds)",
            metrics.worker_lag.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running build", build_info);
        let process = &metrics.process;
        registry.register(
            "process_cpu_seconds",
            "CPU time this process has used (user and system)",
            process.cpu_seconds.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            process.resident_memory_bytes.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors of this process",
            process.open_fds.clone(),
        );
        let books = &metrics.books;
        registry.register(
            "open_discrepancies",
            "Unresolved discrepancies by kind",
            books.open_discrepancies.clone(),
        );
        registry.register(
            "open_alerts",
            "Unresolved alerts by kind",
            books.open_alerts.clone(),
        );
        registry.register(
            "dead_letters",
            "Parked events not yet redriven",
            books.dead_letters.clone(),
        );
        registry.register(
            "inbox_oldest_unpublished_seconds",
            "Age of the oldest stored event not yet confirmed by RabbitMQ (0 when none)",
            books.oldest_unpublished_seconds.clone(),
        );
        registry.register(
            "silent_live_profiles",
            "Live profiles with keys from whose Stripe account no event was received in the last 24 hours",
            books.silent_live_profiles.clone(),
        );
        (metrics, registry)
    }
}

impl ProcessMetrics {
    /// Reads `/proc/self` (Linux; elsewhere the gauges stay at zero).
    pub fn refresh(&self) {
        // utime and stime, fields 14 and 15 of proc(5), in USER_HZ (100 on Linux).
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some(close) = stat.rfind(')')
        {
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            let ticks: u64 = fields
                .get(11..13)
                .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
                .unwrap_or(0);
            self.cpu_seconds.set(ticks as f64 / 100.0);
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status")
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            self.resident_memory_bytes.set(kib * 1024);
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(entries.count() as i64);
        }
    }
}

/// Prometheus's text format 0.0.4 from OpenMetrics text: a counter's `# HELP` and `# TYPE` name
/// its samples (`x_total`, not the family `x`), and there is no `# UNIT` or closing `# EOF`.
pub fn as_text_format(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        text.push_str(described.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_names_counters_by_their_samples_and_has_no_eof() {
        let openmetrics = "# HELP a_requests Requests.\n# TYPE a_requests counter\n\
                           a_requests_total{route=\"/\"} 3\n# HELP a_depth Depth.\n\
                           # TYPE a_depth gauge\na_depth 2\n# EOF\n";
        assert_eq!(
            as_text_format(openmetrics),
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\n\
             a_requests_total{route=\"/\"} 3\n# HELP a_depth Depth.\n# TYPE a_depth gauge\n\
             a_depth 2\n"
        );
    }
}
