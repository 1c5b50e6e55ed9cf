//! The step consumer (RabbitMQ): runs the steps that any worker's scheduler queued.

use std::sync::Arc;

use inlet_shared::queue::rabbitmq::JobConsumer;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{CONCURRENCY, Runner};
use crate::consume;

/// Consumes `inlet.workflows`: executes each step, then acknowledges it (the outcome is in
/// the database either way; a step whose database write failed is re-queued by a
/// scheduler when its lease expires).
pub(super) async fn consume(
    runner: Arc<Runner>,
    rabbit: Arc<inlet_shared::queue::rabbitmq::RabbitQueue>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let (runner, rabbit, shutdown, permits) = (&runner, &rabbit, &shutdown, &permits);
    let (mut tasks, stopping) = consume::run(
        shutdown,
        "workflow steps",
        JoinSet::new(),
        || async move {
            rabbit
                .consume_jobs(u16::try_from(CONCURRENCY).unwrap_or(8))
                .await
                .map(Some)
        },
        |mut tasks, mut consumer: JobConsumer| async move {
            loop {
                while tasks.try_join_next().is_some() {}
                let (delivery, permit) =
                    match consume::take(shutdown, permits, consumer.next()).await {
                        Ok(taken) => taken,
                        Err(stop) => return (tasks, stop.served(consumer)),
                    };
                let runner = runner.clone();
                tasks.spawn(async move {
                    if let Err(e) = runner.execute(&delivery.job).await {
                        tracing::warn!(error = %e, run = %delivery.job.run_id, "Workflow step failed on the database; its lease will expire and it runs again.");
                    }
                    if let Err(e) = delivery.ack().await {
                        tracing::debug!(error = %e, "Could not acknowledge a workflow step; it comes again and is skipped.");
                    }
                    drop(permit);
                });
            }
        },
    )
    .await;
    // Acknowledge in-flight steps before the channel closes.
    while tasks.join_next().await.is_some() {}
    if let Some(consumer) = stopping {
        consumer.close().await;
    }
}
