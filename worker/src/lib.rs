//! Inlet's worker: consumes deliveries, applies their effects exactly once (the processed
//! delivery row commits with the effects; the message is acked after that commit), retries
//! transient failures after a delay and dead-letters permanent ones.

pub mod bulk;
pub mod contacts;
pub mod dead_letters;
pub mod error;
pub mod handler;
pub mod unit;
pub mod workflows;

use std::sync::Arc;
use std::time::Duration;

use inlet_shared::integrations::IntegrationCache;
use inlet_shared::isolate::isolate;
use inlet_shared::metrics::Metrics;
use inlet_shared::queue::{Consumer, Delivery, Queue, RetryPolicy};
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use handler::Handler;

/// Most deliveries applied in one transaction unless set otherwise (`INLET_WORKER_BATCH`).
/// Batches form only from deliveries already received, so a lone delivery never waits for
/// company.
pub const DEFAULT_BATCH: usize = 128;
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
    /// Builds a worker.
    pub fn new(
        db: DatabaseConnection,
        queue: Queue,
        cache: IntegrationCache,
        concurrency: usize,
        prefetch: u16,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            queue,
            handler: Arc::new(Handler::new(db.clone(), cache, retry, metrics)),
            db,
            concurrency: concurrency.max(1),
            prefetch,
            batch: DEFAULT_BATCH,
        }
    }

    /// Applies up to `max` deliveries in one transaction (at least one).
    #[must_use]
    pub fn with_batch(mut self, max: usize) -> Self {
        self.batch = max.max(1);
        self
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
        let mut tasks = JoinSet::new();
        let mut failures: u32 = 0;
        // Kept open until in-flight deliveries are acked, then closed.
        let mut stopping = None;
        'connect: while !shutdown.is_cancelled() {
            let mut consumer = tokio::select! {
                () = shutdown.cancelled() => break,
                consumer = self.queue.consume(self.prefetch) => match consumer {
                    Ok(c) => { failures = 0; c }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        let delay = Duration::from_millis(250u64.saturating_mul(1 << failures.min(5)));
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Cannot consume; retrying.");
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = tokio::time::sleep(delay) => continue,
                        }
                    }
                },
            };
            tracing::info!(
                concurrency = self.concurrency,
                batch = self.batch,
                prefetch = self.prefetch,
                "Worker consuming."
            );
            loop {
                while tasks.try_join_next().is_some() {}
                let permit = tokio::select! {
                    () = shutdown.cancelled() => { stopping = Some(consumer); break 'connect }
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => break 'connect,
                    },
                };
                let next = tokio::select! {
                    () = shutdown.cancelled() => { stopping = Some(consumer); break 'connect }
                    next = consumer.next() => next,
                };
                match next {
                    Some(Ok(delivery)) => {
                        // Whatever else has already arrived joins it in one transaction.
                        let mut batch = vec![delivery];
                        fill(&mut batch, &mut consumer, self.batch);
                        if batch.len() < self.batch && !tasks.is_empty() && consumer.is_pushed() {
                            // Other batches are in flight, so the database is busy anyway:
                            // a moment's wait lets more of a backlog arrive from the broker
                            // and be applied in one transaction (one commit) instead of many
                            // small ones. An idle worker starts at once.
                            tokio::time::sleep(BATCH_LINGER).await;
                            fill(&mut batch, &mut consumer, self.batch);
                        }
                        let handler = self.handler.clone();
                        tasks.spawn(async move {
                            // Deliveries are isolated inside; a panic escaping that (in an
                            // ack, say) drops the batch's deliveries, which gives them back.
                            if let Err(panic) = isolate(handler.handle_batch(batch)).await {
                                tracing::error!(location = %panic.location, "A batch's task panicked; its deliveries go back to the queue.");
                            }
                            drop(permit);
                        });
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "Consumer failed; reconnecting.");
                        continue 'connect;
                    }
                    None => {
                        tracing::warn!("Consumer cancelled by the broker; reconnecting.");
                        continue 'connect;
                    }
                }
            }
        }
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
