//! The step consumer (RabbitMQ): runs the steps that any worker's scheduler queued.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{CONCURRENCY, Runner};

/// Consumes `inlet.workflows`: executes each step, then acknowledges it (the outcome is in
/// the database either way; a step whose database write failed is re-queued by a
/// scheduler when its lease expires).
pub(super) async fn consume(
    runner: Arc<Runner>,
    rabbit: Arc<inlet_shared::queue::rabbitmq::RabbitQueue>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    let mut failures: u32 = 0;
    let mut stopping = None;
    'connect: while !shutdown.is_cancelled() {
        let mut consumer = tokio::select! {
            () = shutdown.cancelled() => break,
            c = rabbit.consume_jobs(u16::try_from(CONCURRENCY).unwrap_or(8)) => match c {
                Ok(c) => { failures = 0; c }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = Duration::from_millis(250u64.saturating_mul(1 << failures.min(5)));
                    tracing::warn!(error = %e, "Cannot consume workflow steps; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => continue,
                    }
                }
            },
        };
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                () = shutdown.cancelled() => { stopping = Some(consumer); break 'connect }
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break 'connect },
            };
            let next = tokio::select! {
                () = shutdown.cancelled() => { stopping = Some(consumer); break 'connect }
                next = consumer.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
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
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Workflow step consumer failed; reconnecting.");
                    continue 'connect;
                }
                None => continue 'connect,
            }
        }
    }
    // Acknowledge in-flight steps before the channel closes.
    while tasks.join_next().await.is_some() {}
    if let Some(consumer) = stopping {
        consumer.close().await;
    }
}
