//! Prometheus metrics: HTTP requests and latency per route, plugin failures
//! per plugin and kind, and per-plugin quota usage (read from
//! [`Quotas`] at scrape time, so metering costs the hot path nothing here).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::quota::{QuotaKind, Quotas, Usage};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    plugin: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

/// Reads each subscription's lag (plugin id, events behind) at scrape time.
pub type LagSource = Box<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    plugin: String,
    kind: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~3.3 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

/// The kernel's metric registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    plugin_failures: Family<FailureLabels, Counter>,
    events_published: Family<SourceLabels, Counter>,
    events_removed: Counter,
    event_deliveries: Family<DeliveryLabels, Counter>,
    job_runs: Family<DeliveryLabels, Counter>,
    quota_usage: Arc<QuotaUsage>,
    event_lag: Arc<EventLag>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every kernel metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let plugin_failures = Family::<FailureLabels, Counter>::default();
        let quota_usage = Arc::new(QuotaUsage::default());
        registry.register(
            "http_requests",
            "HTTP requests served, by route (plugin mount or kernel endpoint), method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response, by route",
            latency.clone(),
        );
        registry.register(
            "plugin_failures",
            "Plugin calls that failed, by plugin and kind (trap, timeout, out_of_memory, overloaded, instantiate)",
            plugin_failures.clone(),
        );
        let events_published = Family::<SourceLabels, Counter>::default();
        let event_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "events_published",
            "Events appended to the durable log, by source (a plugin id or kernel)",
            events_published.clone(),
        );
        registry.register(
            "event_deliveries",
            "Event deliveries to subscribing plugins, by plugin and outcome (delivered, failed, dead_lettered)",
            event_deliveries.clone(),
        );
        let events_removed = Counter::default();
        registry.register(
            "events_removed",
            "Events removed from the log by retention (older than the retention period and handled by every running subscriber)",
            events_removed.clone(),
        );
        let job_runs = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "job_runs",
            "Scheduled job runs, by plugin and outcome (succeeded, failed)",
            job_runs.clone(),
        );
        registry.register_collector(Box::new(quota_usage.clone()));
        let event_lag = Arc::new(EventLag::default());
        registry.register_collector(Box::new(event_lag.clone()));
        Self {
            registry,
            requests,
            latency,
            plugin_failures,
            events_published,
            events_removed,
            event_deliveries,
            job_runs,
            quota_usage,
            event_lag,
        }
    }

    /// Export the usage metered by `quotas` (the runtime's) at every scrape:
    /// `tessera_plugin_storage_bytes`, `tessera_plugin_storage_operations_total`,
    /// `tessera_plugin_events_published_total`,
    /// `tessera_plugin_outbound_calls_total` and
    /// `tessera_plugin_quota_refusals_total`. Only the first call counts.
    pub fn export_quotas(&self, quotas: Arc<Quotas>) {
        if self.quota_usage.quotas.set(quotas).is_err() {
            tracing::debug!("quota usage is already exported; ignoring another source");
        }
    }

    /// Count one HTTP request and its latency.
    pub fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Count one event appended by `source`.
    pub fn record_event_published(&self, source: &str) {
        self.events_published
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    /// Count `count` events removed from the log by retention.
    pub fn record_events_removed(&self, count: u64) {
        self.events_removed.inc_by(count);
    }

    /// Count one delivery attempt to `plugin` and its `outcome`.
    pub fn record_event_delivery(&self, plugin: &str, outcome: &str) {
        self.event_deliveries
            .get_or_create(&DeliveryLabels {
                plugin: plugin.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Count one run of a job of `plugin` and its `outcome`.
    pub fn record_job_run(&self, plugin: &str, outcome: &str) {
        self.job_runs
            .get_or_create(&DeliveryLabels {
                plugin: plugin.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Export `tessera_event_subscription_lag` from `source` at every
    /// scrape. Only the first call counts.
    pub fn export_event_lag(&self, source: LagSource) {
        if self.event_lag.source.set(source).is_err() {
            tracing::debug!("event lag is already exported; ignoring another source");
        }
    }

    /// Count one failed plugin call.
    pub fn record_plugin_failure(&self, plugin: &str, kind: &str) {
        self.plugin_failures
            .get_or_create(&FailureLabels {
                plugin: plugin.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        text
    }
}

/// Subscription lag, read from the event bus when scraped.
#[derive(Default)]
struct EventLag {
    source: OnceLock<LagSource>,
}

impl std::fmt::Debug for EventLag {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("EventLag").finish_non_exhaustive()
    }
}

impl Collector for EventLag {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(source) = self.source.get() else {
            return Ok(());
        };
        let lags = source();
        if lags.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "event_subscription_lag",
            "Events in the log after a subscribing plugin's cursor",
            None,
            ConstGauge::new(0u64).metric_type(),
        )?;
        for (plugin, lag) in &lags {
            ConstGauge::new(*lag).encode(metric.encode_family(&[("plugin", plugin.as_str())])?)?;
        }
        Ok(())
    }
}

/// Per-plugin quota usage, read from [`Quotas`] when scraped.
#[derive(Debug, Default)]
struct QuotaUsage {
    quotas: OnceLock<Arc<Quotas>>,
}

/// One metric of [`QuotaUsage`]: name (prefix and `_total` added by the
/// encoder), help, and its value in a plugin's usage.
struct UsageCounter {
    name: &'static str,
    help: &'static str,
    value: fn(&Usage) -> u64,
}

const USAGE_COUNTERS: [UsageCounter; 3] = [
    UsageCounter {
        name: "plugin_storage_operations",
        help: "Storage operations admitted, by plugin (a batch counts its operations)",
        value: |usage| usage.storage_operations,
    },
    UsageCounter {
        name: "plugin_events_published",
        help: "Event publishes admitted past the permission and quota checks, by plugin",
        value: |usage| usage.events_published,
    },
    UsageCounter {
        name: "plugin_outbound_calls",
        help: "Outbound HTTP calls admitted past the origin and quota checks, by plugin",
        value: |usage| usage.outbound_calls,
    },
];

impl Collector for QuotaUsage {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(quotas) = self.quotas.get() else {
            return Ok(());
        };
        let usage = quotas.all_usage();
        if usage.is_empty() {
            return Ok(());
        }

        let bytes = ConstGauge::new(0u64);
        let mut metric = encoder.encode_descriptor(
            "plugin_storage_bytes",
            "Bytes in the plugin's storage namespace (keys and values), once measured",
            None,
            bytes.metric_type(),
        )?;
        for (plugin, usage) in &usage {
            if let Some(bytes) = usage.storage_bytes {
                ConstGauge::new(bytes)
                    .encode(metric.encode_family(&[("plugin", plugin.as_str())])?)?;
            }
        }

        for counter in &USAGE_COUNTERS {
            let mut metric = encoder.encode_descriptor(
                counter.name,
                counter.help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (plugin, usage) in &usage {
                ConstCounter::new((counter.value)(usage))
                    .encode(metric.encode_family(&[("plugin", plugin.as_str())])?)?;
            }
        }

        let mut metric = encoder.encode_descriptor(
            "plugin_quota_refusals",
            "Calls refused by a quota, by plugin and quota (kind: storage-bytes, \
             storage-ops-per-second, events-per-second, outbound-per-minute)",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for (plugin, usage) in &usage {
            for kind in QuotaKind::ALL {
                let labels = [("plugin", plugin.as_str()), ("kind", kind.as_str())];
                ConstCounter::new(usage.refusals.get(kind))
                    .encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::QuotaLimits;

    #[test]
    fn quota_usage_is_exported_per_plugin() {
        let metrics = Metrics::new();
        assert!(!metrics.encode().contains("tessera_plugin_storage"));
        let quotas = Arc::new(Quotas::new());
        metrics.export_quotas(quotas.clone());
        quotas.set_limits(
            "acme.blog",
            QuotaLimits {
                events_per_second: Some(1),
                ..QuotaLimits::default()
            },
        );
        quotas.check_event_publish("acme.blog").unwrap();
        quotas.check_event_publish("acme.blog").unwrap_err();
        quotas.check_storage_ops("acme.blog", 3).unwrap();
        quotas.check_outbound("acme.blog").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::SledStorage::open(dir.path()).unwrap();
        let namespace = crate::storage::Storage::namespace(&storage, "plugin/acme.blog").unwrap();
        namespace.set(b"key", b"value").unwrap();
        quotas
            .measure_storage("acme.blog", namespace.as_ref())
            .unwrap();

        let text = metrics.encode();
        for line in [
            "# TYPE tessera_plugin_storage_bytes gauge",
            "tessera_plugin_storage_bytes{plugin=\"acme.blog\"} 8",
            "# TYPE tessera_plugin_storage_operations counter",
            "tessera_plugin_storage_operations_total{plugin=\"acme.blog\"} 3",
            "tessera_plugin_events_published_total{plugin=\"acme.blog\"} 1",
            "tessera_plugin_outbound_calls_total{plugin=\"acme.blog\"} 1",
            "tessera_plugin_quota_refusals_total{plugin=\"acme.blog\",kind=\"events-per-second\"} 1",
            "tessera_plugin_quota_refusals_total{plugin=\"acme.blog\",kind=\"storage-bytes\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn existing_metrics_are_unchanged() {
        let metrics = Metrics::new();
        metrics.record_request("hello", "GET", 200, Duration::from_millis(1));
        metrics.record_plugin_failure("acme.blog", "trap");
        let text = metrics.encode();
        assert!(text.contains(
            "tessera_http_requests_total{route=\"hello\",method=\"GET\",status=\"200\"} 1"
        ));
        assert!(
            text.contains("tessera_plugin_failures_total{plugin=\"acme.blog\",kind=\"trap\"} 1")
        );
        assert!(text.contains("tessera_http_request_duration_seconds_count{route=\"hello\"} 1"));
    }
}
