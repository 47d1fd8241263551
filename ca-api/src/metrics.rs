//! `GET /metrics` in the Prometheus/OpenMetrics text format (SPEC §4), on a
//! separate, non-public listen address (`CA_METRICS_LISTEN`). Counted as
//! requests pass: requests by route and status, and their latency; read at
//! each scrape: the current CRL's number and its time to nextUpdate.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use ca_authority::Authority;

/// A request's labels: the route pattern (never the raw path, which holds
/// ids), the method and the status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// A latency's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    crl_number: Gauge<i64, std::sync::atomic::AtomicI64>,
    crl_next_update: Gauge<i64, std::sync::atomic::AtomicI64>,
    ready: Gauge<i64, std::sync::atomic::AtomicI64>,
    signer_up: Gauge<i64, std::sync::atomic::AtomicI64>,
    storage_writable: Gauge<i64, std::sync::atomic::AtomicI64>,
    outbox_backlog: Gauge<i64, std::sync::atomic::AtomicI64>,
    crl_store_reads: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn latency_histogram() -> Histogram {
    // 0.1 ms to ~3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Metrics {
    /// An empty set.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ca");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let crl_number = Gauge::default();
        let crl_next_update = Gauge::default();
        let ready = Gauge::default();
        let signer_up = Gauge::default();
        let storage_writable = Gauge::default();
        let outbox_backlog = Gauge::default();
        let crl_store_reads = Counter::default();
        registry.register(
            "crl_store_reads",
            "Times serving the current CRLs asked the database (at most once a second, never per download)",
            crl_store_reads.clone(),
        );
        registry.register(
            "outbox_backlog",
            "Notifications (letters, webhook posts) not delivered yet",
            outbox_backlog.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route pattern",
            latency.clone(),
        );
        registry.register(
            "crl_number",
            "The current full CRL's number",
            crl_number.clone(),
        );
        registry.register(
            "crl_next_update_seconds",
            "Seconds until the current full CRL's nextUpdate (negative: overdue)",
            crl_next_update.clone(),
        );
        registry.register(
            "ready",
            "1 when the database answers, else 0",
            ready.clone(),
        );
        registry.register(
            "signer_up",
            "1 when the CA key can sign (its token answers), else 0",
            signer_up.clone(),
        );
        registry.register(
            "storage_writable",
            "1 when the database takes writes, else 0 (disk full, read-only, unreachable)",
            storage_writable.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            crl_number,
            crl_next_update,
            ready,
            signer_up,
            storage_writable,
            outbox_backlog,
            crl_store_reads,
        }
    }

    /// Counts one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// The text exposition, after reading the gauges from `authority`.
    pub fn render(&self, authority: &Authority) -> String {
        let ready = match authority.current_crl() {
            Ok(Some((info, _))) => {
                self.crl_number.set(info.number as i64);
                self.crl_next_update
                    .set((info.next_update - authority.now()).num_seconds());
                1
            }
            Ok(None) => 1,
            Err(_) => 0,
        };
        self.ready.set(ready);
        self.signer_up
            .set(i64::from(authority.ca().check_signer().is_ok()));
        self.storage_writable
            .set(i64::from(authority.check_store_writable().is_ok()));
        let reads = authority.crl_store_reads();
        self.crl_store_reads
            .inc_by(reads.saturating_sub(self.crl_store_reads.get()));
        if let Ok(n) = authority.outbox_backlog() {
            self.outbox_backlog.set(n);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
