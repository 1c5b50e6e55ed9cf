//! Prometheus metrics shared by ingest and workers (`GET /metrics`, text format).
//! One registry per process; `inlet serve` shares it between its ingest and worker. Beside
//! Inlet's own (`inlet_…`, with `inlet_build_info`) come the standard process metrics
//! (`process_…`, unprefixed as every Prometheus client names them).

mod process;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Label pairs of a metric.
pub type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric Inlet exposes.
pub struct Metrics {
    registry: Registry,
    /// The process metrics, outside the `inlet_` prefix.
    process: Registry,
    /// Webhook deliveries received, by provider.
    pub received: Family<Labels, Counter>,
    /// Deliveries durably enqueued (answered 202), by provider.
    pub accepted: Family<Labels, Counter>,
    /// Deliveries answered 2xx but not enqueued (unsupported, disabled, other table).
    pub ignored: Family<Labels, Counter>,
    /// Deliveries refused, by reason.
    pub rejected: Family<Labels, Counter>,
    /// Time to answer a webhook delivery.
    pub ingest_latency: Histogram,
    /// Deliveries a worker finished, by outcome (processed, ignored, duplicate).
    pub processed: Family<Labels, Counter>,
    /// Batches of deliveries a worker applied, by path: `set` (the batch's reads and
    /// appends as set statements), `savepoints` (redone with a savepoint per delivery after
    /// the set path failed), `single` (redone one delivery at a time).
    pub batches: Family<Labels, Counter>,
    /// Deliveries a worker took into one transaction (lone deliveries included): shows
    /// whether batches fill up to `INLET_WORKER_BATCH`.
    pub batch_size: Histogram,
    /// Deliveries scheduled for another attempt.
    pub retried: Counter,
    /// Deliveries sent to the dead letters.
    pub dead_lettered: Counter,
    /// Time a worker spends applying one delivery.
    pub apply_latency: Histogram,
    /// From receipt at ingest to effects committed.
    pub end_to_end_latency: Histogram,
    /// Messages waiting in the work queue (read when scraped, at most once a second).
    pub queue_depth: Gauge,
    /// Dead letters not yet replayed (read when scraped, at most once a second).
    pub dead_letters: Gauge,
    /// Webhook log entries not written (capped rejections, full buffer).
    pub log_dropped: Gauge,
    /// Workflow emails, by outcome (sent, retried, failed, skipped).
    pub emails: Family<Labels, Counter>,
    /// Paces the reads behind `queue_depth` and `dead_letters`.
    pub scrape: RefreshGate,
    /// What retention manages, per table (read by the pruner after each run).
    pub retention: RetentionMetrics,
}

/// The sizes of the tables retention manages and the pruner's last run.
#[derive(Default)]
pub struct RetentionMetrics {
    /// Rows per table (PostgreSQL's estimate there).
    pub rows: Family<Labels, Gauge>,
    /// Bytes on disk per table, indexes included.
    pub bytes: Family<Labels, Gauge>,
    /// Age of each table's oldest row, in seconds.
    pub oldest_age: Family<Labels, Gauge>,
    /// Rows removed, per table.
    pub pruned: Family<Labels, Counter>,
    /// When the last prune finished (Unix seconds).
    pub last_prune: Gauge,
    /// How long the last prune took.
    pub last_duration: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("inlet");
        let m = Self {
            received: Family::default(),
            accepted: Family::default(),
            ignored: Family::default(),
            rejected: Family::default(),
            ingest_latency: latency_histogram(),
            processed: Family::default(),
            batches: Family::default(),
            // 1, 2, 4 … 512.
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            retried: Counter::default(),
            dead_lettered: Counter::default(),
            apply_latency: latency_histogram(),
            end_to_end_latency: latency_histogram(),
            queue_depth: Gauge::default(),
            dead_letters: Gauge::default(),
            log_dropped: Gauge::default(),
            emails: Family::default(),
            scrape: RefreshGate::new(SCRAPE_REFRESH),
            retention: RetentionMetrics::default(),
            registry: Registry::default(),
            process: Registry::default(),
        };
        registry.register("build", "The running build", Info::new(build_labels()));
        registry.register("emails", "Workflow emails, by outcome", m.emails.clone());
        registry.register(
            "webhooks_received",
            "Webhook deliveries received",
            m.received.clone(),
        );
        registry.register(
            "worker_batches",
            "Batches of deliveries applied, by path (set, savepoints, single)",
            m.batches.clone(),
        );
        registry.register(
            "worker_batch_size",
            "Deliveries taken into one transaction",
            m.batch_size.clone(),
        );
        registry.register(
            "webhooks_accepted",
            "Deliveries durably enqueued (202)",
            m.accepted.clone(),
        );
        registry.register(
            "webhooks_ignored",
            "Deliveries answered 2xx without processing",
            m.ignored.clone(),
        );
        registry.register(
            "webhooks_rejected",
            "Deliveries refused, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "ingest_latency_seconds",
            "Time to answer a delivery",
            m.ingest_latency.clone(),
        );
        registry.register(
            "deliveries_processed",
            "Deliveries a worker finished, by outcome",
            m.processed.clone(),
        );
        registry.register(
            "deliveries_retried",
            "Deliveries scheduled for another attempt",
            m.retried.clone(),
        );
        registry.register(
            "deliveries_dead_lettered",
            "Deliveries sent to the dead letters",
            m.dead_lettered.clone(),
        );
        registry.register(
            "apply_latency_seconds",
            "Time to apply one delivery",
            m.apply_latency.clone(),
        );
        registry.register(
            "end_to_end_latency_seconds",
            "From receipt to effects committed",
            m.end_to_end_latency.clone(),
        );
        registry.register(
            "queue_depth",
            "Messages waiting in the work queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "dead_letters",
            "Dead letters not yet replayed",
            m.dead_letters.clone(),
        );
        registry.register(
            "webhook_log_dropped",
            "Webhook log entries not written",
            m.log_dropped.clone(),
        );
        let r = &m.retention;
        registry.register(
            "table_rows",
            "Rows per table retention manages",
            r.rows.clone(),
        );
        registry.register(
            "table_bytes",
            "Bytes on disk per table retention manages, indexes included",
            r.bytes.clone(),
        );
        registry.register(
            "table_oldest_row_age_seconds",
            "Age of the oldest row per table retention manages",
            r.oldest_age.clone(),
        );
        registry.register("pruned_rows", "Rows removed by retention", r.pruned.clone());
        registry.register(
            "prune_last_run_timestamp_seconds",
            "When the last prune finished",
            r.last_prune.clone(),
        );
        registry.register(
            "prune_last_duration_seconds",
            "How long the last prune took",
            r.last_duration.clone(),
        );
        let mut process = Registry::default();
        process.register_collector(Box::new(process::ProcessCollector));
        Arc::new(Self {
            registry,
            process,
            ..m
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.process))
            .and_then(|()| encode_eof(&mut out));
        if encoded.is_err() {
            out.clear();
        }
        out
    }
}

/// The labels of `inlet_build_info`: the version, and the commit when the build was given
/// one (`INLET_GIT_COMMIT` in the compiler's environment, as the image build can pass it;
/// no build script asks git, which a source tarball has not).
fn build_labels() -> Labels {
    let mut labels = label("version", env!("CARGO_PKG_VERSION"));
    if let Some(commit) = option_env!("INLET_GIT_COMMIT").filter(|c| !c.is_empty()) {
        labels.push(("commit", commit.to_owned()));
    }
    labels
}

/// How long the gauges read when scraped (queue depth, dead letters) are answered from the
/// last read.
pub const SCRAPE_REFRESH: Duration = Duration::from_secs(1);

/// Lets a costly read run at most once per period, however often and however many at once
/// ask: each scrape would otherwise count the queue and the dead letters, so anyone able to
/// reach `/metrics` could load the database at will.
pub struct RefreshGate {
    period: Duration,
    /// When the last read started; held across the read, so concurrent scrapes wait for
    /// the read in flight instead of starting their own.
    last: tokio::sync::Mutex<Option<Instant>>,
    refreshes: AtomicU64,
}

impl RefreshGate {
    /// A gate letting one read through per `period`.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            last: tokio::sync::Mutex::new(None),
            refreshes: AtomicU64::new(0),
        }
    }

    /// Runs `read` unless one started less than a period before `now`; true when it ran.
    pub async fn refresh<F, Fut>(&self, now: Instant, read: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut last = self.last.lock().await;
        if last.is_some_and(|at| now.saturating_duration_since(at) < self.period) {
            return false;
        }
        *last = Some(now);
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        read().await;
        true
    }

    /// How many reads have run.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }
}

/// One label.
pub fn label(name: &'static str, value: impl Into<String>) -> Labels {
    vec![(name, value.into())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_text_format() {
        let m = Metrics::new();
        m.rejected.get_or_create(&label("reason", "no_match")).inc();
        m.accepted
            .get_or_create(&label("provider", "stripe"))
            .inc_by(3);
        m.ingest_latency.observe(0.002);
        let text = m.render();
        assert!(
            text.contains("inlet_webhooks_rejected_total{reason=\"no_match\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("inlet_webhooks_accepted_total{provider=\"stripe\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("inlet_ingest_latency_seconds_count 1"),
            "{text}"
        );
    }

    #[test]
    fn build_and_process_metrics_share_one_exposition() {
        let text = Metrics::new().render();
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!("inlet_build_info{{version=\"{version}\"")),
            "{text}"
        );
        #[cfg(target_os = "linux")]
        for name in [
            "\nprocess_cpu_seconds_total ",
            "\nprocess_resident_memory_bytes ",
            "\nprocess_open_fds ",
            "\nprocess_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name}: {text}");
        }
        // One end, after both registries.
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn the_gate_lets_one_read_through_per_period() {
        let gate = RefreshGate::new(Duration::from_secs(1));
        let reads = AtomicU64::new(0);
        let read = || async {
            reads.fetch_add(1, Ordering::Relaxed);
        };
        let start = Instant::now();
        assert!(gate.refresh(start, read).await, "the first read runs");
        for ms in [0, 1, 500, 999] {
            let at = start + Duration::from_millis(ms);
            assert!(!gate.refresh(at, read).await, "{ms} ms later: cached");
        }
        // A clock that went backwards (a waiter that read it before the lock) is cached too.
        assert!(!gate.refresh(start - Duration::from_millis(5), read).await);
        assert!(gate.refresh(start + Duration::from_secs(1), read).await);
        assert!(
            !gate
                .refresh(start + Duration::from_millis(1999), read)
                .await
        );
        assert!(gate.refresh(start + Duration::from_secs(5), read).await);
        assert_eq!(reads.load(Ordering::Relaxed), 3);
        assert_eq!(gate.refreshes(), 3);
    }

    #[tokio::test]
    async fn concurrent_scrapes_share_the_read_in_flight() {
        let gate = RefreshGate::new(Duration::from_secs(1));
        let reads = AtomicU64::new(0);
        let now = Instant::now();
        let scrapes = (0..50).map(|_| {
            gate.refresh(now, || async {
                reads.fetch_add(1, Ordering::Relaxed);
                // A slow database: the other scrapes arrive while this read runs.
                tokio::time::sleep(Duration::from_millis(20)).await;
            })
        });
        let ran = futures_util::future::join_all(scrapes).await;
        assert_eq!(ran.iter().filter(|r| **r).count(), 1);
        assert_eq!(reads.load(Ordering::Relaxed), 1);
    }
}
