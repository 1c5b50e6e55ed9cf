//! Inlet's worker: consumes deliveries, applies their effects exactly once (the processed
//! delivery row commits with the effects; the message is acked after that commit), retries
//! transient failures after a delay and dead-letters permanent ones.

// The crate's API is the worker, the handler and the workflow runner; the rest is its own.
mod consume;
mod contacts;
mod dead_letters;
mod error;
mod handler;
pub mod pruner;
#[cfg(test)]
mod test_support;
mod unit;
pub mod workflows;

use std::sync::Arc;
use std::time::Duration;

use inlet_shared::config::Config;
use inlet_shared::integrations::IntegrationCache;
use inlet_shared::isolate::isolate;
use inlet_shared::metrics::Metrics;
use inlet_shared::queue::{Consumer, Delivery, Queue, RetryPolicy};
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use handler::Handler;

/// How long a busy worker waits to fill a batch.
const BATCH_LINGER: Duration = Duration::from_millis(5);

/// Adds what has already arrived to `batch`, up to `max` deliveries.
fn fill(batch: &mut Vec<Delivery>, consumer: &mut Consumer, max: usize) {
    while batch.len() < max {
        match consumer.try_next() {
            Some(more) => batch.push(more),
            None => break,
        }
    }
}

/// How long shutdown waits for in-flight deliveries before leaving them to redelivery.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How a worker consumes: its share of the configuration.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Transactions run at once (`INLET_WORKER_CONCURRENCY`; at least one).
    pub concurrency: usize,
    /// Unacknowledged messages held (`INLET_PREFETCH`).
    pub prefetch: u16,
    /// Most deliveries applied in one transaction (`INLET_WORKER_BATCH`; at least one).
    /// Batches form only from deliveries already received, so a lone delivery never waits
    /// for company.
    pub batch: usize,
    /// When failed deliveries are tried again, and when they are dead-lettered.
    pub retry: RetryPolicy,
}

impl WorkerSettings {
    /// The configured settings.
    pub fn from_config(config: &Config) -> Self {
        Self {
            concurrency: config.worker_concurrency,
            prefetch: config.prefetch,
            batch: config.worker_batch,
            retry: RetryPolicy::from_config(config),
        }
    }
}

/// A worker: a consumer loop feeding a bounded set of concurrent handlers, plus (with
/// RabbitMQ) the archiver that stores dead letters in the database.
pub struct Worker {
    queue: Queue,
    db: DatabaseConnection,
    handler: Arc<Handler>,
    concurrency: usize,
    prefetch: u16,
    batch: usize,
}

impl Worker {
    /// A worker consuming `queue` into `db`, reading integrations from `cache`.
    pub fn new(
        db: DatabaseConnection,
        queue: Queue,
        cache: IntegrationCache,
        metrics: Arc<Metrics>,
        settings: WorkerSettings,
    ) -> Self {
        let WorkerSettings {
            concurrency,
            prefetch,
            batch,
            retry,
        } = settings;
        Self {
            queue,
            handler: Arc::new(Handler::new(db.clone(), cache, metrics, retry)),
            db,
            concurrency: concurrency.max(1),
            prefetch,
            batch: batch.max(1),
        }
    }

    /// Consumes until `shutdown`: then takes no new message, lets in-flight ones finish
    /// (or, past a timeout, leaves them unacked for redelivery) and returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) {
        let archiver = tokio::spawn(dead_letters::archive(
            self.queue.clone(),
            self.db.clone(),
            shutdown.clone(),
        ));
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let (worker, shutdown, permits) = (&self, &shutdown, &permits);
        // The consumer comes back open so in-flight deliveries can still be acked; it is
        // closed after them.
        let (mut tasks, stopping) = consume::run(
            shutdown,
            "deliveries",
            JoinSet::new(),
            || async move { worker.queue.consume(worker.prefetch).await.map(Some) },
            |mut tasks, mut consumer: Consumer| async move {
                tracing::info!(
                    concurrency = worker.concurrency,
                    batch = worker.batch,
                    prefetch = worker.prefetch,
                    "Worker consuming."
                );
                loop {
                    while tasks.try_join_next().is_some() {}
                    let (delivery, permit) =
                        match consume::take(shutdown, permits, consumer.next()).await {
                            Ok(taken) => taken,
                            Err(stop) => return (tasks, stop.served(consumer)),
                        };
                    // Whatever else has already arrived joins it in one transaction.
                    let mut batch = vec![delivery];
                    fill(&mut batch, &mut consumer, worker.batch);
                    if batch.len() < worker.batch && !tasks.is_empty() && consumer.is_pushed() {
                        // Other batches are in flight, so the database is busy anyway: a
                        // moment's wait lets more of a backlog arrive from the broker and be
                        // applied in one transaction (one commit) instead of many small ones.
                        // An idle worker starts at once.
                        tokio::time::sleep(BATCH_LINGER).await;
                        fill(&mut batch, &mut consumer, worker.batch);
                    }
                    let handler = worker.handler.clone();
                    tasks.spawn(async move {
                        // Deliveries are isolated inside; a panic escaping that (in an ack,
                        // say) drops the batch's deliveries, which gives them back.
                        if let Err(panic) = isolate(handler.handle_batch(batch)).await {
                            tracing::error!(location = %panic.location, "A batch's task panicked; its deliveries go back to the queue.");
                        }
                        drop(permit);
                    });
                }
            },
        )
        .await;
        tracing::info!(
            in_flight = tasks.len(),
            "Worker stopping; finishing in-flight deliveries."
        );
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            tracing::warn!(
                "In-flight deliveries did not finish in time; they will be redelivered."
            );
        }
        if let Some(consumer) = stopping {
            consumer.close().await;
        }
        let _ = archiver.await;
        tracing::info!("Worker stopped.");
    }
}

#[cfg(test)]
mod settings_tests {
    use std::time::Duration;

    use inlet_shared::config::Config;
    use inlet_shared::email::RenderLimits;
    use inlet_shared::queue::RetryPolicy;

    use crate::WorkerSettings;
    use crate::workflows::RunnerSettings;

    #[test]
    fn worker_and_runner_settings_come_from_their_variables() {
        let vars = [
            ("INLET_WORKER_CONCURRENCY", "3"),
            ("INLET_PREFETCH", "7"),
            ("INLET_WORKER_BATCH", "5"),
            ("INLET_RETRY_DELAYS_MS", "20,40"),
            ("INLET_MAX_ATTEMPTS", "2"),
            ("INLET_TEMPLATE_MAX_BYTES", "1000"),
            ("INLET_PUBLIC_URL", "https://inlet.test"),
        ];
        let config = Config::from_vars(vars.map(|(k, v)| (k.to_owned(), v.to_owned()))).unwrap();
        let retry = RetryPolicy {
            delays: vec![Duration::from_millis(20), Duration::from_millis(40)],
            max_attempts: 2,
        };
        let worker = WorkerSettings::from_config(&config);
        assert_eq!(
            (worker.concurrency, worker.prefetch, worker.batch),
            (3, 7, 5)
        );
        assert_eq!(worker.retry, retry);
        let from: inlet_shared::email::Mailbox = "Acme <hello@acme.test>".parse().unwrap();
        let runner = RunnerSettings::from_config(&config, from.clone());
        assert_eq!(runner.public_url, "https://inlet.test");
        assert_eq!(runner.from, from);
        assert_eq!(runner.retry, retry);
        assert_eq!(runner.render_limits, RenderLimits::new(1000));
    }
}
